"""Success rate of uniformly random actions on a task: how rare its reward is in a prefill.

    .venv/bin/python -m bench.random_success [--tasks pm_reach mw_button ..] [--episodes 1000] [key=value ...]

Plays episodes of the real task (rendering included, as the agent's prefill does) with
actions uniform in [-1, 1] and prints, per task, the fraction of episodes that succeed, with
a 95% interval, the fraction of steps that pay, and how many successful episodes a prefill of
that task's `mini` length holds on average. A sparse task whose prefill holds no success gives
the model no reward to learn from: this is how the claims suite's tasks were chosen.
``key=value`` overrides the task config (e.g. time_limit=40), for choosing a task's sizes.
"""

from __future__ import annotations

import argparse

import numpy as np

import envs
from benchmark.config import parse_cli_overrides
from benchmark.registry import Registry


def random_success(config: dict, episodes: int, seed: int = 0) -> tuple[float, float]:
    """(fraction of episodes with a success, fraction of steps with reward > 0)."""
    env = envs.make(config)
    rng = np.random.default_rng(seed)
    successes, paid, steps = 0, 0, 0
    for episode in range(episodes):
        env.reset(seed=seed * 1_000_000 + episode)
        done, success = False, False
        while not done:
            _, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
            success = success or info["success"]
            paid += int(reward > 0)
            steps += 1
            done = terminated or truncated
        successes += int(success)
    env.close()
    return successes / episodes, paid / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["pm_reach"])
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("overrides", nargs="*", help="task config overrides, key=value")
    args = parser.parse_args()
    registry = Registry.load()
    for task in args.tasks:
        config = registry.resolve_config(task, "random", "mini", cli_overrides=parse_cli_overrides(args.overrides))
        rate, paid = random_success(config, args.episodes)
        half = 1.96 * np.sqrt(rate * (1 - rate) / args.episodes)
        prefill_episodes = config["prefill"] / config["time_limit"]
        print(f"{task} random policy: {rate:.1%} of {args.episodes} episodes succeed "
              f"(95% interval {max(rate - half, 0):.1%}-{rate + half:.1%}); {paid:.2%} of steps pay; "
              f"a mini prefill ({config['prefill']} steps) holds {rate * prefill_episodes:.1f} successful episodes",
              flush=True)


if __name__ == "__main__":
    main()
