"""Where a run's time goes: one real short run, then its wall time per phase.

    .venv/bin/python -m bench.run_profile --task pm_reach --method latco                 # mini, 6,000 steps
    taskset -c 1 .venv/bin/python -m bench.run_profile --task pm_reach --method latco --steps 1000 tf_threads=1

The run is an ordinary Sacred run in the suite's database (run key
``profile/<task>/<method>/seed<S>/<profile>``, so it never stands in for a suite's run), started
through the entry point every run_suite.py run and Slurm job goes through
(``benchmark.launch.run_in_worker`` -> ``benchmark.experiment.execute_run``), in this process;
running the same settings again replaces its record. Afterwards the run's ``time/<phase>``
metrics (agents/timing.py names the phases) are read back from the database and printed per
phase: seconds, share of the run's wall time (the record's stop minus start time), and
milliseconds per environment step; then the whole run's wall time, setup time and steps per
second, over the run and in the steady state (after the random prefill and the first
training call, which traces every compiled function). Extra ``key=value`` arguments are config
overrides, as for ``run_suite.py run``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from agents.timing import METRIC_PREFIX, SETUP
from benchmark.config import parse_cli_overrides
from benchmark.database import MongoTarget, resolve_target
from benchmark.errors import SuiteError
from benchmark.registry import Registry, RunSpec
from reports import aggregate
from reports.mongo_runs import load_metrics, runs_frame

ROOT = Path(__file__).resolve().parent.parent
SUITE = "profile"  # the run key's first part: profiling runs are kept apart from every suite's


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", required=True)
    parser.add_argument("--method", required=True, help="a method or an ablation")
    parser.add_argument("--steps", type=int, help="environment steps (default: the profile's)")
    parser.add_argument("--profile", default="mini")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--mongo-url", help="a MongoDB URL (default: LATCO_MONGO_URL, else the embedded server)")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    return parser.parse_args(argv)


def profile_spec(args: argparse.Namespace, registry: Registry | None = None) -> RunSpec:
    """The run to profile; unknown names and bad overrides fail here, before anything runs."""
    overrides = parse_cli_overrides(args.overrides)
    if args.steps is not None:
        overrides["steps"] = args.steps
    config = (registry or Registry.load()).resolve_config(args.task, args.method, args.profile, None, overrides,
                                                          args.seed)
    return RunSpec(SUITE, args.task, args.method, args.seed, args.profile, config)


@dataclass(frozen=True)
class Breakdown:
    """A run's time: ``seconds`` per phase (setup included), its wall time and its env steps."""

    seconds: Mapping[str, float]
    wall: float
    steps: int
    steady: tuple[float, int]  # (seconds, env steps) after the prefill and the first training call

    @property
    def accounted(self) -> float:
        return float(sum(self.seconds.values()))

    def rows(self) -> list[tuple[str, float, float, float]]:
        """(phase, seconds, share of the wall time, ms per env step), largest first, then the
        part of the wall time no phase holds (Sacred's start and end, closing the environments)."""
        rows = [(phase, s, s / self.wall, 1000 * s / max(self.steps, 1))
                for phase, s in sorted(self.seconds.items(), key=lambda item: -item[1])]
        rest = self.wall - self.accounted
        return [*rows, ("(not accounted)", rest, rest / self.wall, 1000 * rest / max(self.steps, 1))]


def run_breakdown(target: MongoTarget, run_id, prefill: int) -> Breakdown:
    """The breakdown of a recorded run, from its record and its ``time/<phase>`` metrics."""
    record = target.database().runs.find_one({"_id": run_id})
    wall = float(runs_frame([record])["wall_minutes"].iloc[0]) * 60
    metrics = load_metrics(target, [run_id])
    seconds = aggregate.phase_seconds(metrics)
    per_phase = seconds.iloc[0].to_dict() if len(seconds) else {}
    timed = metrics[metrics["metric"].str.startswith(METRIC_PREFIX) & (metrics["metric"] != METRIC_PREFIX + SETUP)]
    per_episode = timed.groupby("step")["value"].sum().sort_index()
    return Breakdown(per_phase, wall, int((record.get("result") or {}).get("steps", 0)),
                     steady_state(per_episode, prefill))


def steady_state(per_episode: pd.Series, prefill: int) -> tuple[float, int]:
    """(seconds, env steps) of the episodes after the first one past the prefill, which holds the
    first training call (``pretrain`` updates and the tracing of every compiled function).

    ``per_episode``: seconds of each training episode, indexed by the env step it ended at.
    """
    past = per_episode[per_episode.index > prefill]
    if len(past) < 2:
        return 0.0, 0
    return float(past.iloc[1:].sum()), int(past.index[-1] - past.index[0])


def print_breakdown(console: Console, key: str, breakdown: Breakdown) -> None:
    table = Table(title=f"Where the time went: {key}")
    for column in ("phase", "seconds", "share", "ms per env step"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for phase, seconds, share, per_step in breakdown.rows():
        table.add_row(phase, f"{seconds:.2f}", f"{100 * share:.1f}%", f"{per_step:.2f}")
    console.print(table)
    setup = breakdown.seconds.get(SETUP, 0.0)
    console.print(f"wall time {breakdown.wall:.1f} s (record stop - start), setup {setup:.1f} s, "
                  f"{breakdown.steps} env steps: {breakdown.steps / breakdown.wall:.2f} steps/s over the run, "
                  f"{breakdown.steps / max(breakdown.wall - setup, 1e-9):.2f} steps/s after setup")
    seconds, steps = breakdown.steady
    if steps:
        console.print(f"after the prefill and the first training call: {steps} env steps in {seconds:.1f} s, "
                      f"{steps / seconds:.2f} steps/s")


def main(argv: list[str] | None = None) -> int:
    from benchmark.experiment import execute_run
    from benchmark.launch import run_in_worker, usable_cpus

    args = parse_args(argv)
    console = Console(width=max(Console().width, 100))
    try:
        spec = profile_spec(args)
        target = resolve_target(args.mongo_url, args.results)
    except SuiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    console.print(f"profiling {spec.key} ({spec.config['steps']} steps) into {target.masked}, db {target.db_name}")
    outcome = run_in_worker(execute_run, spec, target, str(args.results), usable_cpus())
    if outcome.status != "COMPLETED":
        print(f"error: {spec.key} ended {outcome.status}: {outcome.error}", file=sys.stderr)
        return 1
    print_breakdown(console, spec.key, run_breakdown(target, outcome.run_id, spec.config["prefill"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
