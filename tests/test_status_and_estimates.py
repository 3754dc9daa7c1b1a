"""``status`` and ``run --dry-run`` read the grid's earlier runs from the real database."""

from __future__ import annotations

import re

from conftest import run_cli

from benchmark.estimates import format_duration

SELECTION = ("--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random")
KEY = "smoke/pm_lottery/random/seed0/smoke"


def test_a_run_started_with_overrides_shows_in_status_and_its_step_rate_estimates_the_next(database, results_dir):
    started = run_cli("run", *SELECTION, "steps=150", "eval_every=1000", results=results_dir, db_name=database.db_name)
    assert started.returncode == 0, started.stderr[-2000:]
    [record] = list(database.database().runs.find())
    assert record["status"] == "COMPLETED"

    # Without the overrides: the run is shown, marked with the config it ran with.
    status = run_cli("status", *SELECTION, results=results_dir, db_name=database.db_name)
    assert status.returncode == 0, status.stderr
    [row] = [line for line in status.stdout.splitlines() if KEY in line]
    assert "COMPLETED" in row and "not started" not in row
    assert record["config"]["config_hash"] in row and "eval_every=1000" in row and "steps=150" in row

    # The suite's own config (300 steps) is estimated from that run's measured step rate.
    seconds = (record["stop_time"] - record["start_time"]).total_seconds() * 300 / 150
    dry = run_cli("run", *SELECTION, "--dry-run", results=results_dir, db_name=database.db_name)
    assert dry.returncode == 0, dry.stderr
    [row] = [line for line in dry.stdout.splitlines() if KEY in line]
    assert "database (1 run)" in row and format_duration(seconds) in row
    assert "estimates: 1 from the step rates of earlier runs in mongodb://127.0.0.1:" in dry.stdout


def test_without_earlier_runs_in_the_database_the_shipped_runs_give_the_estimate(tmp_path):
    """A fresh machine: no database to ask, yet the runs shipped in docs/runs/ hold step rates."""
    dry = run_cli("run", "--suite", "learn_demo", "--dry-run", results=tmp_path / "fresh")
    assert dry.returncode == 0, dry.stderr
    [row] = [line for line in dry.stdout.splitlines() if "learn_demo/pm_reach/latco/seed0/mini" in line]
    assert "shipped (2 runs)" in row
    assert "4 from the step rates of runs shipped in docs/runs/" in dry.stdout
    # An ablation nobody has run yet is estimated from its planner's runs on the same task and profile.
    ablation = run_cli("run", "--suite", "learn_demo", "--methods", "latco_no_relax", "--seeds", "0", "--dry-run",
                       results=tmp_path / "fresh")
    assert ablation.returncode == 0, ablation.stderr
    [row] = [line for line in ablation.stdout.splitlines() if "learn_demo/pm_reach/latco_no_relax/seed0/mini" in line]
    assert "shipped (2 runs of latco)" in row
    # A method never run on a task is estimated from its runs on the family's other tasks.
    drawer = run_cli("run", "--suite", "claims", "--tasks", "mw_drawer", "--methods", "planet", "--seeds", "0",
                     "--dry-run", results=tmp_path / "fresh")
    assert drawer.returncode == 0, drawer.stderr
    [row] = [line for line in drawer.stdout.splitlines() if "claims/mw_drawer/planet/seed0/mini" in line]
    # (how many: as many PlaNet runs as docs/runs/claims.jsonl.gz holds on other tasks, which grows)
    assert re.search(r"shipped \(\d+ runs? of planet on other metaworld tasks\)", row), row
