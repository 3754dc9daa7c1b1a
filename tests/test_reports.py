"""The report generator on synthetic runs with known values, stored in the real embedded server.

Runs are inserted in Sacred's MongoObserver format (collections ``runs`` and ``metrics``), so
the report reads them exactly as it reads real runs. Expected numbers are worked out by hand
in the comments next to each run.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from benchmark.database import MongoTarget
from benchmark.errors import ConfigError
from benchmark.registry import REGISTRY_ROOT, Registry
from reports import aggregate, figures, tables
from reports.generate import ReportOptions, write_report
from reports.mongo_runs import Selection, load_run_data
from reports.presentation import SPARE_COLOURS, Catalogue, family_of
from reports.references import DEFAULT_PATH, Reference, load_references, parse_references

NOW = dt.datetime(2026, 1, 1, 12, 0)
EPISODE = 50  # env steps per synthetic episode


class Runs:
    """Inserts Sacred-format run records and metrics with consecutive ids."""

    def __init__(self, target: MongoTarget, suite: str = "synthetic", profile: str = "smoke"):
        self.db = target.database()
        self.suite, self.profile = suite, profile
        self.next_id = 1

    def add(self, task: str, method: str, seed: int, metrics: dict[str, tuple[list, list]],
            status: str = "COMPLETED", budget: int = 1000, config_hash: str | None = None, **extra) -> int:
        run_id, self.next_id = self.next_id, self.next_id + 1
        family = family_of(task)
        config = {"suite": self.suite, "task": task, "method": method, "seed": seed, "profile": self.profile,
                  "run_key": f"{self.suite}/{task}/{method}/seed{seed}/{self.profile}",
                  "config_hash": config_hash or f"hash{run_id:012d}", "env_family": family, "steps": budget}
        self.db.runs.insert_one({"_id": run_id, "status": status, "config": config, "heartbeat": NOW,
                                 "start_time": NOW, "meta": {"git_commit": "abc1234"}, **extra})
        for name, (steps, values) in metrics.items():
            self.db.metrics.insert_one({"run_id": run_id, "name": name, "steps": list(steps),
                                        "values": [float(v) for v in values], "timestamps": [NOW] * len(steps)})
        return run_id


def episodes(successes_in_last_10: int, count: int = 20) -> tuple[list, list]:
    """``count`` episodes of 50 steps: all failures, then the last 10 with this many successes first."""
    values = [0.0] * (count - 10) + [1.0] * successes_in_last_10 + [0.0] * (10 - successes_in_last_10)
    return [EPISODE * (i + 1) for i in range(count)], values


def returns(final: float, count: int = 20) -> tuple[list, list]:
    """Returns rising to ``final``, constant over the last 10 episodes (so the final value is ``final``)."""
    values = list(np.linspace(0, final, count - 10, endpoint=False)) + [final] * 10
    return [EPISODE * (i + 1) for i in range(count)], values


@pytest.fixture(scope="module")
def rich(server, tmp_path_factory):
    """One report over a database with every kind of run; generated once for the module's tests."""
    target = MongoTarget(server.url, f"test_{uuid.uuid4().hex[:10]}")
    runs = Runs(target)
    # A superseded record (same run key, older config hash): must be ignored, not listed as failed.
    runs.add("mw_reach", "latco", 0, {"train/success": episodes(0, 3)}, status="FAILED", config_hash="old",
             fail_trace=["Traceback", "OldError: stale record"])
    # mw_reach / latco: finals .6 .7 .8 -> mean .7, sem = std(ddof0) .08165 / sqrt 3 = .0471 -> "70 ± 5%".
    for seed, k in enumerate((6, 7, 8)):
        opt = {}
        if seed < 2:  # two runs with opt/ curves; 2 plans each, the second 3x the first
            iterations = [0, 1, 2, 3, 0, 1, 2, 3]
            violation = [1.0, 0.1, 0.01, 0.001, 3.0, 0.3, 0.03, 0.003]
            opt = {"opt/dynamics_violation": (iterations, violation),
                   "opt/lambda_mean": (iterations, [1, 2, 4, 8, 1, 2, 4, 8])}
        runs.add("mw_reach", "latco", seed, {"train/success": episodes(k), **opt,
                                             "plan/dynamics_violation": returns(0.01 * (seed + 1))})
    # mw_reach / planet, 2 seeds: .2 .4 -> mean .3, sem .1/sqrt 2 = .0707 -> "30 ± 7%" (‡: 2 seeds).
    for seed, k in enumerate((2, 4)):
        runs.add("mw_reach", "planet", seed, {"train/success": episodes(k)})
    # mw_reach / latco_no_relax: .1 .2 .3 -> "20 ± 5%".
    for seed, k in enumerate((1, 2, 3)):
        runs.add("mw_reach", "latco_no_relax", seed, {"train/success": episodes(k)})
    # mw_push / latco: .5 .5 .5 and an interrupted 4th seed at .9 (12 episodes):
    # mean .6, std = sqrt(.12 / 4) = .1732, sem = .0866 -> "60 ± 9%" with † (unfinished) and ‡ (4 seeds).
    for seed in range(3):
        runs.add("mw_push", "latco", seed, {"train/success": episodes(5)})
    runs.add("mw_push", "latco", 3, {"train/success": episodes(9, count=12)}, status="INTERRUPTED")
    # mw_push / planet: .9 .9 .6 -> mean .8, std sqrt(.02) = .1414, sem .0816 -> "80 ± 8%", best on Push.
    for seed, k in enumerate((9, 9, 6)):
        runs.add("mw_push", "planet", seed, {"train/success": episodes(k)})
    # A failed run: listed with its error, not scored.
    runs.add("mw_push", "mppi", 0, {"train/success": episodes(0, 2)}, status="FAILED",
             fail_trace=["Traceback (most recent call last):\n", "  File x\n", "DeliberateFailure: boom at 60\n"])
    # dmc_cheetah: latco 800 820 840 -> "820 ± 9"; planet 500 500 530 -> "510 ± 8".
    for seed, final in enumerate((800, 820, 840)):
        runs.add("dmc_cheetah", "latco", seed, {"train/return": returns(final), "eval/return": returns(final)})
    for seed, final in enumerate((500, 500, 530)):
        runs.add("dmc_cheetah", "planet", seed, {"train/return": returns(final), "eval/return": returns(final)})
    out = tmp_path_factory.mktemp("rich_report")
    summary = write_report(target, out, "synthetic", ReportOptions(bootstrap_reps=200))
    return {"target": target, "out": out, "summary": summary, "index": (out / "index.md").read_text()}


def test_pointmass_report_scores_reach_by_success_and_tabulates_lottery_choices(server, tmp_path):
    """pm_reach names success as its score; the lottery's choice rates of the last 20 episodes."""
    target = MongoTarget(server.url, f"test_{uuid.uuid4().hex[:10]}")
    runs = Runs(target, suite="learn", profile="mini")
    # pm_reach / latco: 9 and 7 of the last 10 succeed -> 80 ± 7% (population std / sqrt n); runs of 6 and 10 minutes -> 8.0.
    for seed, (k, minutes) in enumerate(((9, 6), (7, 10))):
        run_id = runs.add("pm_reach", "latco", seed, {"train/success": episodes(k), "train/return": returns(5.0)},
                          stop_time=NOW + dt.timedelta(minutes=minutes))
        runs.db.runs.update_one({"_id": run_id}, {"$set": {"config.score_metric": "success"}})
    # pm_lottery / platco, 25 episodes: the last 20 are 15 safe, 5 risky (both seeds) -> 75% / 25% / 0%.
    steps = [EPISODE * (i + 1) for i in range(25)]
    choices = {"safe": [0] * 5 + [1] * 15 + [0] * 5, "risky": [0] * 20 + [1] * 5, "none": [1] * 5 + [0] * 20}
    for seed in range(2):
        runs.add("pm_lottery", "platco", seed, {"train/return": returns(1.0, 25),
                                                **{f"train/choose_{c}": (steps, v) for c, v in choices.items()}})
    summary = write_report(target, tmp_path, "learn", ReportOptions(bootstrap_reps=50))
    index = summary.index.read_text()
    assert "| pm_reach | latco | train/success | 80 ± 7% | 2 | 0 | 8.0 | – |" in index
    rows = _table_rows((tmp_path / "lottery_choices.md").read_text())
    assert rows["Prob. LatCo"] == ["75 ± 0%", "25 ± 0%", "0 ± 0%", "2"]
    assert (tmp_path / "success_vs_steps.png").exists()


def _table_rows(markdown: str) -> dict[str, list[str]]:
    """First column -> the other cells, from a Markdown table file."""
    rows = {}
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| Method") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def _registry_with(tmp_path: Path, files: dict[str, str]) -> Registry:
    """The project's registry plus ``files`` (path under benchmark/ -> YAML text), loaded from a copy."""
    root = tmp_path / "benchmark"
    shutil.copytree(REGISTRY_ROOT, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    for name, text in files.items():
        (root / name).write_text(text)
    return Registry.load(root)


def test_a_new_ablation_file_is_reported_beside_its_own_base_without_code(server, tmp_path):
    """Ablations of Prob. LatCo, one without title or colour, get their own table and figure."""
    registry = _registry_with(tmp_path, {
        "ablations/platco_wide.yaml": "base: platco\noverrides:\n  init_std: 0.1\n",
        "ablations/platco_few.yaml": "title: Prob. LatCo, 5 particles\nbase: platco\norder: 1\n"
                                     "overrides:\n  n_particles: 5\n"})
    target = MongoTarget(server.url, f"test_{uuid.uuid4().hex[:10]}")
    runs = Runs(target)
    # mw_reach success (sem = .1 / sqrt 2): platco .6 .8 -> "70 ± 7%"; platco_wide .2 .4 -> "30 ± 7%";
    # platco_few .5 .5 -> "50 ± 0%";
    # latco .9 .9 and latco_no_relax .1 .1 form the LatCo comparison.
    for method, ks in (("platco", (6, 8)), ("platco_wide", (2, 4)), ("platco_few", (5, 5)), ("latco", (9, 9)),
                       ("latco_no_relax", (1, 1))):
        for seed, k in enumerate(ks):
            runs.add("mw_reach", method, seed, {"train/success": episodes(k)})
    out = tmp_path / "report"
    write_report(target, out, "synthetic", ReportOptions(bootstrap_reps=50), registry=registry)
    index = (out / "index.md").read_text()
    platco = (out / "ablations_platco_final.md").read_text()
    assert platco.startswith("### Ablations of Prob. LatCo vs Prob. LatCo: final performance")
    assert _table_rows(platco) == {"Prob. LatCo": ["**70 ± 7%**"], "Prob. LatCo, 5 particles": ["50 ± 0%"],
                                   "platco_wide": ["30 ± 7%"]}
    assert list(_table_rows(platco)) == ["Prob. LatCo", "Prob. LatCo, 5 particles", "platco_wide"]
    assert _table_rows((out / "ablations_latco_final.md").read_text()) == {
        "LatCo": ["**90 ± 0%**"], "LatCo, no relaxation": ["10 ± 0%"]}
    assert set(_table_rows((out / "final_success.md").read_text())) == {"LatCo", "Prob. LatCo"}
    assert "**Ablations of Prob. LatCo vs Prob. LatCo.**" in index and (out / "ablations_platco_vs_steps.png").exists()
    assert "(ablations_latco_vs_steps.png)" in index


def test_titles_colours_and_order_come_from_the_registry_files(tmp_path):
    registry = _registry_with(tmp_path, {
        "methods/zeta.yaml": 'title: Zeta planner\ncolour: "#123456"\norder: 0.5\nconfig:\n  agent: latco\n',
        "methods/alpha.yaml": "config:\n  agent: random\n",
        "ablations/zeta_fast.yaml": "base: zeta\noverrides:\n  init_lam: 2.0\n"})
    catalogue = Catalogue.from_registry(registry)
    assert catalogue.title("planet") == "PlaNet (CEM)" and catalogue.title("alpha") == "alpha"
    assert catalogue.order(["gone", "latco_no_relax", "zeta_fast", "alpha", "random", "zeta", "latco"]) == [
        "zeta", "latco", "random", "alpha", "zeta_fast", "latco_no_relax", "gone"]
    colours = catalogue.colours_for(["latco", "zeta", "alpha", "zeta_fast", "gone"])
    assert (colours["latco"], colours["zeta"]) == ("#d62728", "#123456")
    assert [colours[m] for m in ("alpha", "gone", "zeta_fast")] == SPARE_COLOURS[:3]
    shipped = Catalogue.from_registry(Registry.load())
    assert len(set(shipped.colours.values())) == len(shipped.colours) == len(registry.runnable()) - 3
    assert not set(SPARE_COLOURS) & set(shipped.colours.values())


def test_task_titles_and_order_come_from_the_task_files(tmp_path):
    registry = _registry_with(tmp_path, {
        "tasks/pm_reach_far.yaml": "title: Pointmass reach, far\norder: 10.5\nconfig:\n  env_family: pointmass\n"
                                   "  env_name: reach\n"})
    catalogue = Catalogue.from_registry(registry)
    assert catalogue.task_title("pm_reach_far") == "Pointmass reach, far"
    assert catalogue.task_title("dmc_cheetah") == "Cheetah Run" and catalogue.task_title("gone") == "gone"
    assert catalogue.order_tasks(["gone", "pm_lottery", "pm_reach_far", "pm_reach", "mw_push", "mw_reach"]) == [
        "mw_reach", "mw_push", "pm_reach_far", "pm_reach", "pm_lottery", "gone"]


def test_a_task_title_must_be_text(tmp_path):
    with pytest.raises(ConfigError, match=r"pm_x.yaml: title 3 must be a non-empty text"):
        _registry_with(tmp_path, {"tasks/pm_x.yaml": "title: 3\nconfig:\n  env_family: pointmass\n"})


def test_an_unquoted_colour_is_a_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match=r"latco_x.yaml: colour None must be a quoted hex colour, e\.g\. "
                                          r'colour: "#d62728" \(unquoted, YAML reads # as a comment\)'):
        _registry_with(tmp_path, {"ablations/latco_x.yaml": "colour: #d62728\nbase: latco\n"})


# --- loading ---------------------------------------------------------------------------------------

def test_loader_gives_one_tidy_frame_and_marks_superseded_records(rich):
    data = load_run_data(rich["target"], Selection(suite="synthetic"))
    assert list(data.metrics.columns) == ["run_id", "run_key", "metric", "step", "value"]
    assert int(data.runs["superseded"].sum()) == 1
    assert len(data.current) == len(data.runs) - 1
    reach = data.metrics[(data.metrics["run_key"] == "synthetic/mw_reach/latco/seed1/smoke")
                         & (data.metrics["metric"] == "train/success")]
    assert reach["step"].tolist() == [50.0 * i for i in range(1, 21)]
    assert reach["value"].sum() == 7
    interrupted = data.current[data.current["status"] == "INTERRUPTED"].iloc[0]
    assert interrupted["last_step"] == 600 and interrupted["budget_steps"] == 1000


def test_loader_filters_by_task_method_and_status(rich):
    data = load_run_data(rich["target"], Selection("synthetic", tasks=("mw_push",), methods=("latco", "mppi"),
                                                   statuses=("COMPLETED", "FAILED")))
    assert sorted(data.current["status"].value_counts().items()) == [("COMPLETED", 3), ("FAILED", 1)]
    assert set(data.current["task"]) == {"mw_push"}


# --- tables ------------------------------------------------------------------------------------------

def test_final_success_table_has_every_cell_as_the_original_computes_it(rich):
    rows = _table_rows((rich["out"] / "final_success.md").read_text())
    assert rows == {"LatCo": ["**70 ± 5%**", "60 ± 9%†‡"], "PlaNet (CEM)": ["30 ± 7%‡", "**80 ± 8%**"]}
    text = (rich["out"] / "final_success.md").read_text()
    assert "Seeds per cell: 3, except (‡) Push / LatCo: 4; Reach / PlaNet (CEM): 2." in text
    assert "† includes unfinished runs" in text


def test_final_return_and_ablation_tables(rich):
    assert _table_rows((rich["out"] / "final_return.md").read_text()) == {
        "LatCo": ["**820 ± 9**"], "PlaNet (CEM)": ["510 ± 8"]}
    ablations = (rich["out"] / "ablations_latco_final.md").read_text()
    assert _table_rows(ablations) == {"LatCo": ["**70 ± 5%**"], "LatCo, no relaxation": ["20 ± 5%"]}
    assert ablations.startswith("### Ablations of LatCo vs LatCo: final performance")


def test_latex_tables_use_booktabs_and_escape_units(rich):
    tex = (rich["out"] / "final_success.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"\textbf{70 $\pm$ 5\%}" in tex
    assert r"60 $\pm$ 9\%$^\dagger$$^\ddagger$" in tex


def test_cell_summary_numbers(rich):
    data = load_run_data(rich["target"], Selection(suite="synthetic"))
    scored = data.current[data.current["status"] != "FAILED"]
    metric = {r.run_id: "train/return" if r.task.startswith("dmc") else "train/success" for r in scored.itertuples()}
    cells = aggregate.cell_summary(aggregate.final_per_run(scored, data.metrics, metric)).set_index(["task", "method"])
    push = cells.loc[("mw_push", "latco")]
    assert push["mean"] == pytest.approx(0.6) and push["sem"] == pytest.approx(math.sqrt(0.03) / 2)
    assert push["n"] == 4 and push["n_incomplete"] == 1
    assert cells.loc[("mw_reach", "planet"), "sem"] == pytest.approx(0.1 / math.sqrt(2))
    assert cells.loc[("dmc_cheetah", "latco"), "mean"] == pytest.approx(820)


def test_standard_error_is_population_std_over_sqrt_n_and_undefined_for_one_seed():
    assert aggregate.standard_error([0.6, 0.7, 0.8]) == pytest.approx(np.std([0.6, 0.7, 0.8]) / math.sqrt(3))
    assert math.isnan(aggregate.standard_error([0.5]))
    assert tables.format_score(0.5, math.nan, "metaworld") == "50%"
    assert tables.format_score(812.4, 12.4, "dmc") == "812 ± 12"
    assert tables.format_score(0.666, 0.09, "metaworld") == "67 ± 9%"


def test_final_value_is_the_mean_of_the_last_ten_episodes_by_step():
    steps = [300, 100, 200] + list(range(400, 1400, 100))
    values = [1, 5, 5] + [0] * 10
    assert aggregate.final_value(steps, values) == 0.0  # steps 100-300 are the oldest
    assert aggregate.final_value([1, 2, 3], [0, 1, 1]) == pytest.approx(2 / 3)  # fewer than 10: all


def test_reference_numbers_appear_beside_the_reproduced_values():
    cells = pd.DataFrame([{"task": "mw_reach", "method": "latco", "metric": "train/success", "mean": 0.7,
                           "sem": 0.05, "n": 3, "n_incomplete": 0}])
    reference = Reference("mw_reach", "latco", 75, 5, "paper, Table 1")
    table = tables.final_performance_table(cells, ["mw_reach"], ["latco"], {"mw_reach": "metaworld"}, "t", "T",
                                           [reference])
    assert table.column("Reach") == ["70 ± 5%", "75 ± 5%"]
    assert table.rows[1][0].text == "LatCo (reported)" and table.rows[1][1].italic
    assert "paper, Table 1" in table.notes[-1]


def test_reference_file_template_is_empty_and_errors_are_one_line(tmp_path):
    references, note = load_references(None)
    assert DEFAULT_PATH.exists() and references == [] and "no entries" in note
    with pytest.raises(ConfigError, match="entry 1: missing 'value'"):
        parse_references({"references": [{"task": "mw_reach", "method": "latco"}]})
    with pytest.raises(ConfigError, match="unknown field 'std'"):
        parse_references([{"task": "mw_reach", "method": "latco", "value": 1, "std": 2}])
    with pytest.raises(ConfigError, match="not found"):
        load_references(tmp_path / "missing.yaml")
    path = tmp_path / "refs.yaml"
    path.write_text("references:\n  - {task: dmc_cheetah, method: latco, value: 812, spread: 12, source: x}\n")
    assert load_references(path)[0] == [Reference("dmc_cheetah", "latco", 812.0, 12.0, "x")]


# --- binning and aggregates -------------------------------------------------------------------------

def test_bins_are_right_closed_and_shrink_for_short_runs():
    assert aggregate.bin_ends(np.array([0, 1, 30_000, 30_001]), 30_000).tolist() == [30_000, 30_000, 30_000, 60_000]
    assert aggregate.effective_bin_width(30_000, 300_000) == 30_000
    assert aggregate.effective_bin_width(30_000, 1000) == 200  # 1000 / 5 bins
    assert aggregate.effective_bin_width(30_000, 300) == 50
    assert aggregate.nice_width(730) == 500 and aggregate.nice_width(260) == 250 and aggregate.nice_width(0.3) == 1


def test_seed_curves_average_within_bins_then_across_seeds():
    points = pd.DataFrame({
        "run_id": [1, 1, 1, 2, 2],
        "task": "mw_reach", "method": "latco",
        "step": [50, 100, 150, 100, 200],
        "value": [0.0, 1.0, 1.0, 0.0, 1.0],
    })
    curves = aggregate.seed_curves(points, width=100).set_index("step")
    # bin 100: run 1 mean(0, 1) = .5, run 2 mean(0) = 0 -> mean .25, std .25
    assert curves.loc[100, "mean"] == pytest.approx(0.25) and curves.loc[100, "high"] == pytest.approx(0.5)
    assert curves.loc[100, "n"] == 2
    # bin 200: run 1 1.0, run 2 1.0 -> std 0; both runs
    assert curves.loc[200, "mean"] == 1.0 and curves.loc[200, "low"] == 1.0
    single = aggregate.seed_curves(points[points["run_id"] == 1], width=100)
    assert single["low"].isna().all()  # one seed: no band


def test_bootstrap_band_contains_the_true_mean():
    rng = np.random.default_rng(1)
    samples = rng.normal(0.5, 0.1, size=30)
    points = pd.DataFrame({"run_id": range(30), "task": "t", "method": "m", "step": 10, "value": samples})
    band = aggregate.seed_curves(points, width=10, interval="bootstrap", reps=500).iloc[0]
    assert band["low"] < 0.5 < band["high"] and band["high"] - band["low"] < 0.1


def test_iqm_and_its_stratified_bootstrap_interval_contain_the_true_value():
    rng = np.random.default_rng(0)
    truth = 0.6
    scores = np.clip(rng.normal(truth, 0.1, size=(10, 3)), 0, 1)  # 10 runs x 3 tasks, symmetric around .6
    scores[0, 0] = 0.0  # an outlier the IQM ignores
    assert aggregate.iqm(scores) == pytest.approx(np.sort(scores.ravel())[7:23].mean())
    taus = np.linspace(0, 1, 11)
    stats, profiles = aggregate.aggregate_with_intervals({"latco": scores}, taus, reps=300)
    for statistic in ("IQM", "mean"):
        row = stats[stats["statistic"] == statistic].iloc[0]
        assert row["low"] < truth < row["high"], (statistic, row)
    from rliable import library

    assert np.allclose(aggregate.score_distribution(scores, taus), library.score_distributions(scores, taus))
    assert profiles["fraction"].iloc[0] == pytest.approx(29 / 30)  # all but the outlier score above 0
    assert profiles["fraction"].iloc[-1] == 0.0


def test_aggregate_intervals_depend_on_the_seed_only_and_leave_numpy_alone():
    scores = np.array([[0.80], [0.82], [0.84], [0.90]])
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    first, _ = aggregate.aggregate_with_intervals({"latco": scores}, np.linspace(0, 1, 5), reps=200, seed=3)
    assert (np.random.get_state()[1] == before).all()
    np.random.random(10)  # another global draw in between changes nothing
    again, _ = aggregate.aggregate_with_intervals({"latco": scores}, np.linspace(0, 1, 5), reps=200, seed=3)
    other, _ = aggregate.aggregate_with_intervals({"latco": scores}, np.linspace(0, 1, 5), reps=200, seed=4)
    pd.testing.assert_frame_equal(first, again)
    assert not first[["low", "high"]].equals(other[["low", "high"]])


def test_score_matrices_cut_methods_to_their_common_seed_count():
    finals = pd.DataFrame({"task": ["a", "a", "a", "b", "b"], "method": "m", "seed": [0, 1, 2, 0, 1],
                           "final": [1.0, 2.0, 3.0, 4.0, 5.0]})
    matrices, notes = aggregate.score_matrices(finals, ["a", "b"], ["m", "absent"], scale=10.0)
    assert matrices["m"].tolist() == [[0.1, 0.4], [0.2, 0.5]]
    assert "m: 2 seeds per task used" in notes[0] and "absent: left out" in notes[1]


def test_plans_are_split_where_the_iteration_resets():
    assert aggregate.plan_index(np.array([0, 1, 2, 0, 1, 2, 0])).tolist() == [0, 0, 0, 1, 1, 1, 2]


# --- figures ----------------------------------------------------------------------------------------

def test_learning_curve_figure_has_one_titled_panel_per_task():
    curves = pd.DataFrame({"task": ["mw_reach"] * 2 + ["mw_push"] * 2 + ["mw_drawer"] * 2, "method": "latco",
                           "step": [100, 200] * 3, "mean": 0.5, "low": 0.4, "high": 0.6, "n": 3})
    tasks = ["mw_reach", "mw_push", "mw_drawer"]
    fig = figures.learning_curves_figure(curves, tasks, ["latco"], {"latco": "#d62728"}, "T",
                                         {t: ("success (%)", 100.0) for t in tasks})
    assert [ax.get_title() for ax in fig.axes] == ["Reach", "Push", "Drawer"]
    assert fig.axes[0].get_ylim() == (-3, 103)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["LatCo"]
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_report_writes_every_figure_as_valid_png_and_pdf_with_the_expected_size(rich):
    import matplotlib.image

    out = rich["out"]
    expected_panels = {"success_vs_steps": 2, "return_vs_steps": 1, "ablations_latco_vs_steps": 1, "eval_vs_steps": 1,
                       "plan_dynamics_violation_vs_steps": 1, "optimisation_curves": 2}
    for stem, panels in expected_panels.items():
        image = matplotlib.image.imread(out / f"{stem}.png")
        columns = min(panels, figures.MAX_COLUMNS)
        assert image.shape[1] == round(figures.figure_width(columns) * figures.DPI), stem
        assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-", stem
        assert f"({stem}.png)" in rich["index"]
    for stem in ("aggregate_iqm_metaworld", "performance_profile_metaworld", "aggregate_iqm_dmc"):
        assert matplotlib.image.imread(out / f"{stem}.png").shape[0] > 100
    assert (out / "index.html").read_text().count("<img ") == len(expected_panels) + 4


def test_optimisation_curves_average_plans_per_iteration(rich):
    data = load_run_data(rich["target"], Selection(suite="synthetic"))
    opt = data.metrics[data.metrics["metric"].str.startswith("opt/")].merge(
        data.current[["run_id", "task", "method"]], on="run_id")
    curves = aggregate.optimisation_curves(opt)
    violation = curves[curves["metric"] == "opt/dynamics_violation"].set_index("iteration")
    assert violation["mean"].tolist() == pytest.approx([2.0, 0.2, 0.02, 0.002])  # mean of 1x and 3x
    assert violation["n"].tolist() == [2, 2, 2, 2]
    assert "4 plan curves in all" in rich["index"]


# --- index and runs --------------------------------------------------------------------------------

def test_index_lists_failed_and_unfinished_runs_and_provenance(rich):
    index = rich["index"]
    assert "`synthetic/mw_push/mppi/seed0/smoke` (run " in index and "DeliberateFailure: boom at 60" in index
    assert "OldError" not in index  # the superseded record
    assert "INTERRUPTED, last step 600 of 1000, scored up to there (†)" in index
    assert "1 older records of the same run keys (another config) ignored" in index
    assert "`abc1234` (22 runs)" in index and "Database `test_" in index
    assert "| mw_push | latco | train/success | 60 ± 9% | 4 | 1 | 0.0 | – |" in index
    runs = pd.read_csv(rich["out"] / "runs.csv")
    assert len(runs) == 22 and set(runs["status"]) == {"COMPLETED", "INTERRUPTED", "FAILED"}
    html = (rich["out"] / "index.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<b>70 ± 5%</b>" in html and 'href="final_success.tex"' in html


def test_single_seed_report_says_so_and_regenerating_replaces_files_atomically(database, tmp_path):
    runs = Runs(database)
    runs.add("mw_reach", "latco", 0, {"train/success": episodes(4)})
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a user's file: never touched
    (out / ".report-files").write_text("old_figure.png")
    (out / "old_figure.png").write_bytes(b"stale")  # written by an earlier report, no longer produced
    summary = write_report(database, out, None, ReportOptions(bootstrap_reps=50))
    index = (out / "index.md").read_text()
    assert summary.runs == 1
    assert "One seed per cell: tables show means without standard errors" in index
    assert "One seed per method: no band." in index
    assert _table_rows((out / "final_success.md").read_text()) == {"LatCo": ["40%"]}
    assert not (out / "old_figure.png").exists() and (out / "notes.txt").read_text() == "mine"
    first = (out / "success_vs_steps.png").stat().st_ino
    write_report(database, out, None, ReportOptions(bootstrap_reps=50))
    assert (out / "success_vs_steps.png").stat().st_ino != first  # replaced by os.replace, not rewritten
    assert not [p for p in out.iterdir() if p.name.startswith(".staging-")]


def test_empty_database_gives_a_clear_message_and_exit_code_0(database, results_dir, tmp_path):
    out = tmp_path / "empty"
    result = run_cli("report", "--suite", "nothing", "--out", str(out), results=results_dir,
                     db_name=database.db_name)
    assert result.returncode == 0, result.stderr
    assert "No runs in database" in result.stdout and "nothing to report" in result.stdout
    assert "No runs in database" in (out / "index.md").read_text()
    assert (out / "index.html").exists()
