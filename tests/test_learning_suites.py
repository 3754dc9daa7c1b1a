"""The laptop-scale learning suites at smoke size: their configs, and one real LatCo run's diagnostics.

The learning itself is a benchmark (``python -m bench.learning``), too long for tests; here
every suite's configs must be runnable, and a real run must record the learning diagnostics.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, run_cli

from benchmark.registry import Registry

REGISTRY = Registry.load()


@pytest.mark.parametrize("suite", REGISTRY.names("suites"))
def test_every_run_of_every_suite_can_sample_its_training_sequences(suite):
    """A batch sequence must fit in one episode (else training fails at its first update)."""
    for profile in (None, "mini", "smoke"):
        for spec in REGISTRY.expand(suite, profile=profile, seeds=[0]):
            episode = spec.config["time_limit"] // spec.config["action_repeat"]
            assert spec.config["batch_length"] <= episode, (spec.key, profile)
            assert spec.config["prefill"] < spec.config["steps"], (spec.key, profile)


def test_learning_suites_use_the_mini_profile_and_score_reach_by_success():
    for suite in ("learn", "lottery_mini", "learn_demo"):
        assert {spec.profile for spec in REGISTRY.expand(suite)} == {"mini"}
    learn = {(s.task, s.method) for s in REGISTRY.expand("learn", seeds=[0])}
    assert learn == {(t, m) for t in ("pm_reach", "mw_reach", "dmc_reacher")
                     for m in ("latco", "planet", "dreamer", "random")} | {("pm_reach", "latco_restarts")}
    [reach] = REGISTRY.expand("learn_demo", methods=["latco"], seeds=[0])
    assert reach.config["score_metric"] == "success"
    mini, paper = reach.config, REGISTRY.resolve_config("pm_reach", "latco", "paper")
    assert mini["deter_size"] < paper["deter_size"] and mini["cnn_depth"] < paper["cnn_depth"]


def test_a_latco_run_records_the_learning_diagnostics(database, results_dir):
    result = run_cli("run", "--suite", "learn_demo", "--methods", "latco", "--seeds", "0", "--profile", "smoke",
                     "steps=240", "prefill=90", results=results_dir, db_name=database.db_name)
    assert result.returncode == 0, result.stderr[-3000:]
    [run] = list(database.database().runs.find())
    assert run["status"] == "COMPLETED" and run["config"]["score_metric"] == "success"
    names = {m["name"]: m for m in database.database().metrics.find({"run_id": run["_id"]})}
    for name in ("diag/openloop_image_mse", "diag/recon_image_mse", "diag/openloop_reward_mae",
                 "diag/reward_acc_nonrewarding", "plan/executed_predicted_return", "plan/executed_achieved_return"):
        assert name in names, sorted(names)
    # Diagnostics start with the first model update (after the 90-step prefill) and cover each later episode.
    assert min(names["diag/recon_image_mse"]["steps"]) >= 90
    assert all(value >= 0 for value in names["diag/openloop_image_mse"]["values"])
    achieved = names["plan/executed_achieved_return"]["values"]
    assert all(0 <= value <= 5 for value in achieved)  # reward 1 per step, chunks of mpc_steps = 5 steps

    # The two tools that ask "model or planner?" of the run's final checkpoint.
    selection = ["--results", str(results_dir), "--suite", "learn_demo", "--task", "pm_reach", "--method", "latco",
                 "--seeds", "0", "--profile", "smoke"]
    replan = run_module("bench.replan", *selection, "--episodes", "1", "--variant", "n_parallel_plans=2",
                        "steps=240", "prefill=90")
    assert replan.returncode == 0, replan.stderr[-3000:]
    rows = [line for line in replan.stdout.splitlines() if "│ 0" in line]
    assert len(rows) == 2 and "n_parallel_plans=2" in rows[1], replan.stdout
    assert int(rows[0].split("│")[2]) >= 240  # the final checkpoint: step 240 or the end of its episode
    figure = results_dir / "map.png"
    reward_map = run_module("bench.reward_map", *selection, "--grid", "3", "--out", str(figure), "steps=240", "prefill=90")
    assert reward_map.returncode == 0, reward_map.stderr[-3000:]
    assert figure.stat().st_size > 10_000
    assert [line for line in reward_map.stdout.splitlines() if "│ 0" in line], reward_map.stdout  # seed 0's goals
    missing = run_module("bench.replan", *selection, "--episodes", "1", "steps=250")  # another config: no checkpoint
    assert missing.returncode == 2 and "no checkpoint of learn_demo/pm_reach/latco/seed0/smoke" in missing.stderr


def run_module(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=600,
                          cwd=ROOT)


def test_the_learning_summary_scores_completed_runs_per_seed_against_the_targets():
    """The table README's learning results are pasted from (``bench.learning --markdown``)."""
    import pandas as pd

    from bench.learning import summary_table
    from reports.tables import to_markdown

    def run(method, seed, final, status="COMPLETED", task="pm_reach", family="pointmass", metric="train/success"):
        return {"task": task, "method": method, "seed": seed, "final": final, "status": status, "family": family,
                "metric": metric, "wall_minutes": 10.0 + seed}

    finals = pd.DataFrame([run("latco", 0, 1.0), run("latco", 2, 0.9), run("latco", 1, 0.4),
                           run("latco", 3, 0.0, status="RUNNING"), run("random", 0, 0.1),
                           run("latco", 0, 140.0, task="dmc_reacher", family="dmc", metric="train/return"),
                           run("random", 0, 50.0, task="dmc_reacher", family="dmc", metric="train/return")])
    table = summary_table(finals)
    assert table.column("final per seed") == ["140", "50", "100% / 40% / 90%", "10%"]
    assert table.column("mean final") == ["140", "50", "77%", "10%"]
    assert table.column("verdict") == ["MISSED", "", "MISSED", ""]  # 140 < 3 x 50; 77% < 80%
    assert table.column("wall per run (min)")[2] == "11.0"
    assert "| pm_reach | latco | 0, 1, 2 | 100% / 40% / 90% | 77% |" in to_markdown(table, heading=False)


def test_the_reward_map_reads_each_goal_from_the_grid_points_inside_its_disc():
    """The per-goal numbers are means over the points within the radius, NaN where the grid has none."""
    import numpy as np

    from bench.reward_map import grid_points, mean_inside_goals, pointmass_goals

    goals = pointmass_goals("lottery")
    targets = grid_points(21)  # spacing 0.1: the discs of radius 0.25 hold 21 points each
    values = np.where(targets[:, 0] < 0, -3.0, 2.0) + targets[:, 1]  # left half -3, right +2, plus y
    means = mean_inside_goals(targets, values, goals)
    assert means["risky"] == pytest.approx(-3.0 + 0.7, abs=1e-5)  # y averages to the centre's 0.7
    assert means["safe"] == pytest.approx(2.0 + 0.7, abs=1e-5)
    assert np.isnan(mean_inside_goals(grid_points(3), np.zeros(9), goals)["safe"])  # no point of a 3x3 grid inside
