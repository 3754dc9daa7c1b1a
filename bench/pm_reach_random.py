"""Success rate of uniformly random actions on pm_reach: how rare its reward is in a prefill.

    .venv/bin/python -m bench.pm_reach_random [--episodes 1000] [key=value ...]

Plays episodes of the real task (rendering included, as the agent's prefill does) with
actions uniform in [-1, 1] and prints the fraction of episodes that reach the goal, with a
95% interval, and the fraction of steps that pay. ``key=value`` overrides the task config
(e.g. time_limit=40), for choosing the task's sizes.
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
    parser.add_argument("--episodes", type=int, default=1000)
    parser.add_argument("overrides", nargs="*", help="task config overrides, key=value")
    args = parser.parse_args()
    registry = Registry.load()
    config = registry.resolve_config("pm_reach", "random", "paper", cli_overrides=parse_cli_overrides(args.overrides))
    rate, paid = random_success(config, args.episodes)
    half = 1.96 * np.sqrt(rate * (1 - rate) / args.episodes)
    print(f"pm_reach random policy: {rate:.1%} of {args.episodes} episodes succeed "
          f"(95% interval {rate - half:.1%}-{rate + half:.1%}); {paid:.2%} of steps pay")


if __name__ == "__main__":
    main()
