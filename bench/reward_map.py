"""Where does a trained pointmass model think the reward is? A map over the arena, per seed.

    .venv/bin/python -m bench.reward_map --results R --suite learn --task pm_reach --method latco --seeds 0 1 2
    .venv/bin/python -m bench.reward_map --results R --suite lottery_mini --task pm_lottery --method platco

On the pointmass tasks an action is a target position, so "aim at p for the next H steps" is
a plan a planner can choose. For each p of a grid over the arena this plays that constant
plan in the real environment from a start state of the task's start distribution, filters
the observed images through the run's world model (posterior means) and sums the reward
head's predictions over the H steps: the return the model promises for aiming at p, shown
as a heat map beside the return the environment paid. The dots are the actions of the run's
last training episodes: the positions the agent aimed at. Dots where the model promises
reward but the environment pays none: the planner exploits model error. Dots away from a
promise the environment keeps: the planner fails to find what the model knows. A flat or
misplaced map: the reward head has not learned yet. A table printed beside the figure gives,
per seed and goal, the mean promised return of aiming inside the goal's disc and what the
arena paid there: on the lottery, whether each model prefers the safe goal.
The model is the run's last checkpoint (for a completed run, its final one). Trailing
``key=value`` arguments select the run's config as ``run`` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.run_selection import add_run_selection, selected_runs  # noqa: E402
from benchmark.errors import SuiteError  # noqa: E402
from benchmark.evaluation import load_trained_agent  # noqa: E402

LAST_EPISODES = 10


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_selection(parser, seeds=[0, 1, 2])
    parser.add_argument("--grid", type=int, default=21, help="grid points per axis (default 21)")
    parser.add_argument("--horizon", type=int, default=None, help="steps per plan (default: the task's planning_horizon)")
    parser.add_argument("--out", type=Path, help="figure path (default: results/report/reward_map_<task>_<method>.png)")
    return parser.parse_known_args(argv)


def grid_points(n: int) -> np.ndarray:
    """[n * n, 2] target positions covering the arena [-1, 1]^2, x fastest."""
    axis = np.linspace(-1.0, 1.0, n)
    return np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2).astype(np.float32)


def play_constant_plans(config: dict, targets: np.ndarray, horizon: int) -> dict[str, np.ndarray]:
    """Images [N, H + 1, ...], actions [N, H + 1, 2] (the first: none) and rewards [N, H + 1] of
    aiming at each target for ``horizon`` steps; the start of plan i is drawn with seed i."""
    from envs.isolated import IsolatedEnv  # MuJoCo renders in its own process, away from TF

    env = IsolatedEnv(config, seed=0)
    images, rewards = [], []
    try:
        for index, target in enumerate(tqdm(targets, desc="constant plans", unit="plan")):
            observation, _ = env.reset(seed=index)
            frames, paid = [observation["image"]], [0.0]
            for _ in range(horizon):
                observation, reward, *_ = env.step(target)
                frames.append(observation["image"])
                paid.append(float(reward))
            images.append(np.stack(frames))
            rewards.append(paid)
    finally:
        env.close()
    actions = np.repeat(targets[:, None], horizon + 1, axis=1)
    actions[:, 0] = 0.0
    return {"image": np.stack(images), "action": actions, "reward": np.asarray(rewards, np.float32)}


def predicted_returns(agent, plays: dict[str, np.ndarray], batch: int = 64) -> np.ndarray:
    """[N] sum over steps 1..H of the reward head's prediction on the filtered posterior means."""
    import tensorflow as tf

    from agents.networks import preprocess

    model = agent.model
    totals = []
    for start in range(0, len(plays["image"]), batch):
        images = tf.convert_to_tensor(plays["image"][start:start + batch])
        actions = tf.convert_to_tensor(plays["action"][start:start + batch])
        posts, _ = model.rssm.observe(model.encoder(preprocess(images)), actions, sample=False)
        predicted = model.reward_prediction(model.rssm.feature(posts))  # [B, H + 1]
        totals.append(tf.reduce_sum(predicted[:, 1:], 1).numpy())
    return np.concatenate(totals)


def episode_aims(run_dir: Path, last: int = LAST_EPISODES) -> tuple[np.ndarray, np.ndarray]:
    """Every executed action of the last training episodes, clipped ([N, 2]: on pointmass, the
    positions the agent aimed at), and their returns [K]."""
    from envs.episodes import load_episode

    files = sorted((run_dir / "episodes").glob("*.npz"))[-last:]
    aims, returns = [], []
    for path in files:
        episode = load_episode(path)
        if episode is None:  # unreadable: load_episode has said which file and why
            continue
        aims.append(np.clip(episode["action"][1:], -1.0, 1.0))
        returns.append(float(episode["reward"].sum()))
    return (np.concatenate(aims) if aims else np.zeros((0, 2))), np.asarray(returns)


def pointmass_goals(env_name: str) -> dict:
    """The task's goal discs by what they mean, without building the environment (its renderer
    must not share this process with TensorFlow)."""
    from envs.pointmass_lottery import RISKY, SAFE
    from envs.pointmass_reach import GOAL

    return {"reach": {"goal": GOAL}, "lottery": {"risky": RISKY, "safe": SAFE}}[env_name]


def mean_inside_goals(targets: np.ndarray, values: np.ndarray, goals: dict) -> dict[str, float]:
    """Per goal, the mean of ``values`` over the grid points inside its disc (NaN if the grid has
    none there): the number behind "does the model know which goal pays?", which a colour
    scale shared by all seeds can hide."""
    means = {}
    for label, goal in goals.items():
        inside = goal.contains(targets)
        means[label] = float(values[inside].mean()) if inside.any() else float("nan")
    return means


def print_goal_table(title: str, paid: dict[str, float], promised: list[tuple[str, dict[str, float]]]) -> None:
    table = Table(title=title)
    table.add_column("seed")
    for label in paid:
        table.add_column(f"{label}: promised")
    for label in paid:
        table.add_column(f"{label}: paid")
    for seed, means in promised:
        table.add_row(seed, *(f"{means[label]:+.2f}" for label in paid), *(f"{paid[label]:+.2f}" for label in paid))
    Console(width=160).print(table)


def draw(targets: np.ndarray, paid: np.ndarray, panels: list[tuple[str, np.ndarray, np.ndarray]], goals,
         horizon: int, title: str, out: Path) -> None:
    n = int(round(np.sqrt(len(targets))))
    figure, axes = plt.subplots(1, len(panels) + 1, figsize=(3.6 * (len(panels) + 1), 3.8), squeeze=False)
    # Each side on its own symmetric scale: a lottery's rare -10 would wash out the model's map.
    paid_limit = max(float(np.abs(paid).max()), 1e-6)
    model_limit = max(*(float(np.abs(p).max()) for _, p, _ in panels), 1e-6)
    shown = [("environment: paid return\n(one draw per point)", paid, None, paid_limit),
             *((label, values, aims, model_limit) for label, values, aims in panels)]
    images = []
    for axis, (label, values, aims, limit) in zip(axes[0], shown, strict=True):
        images.append(axis.imshow(values.reshape(n, n), origin="lower", extent=(-1, 1, -1, 1), cmap="RdBu_r",
                                  vmin=-limit, vmax=limit))
        for goal in goals.values():
            axis.add_patch(plt.Circle(goal.position, goal.radius, fill=False, color="black", lw=1.2))
        if aims is not None and len(aims):
            axis.scatter(aims[:, 0], aims[:, 1], marker=".", s=10, color="black", alpha=0.35, linewidths=0)
        axis.set_title(label, fontsize=8)
        axis.set_xticks([-1, 0, 1])
        axis.set_yticks([-1, 0, 1])
    figure.colorbar(images[0], ax=axes[0][0], shrink=0.7, location="left", label="paid")
    figure.colorbar(images[-1], ax=axes[0][1:].tolist(), shrink=0.8,
                    label=f"predicted return of aiming at (x, y) for {horizon} steps")
    figure.suptitle(title, fontsize=10)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120, bbox_inches="tight")
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    args, rest = parse_args(argv)
    try:
        specs = selected_runs(args, rest)
    except SuiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    config = specs[0].config
    if config["env_family"] != "pointmass":
        print(f"error: {args.task} is not a pointmass task (actions are target positions only there)", file=sys.stderr)
        return 2
    horizon = args.horizon or config["planning_horizon"]
    targets = grid_points(args.grid)
    plays = play_constant_plans(config, targets, horizon)
    paid = plays["reward"][:, 1:].sum(1)
    goals = pointmass_goals(config["env_name"])
    panels, promised = [], []
    for spec in specs:
        try:
            agent, run_dir, state = load_trained_agent(spec, args.results, action_size=2)
        except FileNotFoundError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        aims, returns = episode_aims(run_dir)
        label = f"seed {spec.seed}: model at step {state.step}"
        if len(returns):
            label += f"\ndots: its last {len(returns)} episodes' actions\n(mean return {returns.mean():.1f})"
        predicted = predicted_returns(agent, plays)
        panels.append((label, predicted, aims))
        promised.append((str(spec.seed), mean_inside_goals(targets, predicted, goals)))
    print_goal_table(f"{args.task} / {args.method}: return of aiming inside each goal for {horizon} steps, "
                     "mean over the grid points in its disc (nan: none)", mean_inside_goals(targets, paid, goals),
                     promised)
    out = args.out or args.results / "report" / f"reward_map_{args.task}_{args.method}.png"
    draw(targets, paid, panels, goals, horizon,
         f"{args.task} / {args.method} ({specs[0].profile}): return promised by the model vs paid", out)
    print(f"reward map written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
