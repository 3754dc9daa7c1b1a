"""Environment steps per second with 64x64 rendering, for one MetaWorld and one DMC task.

    .venv/bin/python -m bench.env_speed [--steps 500]

Prints one line per task: environment steps per second (action repeat included) and the
milliseconds per agent decision.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import envs
from benchmark.registry import Registry


def measure(task: str, steps: int) -> tuple[float, float]:
    config = Registry.load().resolve_config(task, "random", "paper")
    env = envs.make(config)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    env.step(rng.uniform(-1, 1, env.action_space.shape))  # first render allocates buffers
    env_steps, decisions, start = 0, 0, time.perf_counter()
    while env_steps < steps:
        _, _, terminated, truncated, info = env.step(rng.uniform(-1, 1, env.action_space.shape))
        env_steps += info["env_steps"]
        decisions += 1
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return env_steps / elapsed, 1000 * elapsed / decisions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--tasks", nargs="+", default=["mw_reach", "dmc_cheetah"])
    args = parser.parse_args()
    for task in args.tasks:
        rate, per_decision = measure(task, args.steps)
        print(f"{task:14s} {rate:8.0f} env steps/s  {per_decision:6.2f} ms per decision (64x64 rendering)")


if __name__ == "__main__":
    main()
