"""Claims and verdicts (reports/claims.py) on synthetic runs whose differences are known."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from conftest import SMOKE_RUNS, registry_with_smoke_claims

from benchmark.claims import Claim, parse_claims
from benchmark.errors import ConfigError
from benchmark.registry import Registry
from benchmark.runs_import import import_files
from reports import claims, tables
from reports.generate import ReportOptions, write_report

REACH = Claim("Claim 1", "LatCo beats CEM", "latco", ("planet",), ("mw_reach",))
LOTTERY = Claim("Claim 4", "PLatCo is safer", "platco", ("latco",), ("pm_lottery",), "safe_choice")


def _finals(scores: dict[str, list[float]], task: str = "mw_reach") -> pd.DataFrame:
    rows = [{"run_id": f"{method}{seed}", "task": task, "method": method, "seed": seed, "metric": "train/success",
             "final": value} for method, values in scores.items() for seed, value in enumerate(values)]
    return pd.DataFrame(rows)


def _rows(scores: dict[str, list[float]]) -> pd.DataFrame:
    finals = _finals(scores)
    return claims.claim_rows([REACH], finals, finals, pd.DataFrame(columns=["run_id", "metric", "step", "value"]),
                             reps=500)


def test_the_verdict_follows_the_interval_of_the_difference():
    assert claims.verdict(0.01, 0.4) == "supported"
    assert claims.verdict(-0.4, -0.01) == "contradicted"
    assert claims.verdict(-0.1, 0.3) == "inconclusive"
    assert claims.verdict(0.0, 0.3) == "inconclusive"  # touching 0 is not above it
    assert claims.verdict(math.nan, math.nan) == "inconclusive"


@pytest.mark.parametrize("latco,planet,expected", [
    ([0.8, 0.9, 0.7, 0.85, 0.75], [0.1, 0.2, 0.0, 0.15, 0.05], "supported"),
    ([0.1, 0.2, 0.0, 0.15, 0.05], [0.8, 0.9, 0.7, 0.85, 0.75], "contradicted"),
    ([0.0, 0.9, 0.1, 0.8, 0.5], [0.4, 0.5, 0.3, 0.6, 0.45], "inconclusive"),
])
def test_synthetic_runs_with_known_differences_get_their_verdict(latco, planet, expected):
    [row] = _rows({"latco": latco, "planet": planet}).to_dict("records")
    assert row["verdict"] == expected
    assert row["difference"] == pytest.approx(np.mean(latco) - np.mean(planet))
    assert row["low"] <= row["difference"] <= row["high"]
    assert row["method_seeds"] == row["baseline_seeds"] == 5
    if expected == "supported":
        assert row["p_improvement"] == 1.0  # every LatCo seed above every PlaNet seed


def test_the_interval_is_reproducible_and_one_seed_gives_no_interval():
    scores = {"latco": [0.8, 0.9, 0.7], "planet": [0.1, 0.6, 0.3]}
    assert _rows(scores).equals(_rows(scores))
    [row] = _rows({"latco": [0.9], "planet": [0.1, 0.2]}).to_dict("records")
    assert math.isnan(row["low"]) and row["verdict"] == "inconclusive"


def test_a_cell_waits_for_the_suites_seeds_before_its_verdict():
    """Clear differences on 2 of 5 seeds: the interval is shown, the verdict pending; at 5 of 5 the rule decides."""
    five = dataclasses.replace(REACH, seeds=5)
    early = {"latco": [0.8, 0.9], "planet": [0.1, 0.2, 0.0, 0.15, 0.05]}
    finals = _finals(early)
    no_points = pd.DataFrame(columns=["run_id", "metric", "step", "value"])
    [row] = claims.claim_rows([five], finals, finals, no_points, reps=200).to_dict("records")
    assert row["verdict"] == "pending" and row["low"] > 0 and row["seeds_asked"] == 5
    table = tables.claims_table(pd.DataFrame([row]))
    assert table.column("Verdict") == ["pending"] and any("suite's 5" in note for note in table.notes)
    finals = _finals({**early, "latco": [0.8, 0.9, 0.7, 0.85, 0.75]})
    [row] = claims.claim_rows([five], finals, finals, no_points, reps=200).to_dict("records")
    assert row["verdict"] == "supported"


def test_the_lottery_claim_scores_safe_choices_among_the_episodes_that_reached_a_goal():
    runs, points = [], []
    # PLatCo: 10 safe, 0 risky, 10 none of the last 20 -> safe share 1.0, reached 0.5.
    # LatCo: 5 safe, 5 risky, 10 none -> safe share 0.5; one LatCo seed reaches nothing (undefined).
    plans = {"platco": [(10, 0)] * 3, "latco": [(5, 5), (5, 5), (0, 0)]}
    for method, seeds in plans.items():
        for seed, (safe, risky) in enumerate(seeds):
            run_id = f"{method}{seed}"
            runs.append({"run_id": run_id, "task": "pm_lottery", "method": method, "seed": seed})
            choices = ["safe"] * safe + ["risky"] * risky + ["none"] * (20 - safe - risky)
            for episode, choice in enumerate(choices):
                for name in ("safe", "risky", "none"):
                    points.append({"run_id": run_id, "metric": f"train/choose_{name}", "step": 50 * (episode + 1),
                                   "value": float(choice == name)})
    rows = claims.claim_rows([LOTTERY], pd.DataFrame(columns=["metric"]), pd.DataFrame(runs), pd.DataFrame(points),
                             reps=200)
    [row] = rows.to_dict("records")
    assert row["method_mean"] == 1.0 and row["baseline_mean"] == 0.5 and row["baseline_seeds"] == 2
    assert row["method_reached"] == 0.5 and row["baseline_reached"] == pytest.approx(1 / 3)
    assert row["undefined"] == 1 and row["verdict"] == "supported"
    table = tables.claims_table(rows)
    assert table.column("Method's score") == ["100% (reached 50%)"]
    assert table.column("Verdict") == ["supported"] and table.column("Seeds") == ["3 / 2"]
    assert any("reached no goal" in note for note in table.notes)


def test_the_claims_table_prints_points_and_the_interval():
    table = tables.claims_table(_rows({"latco": [0.8, 0.9, 0.7, 0.85, 0.75], "planet": [0.1, 0.2, 0.0, 0.15, 0.05]}))
    [interval] = table.column("Difference [95% CI]")
    assert interval.startswith("+70 [+") and table.column("Method's score") == ["80%"]
    assert "Claim 1: LatCo beats CEM" in table.notes


def test_a_claim_on_a_pair_the_suite_does_not_run_fails_naming_it():
    cells = [("mw_reach", "latco"), ("mw_reach", "planet")]
    claim = {"name": "c", "text": "t", "method": "latco", "against": ["shooting_gd"], "tasks": ["mw_reach"]}
    with pytest.raises(ConfigError, match="claims.yaml: claims\\[0\\] \\(c\\) compares shooting_gd on mw_reach"):
        parse_claims([claim], "claims.yaml", cells)
    with pytest.raises(ConfigError, match="score 'return' is not one of success, safe_choice"):
        parse_claims([{**claim, "against": ["planet"], "score": "return"}], "claims.yaml", cells)


def test_the_claims_suite_declares_the_papers_four_claims_at_mini_with_five_seeds():
    registry = Registry.load()
    declared = registry.claims("claims")
    assert [c.name for c in declared] == ["Claim 1", "Claim 2", "Claim 3", "Claim 4"]
    assert {"planet", "shooting_gd"} <= set(declared[0].against) and len(declared[0].tasks) >= 2
    assert declared[1].against == ("latco_no_relax",) and declared[2].against == ("latco_no_constraint",)
    assert declared[3].score == "safe_choice" and declared[3].tasks == ("pm_lottery",)
    assert {c.seeds for c in declared} == {5}
    specs = registry.expand("claims")
    assert {s.profile for s in specs} == {"mini"} and {s.seed for s in specs} == {0, 1, 2, 3, 4}
    assert {s.method for s in specs if s.task in declared[0].tasks} >= {"latco", "planet", "shooting_gd", "random"}


def test_a_suite_with_claims_gets_the_claims_table_and_figure_from_real_runs(database, tmp_path):
    """The shipped smoke runs, reported with a registry whose smoke suite declares two claims."""
    import_files([SMOKE_RUNS], database)
    out = tmp_path / "report"
    summary = write_report(database, out, "smoke", ReportOptions(bootstrap_reps=100),
                           registry_with_smoke_claims(tmp_path))
    assert {"claims.md", "claims.tex", "claims.csv", "claims_success_vs_steps.png"} <= set(summary.files)
    rows = pd.read_csv(out / "claims.csv")
    assert list(zip(rows["claim"], rows["baseline"], strict=True)) == [
        ("Claim A", "planet"), ("Claim A", "shooting_gd"), ("Claim B", "latco")]
    # One seed per cell at smoke size: no interval, so no verdict can be reached.
    assert set(rows["verdict"]) == {"inconclusive"} and rows["low"].isna().all()
    assert "The paper's claims: verdicts" in (out / "index.md").read_text()

    # A verdict counts completed runs only: an unfinished LatCo run leaves its cells, and says so.
    database.database().runs.update_one({"config.task": "mw_reach", "config.method": "latco"},
                                        {"$set": {"status": "INTERRUPTED"}})
    write_report(database, tmp_path / "unfinished", "smoke", ReportOptions(bootstrap_reps=100),
                 registry_with_smoke_claims(tmp_path / "again"))
    rows = pd.read_csv(tmp_path / "unfinished" / "claims.csv")
    assert list(rows.loc[rows["claim"] == "Claim A", "method_seeds"]) == [0, 0]
    assert list(rows.loc[rows["claim"] == "Claim B", "baseline_seeds"]) == [1]
    assert "Completed runs only: 1 unfinished run of these cells" in (tmp_path / "unfinished" / "claims.md").read_text()
