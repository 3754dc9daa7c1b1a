"""Time of `run_suite.py report` on a large synthetic database (target: under 30 s).

    .venv/bin/python -m bench.report_speed [--runs 300] [--points 100]

Starts a temporary embedded server (SecantusDB) under a temporary results folder, inserts
``--runs`` Sacred run records (10 tasks x 6 methods x seeds) with 3 metrics of ``--points``
points each, times the report generation (loading included) and stops the server. ``--out DIR`` keeps
the report for a look.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np

from benchmark.database import MongoTarget, temporary_database
from reports.generate import ReportOptions, write_report

TASKS = ["mw_reach", "mw_button", "mw_window", "mw_drawer", "mw_push", "mw_hammer", "mw_thermos",
         "dmc_reacher", "dmc_cheetah", "dmc_quadruped"]
METHODS = ["latco", "planet", "mppi", "shooting_gd", "shooting_gn", "platco"]


def insert_runs(target: MongoTarget, runs: int, points: int, seed: int = 0) -> None:
    """``runs`` completed runs in Sacred's format, each with train/success, train/return and one plan/ metric."""
    rng = np.random.default_rng(seed)
    database = target.database()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    run_docs, metric_docs = [], []
    for run_id in range(1, runs + 1):
        index = run_id - 1
        task, method = TASKS[index % len(TASKS)], METHODS[(index // len(TASKS)) % len(METHODS)]
        seed_number = index // (len(TASKS) * len(METHODS))
        family = "metaworld" if task.startswith("mw_") else "dmc"
        budget = 300_000 if family == "metaworld" else 800_000
        config = {"suite": "bench", "task": task, "method": method, "seed": seed_number, "profile": "paper",
                  "run_key": f"bench/{task}/{method}/seed{seed_number}/paper", "config_hash": f"{run_id:016x}",
                  "env_family": family, "steps": budget}
        run_docs.append({"_id": run_id, "status": "COMPLETED", "config": config, "heartbeat": now,
                         "start_time": now, "meta": {"git_commit": "bench"}})
        steps = np.linspace(budget / points, budget, points).round().astype(int).tolist()
        skill = rng.uniform(0.2, 0.9)
        progress = np.linspace(0, 1, points)
        success = (rng.random(points) < skill * progress).astype(float).tolist()
        returns = (1000 * skill * progress + rng.normal(0, 30, points)).tolist()
        violation = (10.0 ** rng.uniform(-4, 0, points)).tolist()
        for name, values in (("train/success", success), ("train/return", returns),
                             ("plan/dynamics_violation", violation)):
            metric_docs.append({"run_id": run_id, "name": name, "steps": steps, "values": values,
                                "timestamps": [now] * points})
    database.runs.insert_many(run_docs)
    database.metrics.insert_many(metric_docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None, help="keep the report here (default: discarded)")
    args = parser.parse_args()
    with temporary_database("report_speed") as (target, folder):
        started = time.perf_counter()
        insert_runs(target, args.runs, args.points)
        inserted = time.perf_counter() - started
        started = time.perf_counter()
        summary = write_report(target, args.out or folder / "report", "bench", ReportOptions())
        elapsed = time.perf_counter() - started
    print(f"inserted {args.runs} runs x 3 metrics x {args.points} points in {inserted:.1f} s")
    print(f"report: {summary.message}; {len(summary.files)} files in {elapsed:.1f} s (target < 30 s)")


if __name__ == "__main__":
    main()
