"""Time accounting (agents/timing.py): a real run's ``time/<phase>`` metrics add up to its wall time."""

from __future__ import annotations

from conftest import run_cli

from agents.timing import METRIC_PREFIX, PHASES


def test_a_runs_phase_times_add_up_to_its_wall_time(database, results_dir):
    ran = run_cli("run", "--suite", "smoke", "--tasks", "pm_lottery", "--methods", "latco", "steps=200",
                  "eval_every=100", results=results_dir, db_name=database.db_name)
    assert ran.returncode == 0, ran.stderr[-2000:]
    [run] = list(database.database().runs.find())
    series = {doc["name"][len(METRIC_PREFIX):]: doc["values"] for doc in
              database.database().metrics.find({"run_id": run["_id"], "name": {"$regex": f"^{METRIC_PREFIX}"}})}
    # A learning agent spends time in each of these; none may be silently missing.
    assert {"setup", "env", "filter", "plan", "update", "eval", "logging", "teardown"} <= set(series)
    assert set(series) <= set(PHASES)
    assert all(value >= 0 for values in series.values() for value in values)
    accounted = sum(sum(values) for values in series.values())
    wall = (run["stop_time"] - run["start_time"]).total_seconds()
    assert abs(accounted - wall) <= 0.1 * wall, (accounted, wall, {k: sum(v) for k, v in series.items()})
    # The progress record carries the shares too (what `status` and Omniboard show).
    shares = run["info"]["progress"]["time_shares"]
    assert set(shares) <= set(PHASES) and abs(sum(shares.values()) - 1) < 0.01, shares
