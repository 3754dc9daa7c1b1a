"""Is it the model or the planner? Replay a trained run's final world model under other planners.

    .venv/bin/python -m bench.replan --results R --suite learn --task pm_reach --method latco --seeds 1 \\
        --variant n_parallel_plans=8 --variant optimization_steps=200 \\
        --variant agent=cem,optimization_steps=10,cem_samples=1000,cem_elite_ratio=0.1

Each seed's last checkpoint is loaded once per variant (the run's own config first, then the
config with the variant's ``key=value`` changes) and plays ``--episodes`` episodes from the
evaluation start states (seed + 20000). By default the episodes keep the training
exploration noise, so they are comparable with the final score of training episodes;
``--no-noise`` plays as ``run_suite.py eval`` does. When another planner on the same model
succeeds where the run's own planner fails, the planner is what limits the run, not what the
model learned. Trailing ``key=value`` arguments select the run's config as ``run`` does.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.run_selection import add_run_selection, selected_runs
from benchmark.config import check_overrides, load_defaults, parse_cli_overrides
from benchmark.errors import SuiteError

EVALUATION_SEED_OFFSET = 20_000  # as run_suite.py eval: start states no training episode used


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_selection(parser, seeds=[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE[,KEY=VALUE]",
                        help="config changes of one variant (repeatable); the run's own config always plays first")
    parser.add_argument("--no-noise", action="store_true", help="no exploration noise (as run_suite.py eval)")
    return parser.parse_known_args(argv)


def variant_overrides(text: str) -> dict:
    """A variant's config changes, checked against the declared keys (ConfigError names a typo)."""
    return check_overrides(parse_cli_overrides([pair for pair in text.split(",") if pair]), load_defaults(),
                           f"--variant {text}")


def play(spec, results: Path, overrides: dict, episodes: int, training: bool) -> dict[str, float]:
    """Success rate, mean return and seconds of ``episodes`` episodes of the variant."""
    from agents.loop import play_episode
    from benchmark.evaluation import load_trained_agent
    from envs.isolated import IsolatedEnv

    config = {**spec.config, **overrides}
    env = IsolatedEnv(config, seed=spec.seed + EVALUATION_SEED_OFFSET)
    try:
        agent, _, state = load_trained_agent(spec, results, env.action_space.shape[0], overrides)
        started, summaries = time.time(), []
        for _ in range(episodes):
            summaries.append(play_episode(env, agent, training=training)[1])
    finally:
        env.close()
    return {"success": float(np.mean([s["success"] for s in summaries])),
            "return": float(np.mean([s["return"] for s in summaries])),
            "seconds": time.time() - started, "step": state.step}


def main(argv: list[str] | None = None) -> int:
    args, rest = parse_args(argv)
    try:
        specs = selected_runs(args, rest)
        variants = [("(the run's own)", {})] + [(text, variant_overrides(text)) for text in args.variant]
    except SuiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    table = Table(title=f"{args.task} / {args.method}: the final model of each seed under each planner variant, "
                        f"{args.episodes} episodes{'' if args.no_noise else ' with exploration noise'}")
    for column in ("seed", "checkpoint step", "variant", "success", "return", "seconds"):
        table.add_column(column)
    for spec in specs:
        for label, overrides in variants:
            try:
                result = play(spec, args.results, overrides, args.episodes, training=not args.no_noise)
            except FileNotFoundError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            table.add_row(str(spec.seed), str(result["step"]), label, f"{result['success']:.0%}",
                          f"{result['return']:.2f}", f"{result['seconds']:.0f}")
    Console(width=160).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
