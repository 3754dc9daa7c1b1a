"""Which trained runs a checkpoint tool looks at: the same selection as ``run_suite.py run``.

``bench.replan`` and ``bench.reward_map`` load runs' checkpoints from a results folder; the
config of each run (hence its checkpoint's config hash) is resolved from the registry exactly
as the run that trained it was, trailing ``key=value`` overrides included.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmark.config import parse_cli_overrides
from benchmark.errors import SuiteError
from benchmark.registry import Registry, RunSpec

ROOT = Path(__file__).resolve().parent.parent


def add_run_selection(parser: argparse.ArgumentParser, seeds: list[int]) -> None:
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--suite", default="learn")
    parser.add_argument("--task", default="pm_reach")
    parser.add_argument("--method", default="latco")
    parser.add_argument("--seeds", nargs="+", type=int, default=seeds)
    parser.add_argument("--profile", help="profile (default: the suite's)")


def selected_runs(args: argparse.Namespace, overrides: list[str]) -> list[RunSpec]:
    """The runs of ``args``' selection; SuiteError (one line) for a bad name or an empty selection."""
    specs = Registry.load().expand(args.suite, tasks=[args.task], methods=[args.method], seeds=args.seeds,
                                   profile=args.profile, cli_overrides=parse_cli_overrides(overrides))
    if not specs:
        raise SuiteError(f"suite {args.suite} has no runs of {args.task} x {args.method}; check the names")
    return specs
