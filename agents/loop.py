"""The training loop of the original release, independent of the agent and of the tracker.

Collect episodes with exploration, store each one on disk, train every ``train_every``
environment steps once ``prefill`` steps exist, play a noise-free evaluation episode every
``eval_every`` steps. Metrics go through a ``log(name, value, step)`` callable, at the
environment step they belong to, so the same loop runs under Sacred or in a test.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agents.base import Agent
from envs.episodes import ReplaySampler, load_episodes, save_episode

LogFn = Callable[[str, float, int], None]


class DeliberateFailure(RuntimeError):
    """Raised when the config's ``fail_at_step`` is reached, to exercise failure handling."""


def play_episode(env, agent: Agent, training: bool, on_step: Callable[[int], None] | None = None):
    """One episode; returns its arrays (Dreamer's alignment) and a summary.

    ``on_step(env_steps)`` is called after every agent decision with the environment steps
    it took, so training can interleave with collection as in the original.
    """
    observation, info = env.reset()
    agent.reset()
    action_dim = env.action_space.shape[0]
    images, actions, rewards, successes = [observation["image"]], [np.zeros(action_dim, np.float32)], [0.0], [False]
    done, env_steps = False, 0
    while not done:
        action = agent.act(observation, training)
        observation, reward, terminated, truncated, info = env.step(action)
        done = terminated or truncated
        images.append(observation["image"])
        actions.append(np.asarray(action, np.float32))
        rewards.append(float(reward))
        successes.append(bool(info.get("success", False)))
        env_steps += info.get("env_steps", 1)
        if on_step is not None:
            on_step(info.get("env_steps", 1))
    episode = {
        "image": np.stack(images),
        "action": np.stack(actions),
        "reward": np.asarray(rewards, np.float32),
        "success": np.asarray(successes, bool),
    }
    summary = {
        "return": float(np.sum(rewards)),
        # Episode success = any success in the episode (protocol.md 3.5).
        "success": float(np.any(successes)),
        "length": float(len(actions) - 1),
        "env_steps": env_steps,
    }
    if "choice" in info:
        for choice in ("safe", "risky", "none"):
            summary[f"choose_{choice}"] = float(info["choice"] == choice)
    return episode, summary


def train_and_evaluate(
    config: Mapping[str, Any],
    agent: Agent,
    train_env,
    eval_env,
    run_dir: Path,
    log: LogFn,
) -> dict[str, float]:
    """Run the whole schedule of one run; return the final summary (stored as the result)."""
    episode_dir = Path(run_dir) / "episodes"
    replay = ReplaySampler(load_episodes(config["offline_dir"]), config["batch_length"], config["seed"])
    step, last_train, trained_once, next_eval = 0, 0, False, 0
    last_summary: dict[str, float] = {}
    episode_index = 0

    def after_decision(env_steps: int) -> None:
        nonlocal step, last_train, trained_once
        step += env_steps
        if 0 <= config["fail_at_step"] <= step:
            raise DeliberateFailure(
                f"fail_at_step={config['fail_at_step']} reached at step {step} (requested by config)"
            )
        if step >= config["prefill"] and step - last_train >= config["train_every"] and replay.episodes:
            updates = config["train_steps"] + (0 if trained_once else config["pretrain"])
            for name, value in agent.train(replay, updates).items():
                log(f"train/{name}", value, step)
            trained_once, last_train = True, step

    while step < config["steps"]:
        episode, summary = play_episode(train_env, agent, training=True, on_step=after_decision)
        save_episode(episode_dir, episode, episode_index)
        replay.add(episode)
        episode_index += 1
        for name, value in summary.items():
            if name != "env_steps":
                log(f"train/{name}", value, step)
        for name, value in agent.diagnostics().items():
            log(f"plan/{name}", value, step)
        last_summary = {f"train/{k}": v for k, v in summary.items() if k != "env_steps"}
        if step >= next_eval:
            last_summary.update(evaluate(config, agent, eval_env, step, log))
            next_eval = step + config["eval_every"]
    last_summary["steps"] = float(step)
    return last_summary


def evaluate(config: Mapping[str, Any], agent: Agent, env, step: int, log: LogFn) -> dict[str, float]:
    """Noise-free episodes; the mean of each summary value is logged as ``eval/<name>``."""
    summaries = [play_episode(env, agent, training=False)[1] for _ in range(config["eval_episodes"])]
    means = {}
    for name in summaries[0]:
        if name == "env_steps":
            continue
        means[f"eval/{name}"] = float(np.mean([s[name] for s in summaries]))
        log(f"eval/{name}", means[f"eval/{name}"], step)
    return means
