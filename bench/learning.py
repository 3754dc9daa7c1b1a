"""Does the suite learn? Run the laptop-scale learning suites and print each run's final score.

    .venv/bin/python -m bench.learning                          # the `learn` suite, 2 runs at a time
    .venv/bin/python -m bench.learning --suite lottery_mini      # the risk experiment at mini size
    .venv/bin/python -m bench.learning --tasks pm_reach --seeds 0 1 --no-run   # only print

Runs go through ``run_suite.py run`` like any other (real Sacred runs in the database the
suite uses, resumable after a kill, browsable in Omniboard); this command then reads them
back and prints, per run, the final score (mean of the last 10 training episodes of the
task's score metric), the episodes it covers and the wall time, then per task x method the
mean over seeds against the learning targets. A target that is missed is printed as
missed: the targets are the claim under test, never tuned to pass.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from rich.console import Console
from rich.table import Table

from benchmark.database import resolve_target
from benchmark.processes import die_with_parent
from reports import aggregate, tables
from reports.mongo_runs import Selection, load_run_data
from reports.presentation import headline_metric

ROOT = Path(__file__).resolve().parent.parent

# (task, method) -> (what is claimed, a check on {method: mean final score} of the task).
TARGETS = {
    **{("pm_reach", method): (">= 80% success", lambda s, method=method: s[method] >= 0.8)
       for method in ("latco", "latco_restarts")},
    ("mw_reach", "latco"): (">= 50% success", lambda s: s["latco"] >= 0.5),
    ("dmc_reacher", "latco"): (">= 3x random's return",
                               lambda s: "random" in s and s["latco"] >= 3 * max(s["random"], 1e-9)),
}
GOAL_REACHED = 0.8  # pm_lottery: LatCo reaches a goal (safe or risky) in >= 80% of the last episodes


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="learn")
    parser.add_argument("--tasks", nargs="+")
    parser.add_argument("--methods", nargs="+")
    parser.add_argument("--seeds", nargs="+", type=int)
    parser.add_argument("--profile", help="profile (default: the suite's)")
    parser.add_argument("--max-parallel", type=int, default=2)
    parser.add_argument("--results", type=Path, default=ROOT / "results")
    parser.add_argument("--no-run", action="store_true", help="only print the runs already in the database")
    parser.add_argument("--markdown", action="store_true",
                        help="print only the per task x method summary, as a Markdown table")
    return parser.parse_known_args(argv)


def run_suite(args: argparse.Namespace, overrides: list[str]) -> int:
    command = [sys.executable, str(ROOT / "run_suite.py"), "--results", str(args.results), "run",
               "--suite", args.suite, "--max-parallel", str(args.max_parallel), *overrides]
    for flag, values in (("--tasks", args.tasks), ("--methods", args.methods), ("--seeds", args.seeds)):
        if values:
            command += [flag, *map(str, values)]
    if args.profile:
        command += ["--profile", args.profile]
    # The suite's launcher dies with this command (SIGTERM to it alone would otherwise leave the
    # launcher and its runs going): it then ends its runs INTERRUPTED, resumable.
    return subprocess.call(command, cwd=ROOT, preexec_fn=die_with_parent)


def final_scores(args: argparse.Namespace) -> pd.DataFrame:
    """One row per current run of the selection: its score metric's final value and wall time."""
    target = resolve_target(None, args.results)
    data = load_run_data(target, Selection(args.suite, tuple(args.tasks or ()) or None,
                                           tuple(args.methods or ()) or None))
    runs = data.current
    if args.seeds:
        runs = runs[runs["seed"].isin(args.seeds)]
    metric_of_run = {r.run_id: f"train/{headline_metric(r.family, r.score_metric)}" for r in runs.itertuples()}
    finals = aggregate.final_per_run(runs, data.metrics, metric_of_run)
    rates = aggregate.choice_rates(runs[runs["status"] == "COMPLETED"], data.metrics)
    if len(rates):
        reached = rates[rates["choice"] != "none"].groupby(["task", "method"])["mean"].sum().rename("goal_reached")
        finals = finals.merge(reached.reset_index(), on=["task", "method"], how="left")
    return finals


def print_tables(finals: pd.DataFrame, console: Console, markdown: bool = False) -> None:
    """The per-run table, then the per task x method summary (as Markdown with ``markdown``,
    the form README's "Learning at laptop scale" table is pasted from)."""
    summary = summary_table(finals)
    if markdown:
        print(tables.to_markdown(summary, heading=False))
        return
    per_run = Table(title="Learning runs: final score = mean of the last 10 training episodes")
    for column in ("run key", "status", "metric", "final", "episodes", "wall (min)"):
        per_run.add_column(column)
    for r in finals.sort_values(["task", "method", "seed"]).itertuples():
        per_run.add_row(r.run_key, r.status, r.metric, f"{r.final:.3f}", str(r.episodes),
                        "–" if pd.isna(r.wall_minutes) else f"{r.wall_minutes:.1f}")
    console.print(per_run)
    rich_summary = Table(title=summary.title)
    for column in summary.header:
        rich_summary.add_column(column)
    for row in summary.rows:
        rich_summary.add_row(*(cell.text for cell in row))
    console.print(rich_summary)


def _score_text(value: float, family: str, metric: str) -> str:
    return tables.format_score(value, float("nan"), family, metric)


def _target(task: str, method: str, means: dict[str, float], group: pd.DataFrame) -> tuple[str, str]:
    if task == "pm_lottery" and method == "latco" and "goal_reached" in group:
        reached = float(group["goal_reached"].iloc[0])
        return (f"goal reached >= {GOAL_REACHED:.0%}", f"{'met' if reached >= GOAL_REACHED else 'MISSED'} "
                f"({reached:.0%}, last 20 episodes)")
    if (task, method) not in TARGETS:
        return "", ""
    claim, check = TARGETS[(task, method)]
    return claim, "met" if check(means) else "MISSED"


def summary_table(finals: pd.DataFrame) -> tables.Table:
    """Per task x method over COMPLETED runs: each seed's final score, their mean, the wall time
    per run and the learning target's verdict."""
    header = ["task", "method", "seeds", "final per seed", "mean final", "wall per run (min)", "target", "verdict"]
    rows = []
    completed = finals[finals["status"] == "COMPLETED"]
    for task, task_rows in completed.groupby("task", sort=True):
        means = task_rows.groupby("method")["final"].mean().to_dict()
        for method, group in task_rows.groupby("method", sort=True):
            group = group.sort_values("seed")
            family, metric = group["family"].iloc[0], group["metric"].iloc[0]
            score = partial(_score_text, family=family, metric=metric)
            claim, verdict = _target(task, method, means, group)
            wall = f"{np.nanmean(group['wall_minutes']):.1f}" if group["wall_minutes"].notna().any() else "–"
            seeds = ", ".join(str(int(seed)) for seed in group["seed"])
            rows.append([tables.Cell(text) for text in (
                task, method, seeds, " / ".join(score(v) for v in group["final"]), score(means[method]),
                wall, claim, verdict)])
    return tables.Table("learning_summary",
                        "Per task and method, COMPLETED runs only: mean over seeds, against the learning targets",
                        header, rows)


def main(argv: list[str] | None = None) -> int:
    args, overrides = parse_args(argv)
    status = 0 if args.no_run else run_suite(args, overrides)
    finals = final_scores(args)
    console = Console(width=max(Console().width, 140))
    if finals.empty:
        console.print(f"no scored runs of suite {args.suite} in the database yet")
        return status or 1
    print_tables(finals, console, markdown=args.markdown)
    return status


if __name__ == "__main__":
    sys.exit(main())
