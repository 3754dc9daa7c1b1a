"""The command line as users type it: listing, dry runs and one-line errors."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

EXPECTED_NAMES = {
    "tasks": ["dmc_cheetah", "dmc_quadruped", "dmc_reacher", "mw_button", "mw_drawer", "mw_hammer",
              "mw_push", "mw_reach", "mw_thermos", "mw_window", "pm_lottery", "pm_reach"],
    "methods": ["dreamer", "latco", "mppi", "planet", "platco", "random", "shooting_gd", "shooting_gn"],
    "ablations": ["image_colloc", "latco_first_order", "latco_no_constraint", "latco_no_relax",
                  "latco_restarts"],
}


def test_list_json_has_exactly_the_registry_names(tmp_path):
    result = run_cli("list", "--json", results=tmp_path)
    assert result.returncode == 0, result.stderr
    names = json.loads(result.stdout)
    assert set(names) == {"tasks", "methods", "ablations", "suites", "profiles"}
    for kind, expected in EXPECTED_NAMES.items():
        assert sorted(names[kind]) == expected
    assert {"smoke", "paper", "ablations"} <= set(names["suites"])
    assert set(names["profiles"]) == {"mini", "paper", "smoke"}


def test_dry_run_prints_the_grid_and_starts_nothing(tmp_path):
    result = run_cli("run", "--suite", "paper", "--tasks", "mw_reach", "--methods", "latco", "planet",
                     "--dry-run", results=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "6 runs" in result.stdout
    assert "paper/mw_reach/planet/seed2/paper" in result.stdout.replace("\n", "")
    assert not (tmp_path / "db").exists()


def test_errors_are_one_line_with_exit_code_2(tmp_path):
    cases = [
        (("run", "--suite", "smoke", "--tasks", "mw_nope", "--dry-run"), "task 'mw_nope' is not in suite 'smoke'"),
        (("run", "--suite", "nope", "--dry-run"), "unknown suite 'nope'"),
        (("run", "--suite", "smoke", "--dry-run", "stepz=3"), "command line: unknown key 'stepz'; did you mean 'steps'"),
        (("run", "--suite", "smoke", "--dry-run", "steps=lots"), "key 'steps' must be an integer"),
    ]
    for args, expected in cases:
        result = run_cli(*args, results=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_unreachable_database_url_fails_before_running(tmp_path):
    result = run_cli("run", "--suite", "smoke", "--mongo-url", "mongodb://127.0.0.1:9/", results=tmp_path)
    assert result.returncode == 2
    assert "MongoDB at mongodb://127.0.0.1:9/ is unreachable" in result.stderr
    assert "db start" in result.stderr


def test_a_planner_without_a_speed_figure_says_whose_iteration_its_estimate_borrows(tmp_path):
    from benchmark.config import load_yaml_mapping
    from benchmark.estimates import FIGURES_PATH, figures_source, seconds_from_figures
    from benchmark.registry import Registry

    registry = Registry.load()
    figures = load_yaml_mapping(FIGURES_PATH)
    config = {name: registry.resolve_config("pm_lottery", name, "paper") for name in ("latco", "planet", "mppi")}
    assert [figures_source(c, figures) for c in config.values()] == ["figures"] * 3
    del figures["plan_iteration_s"]["mppi"]  # a sampling planner borrows CEM's figure, scaled by its samples
    assert figures_source(config["mppi"], figures) == "figures (cem's iteration: no figure for mppi)"
    assert seconds_from_figures(config["mppi"], figures) == pytest.approx(seconds_from_figures(config["planet"], figures))

    result = run_cli("run", "--suite", "smoke", "--methods", "shooting_gd", "--tasks", "pm_lottery", "--dry-run",
                     results=tmp_path, extra_env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "/pm_lottery/shooting_gd/seed" in line]
    assert rows and all("figures (latco's iteration: no figure for shooting_gd)" in row for row in rows)


def test_dry_run_estimates_each_run_from_the_benchmark_figures_and_totals_gpu_hours(tmp_path):
    from benchmark.config import load_yaml_mapping
    from benchmark.estimates import FIGURES_PATH, seconds_from_figures
    from benchmark.registry import Registry

    registry = Registry.load()
    figures = load_yaml_mapping(FIGURES_PATH)
    latco = registry.resolve_config("pm_lottery", "latco", "paper")
    # 20 s start-up + 50,000 steps at 2000/s; (50,000 - 1000) / 50 x 10 + 100 updates of 4.2 s;
    # 5000 plans x 200 iterations x 60 ms x horizon 20/30.
    assert seconds_from_figures(latco, figures) == pytest.approx(45 + 9900 * 4.2 + 5000 * 200 * 0.04)
    assert seconds_from_figures(registry.resolve_config("pm_lottery", "random", "paper"), figures) == pytest.approx(45)

    result = run_cli("run", "--suite", "lottery", "--methods", "random", "--seeds", "0", "1", "--dry-run",
                     "--launcher", "slurm", "--cluster", "gpu-example", results=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if "lottery/pm_lottery/random/seed" in line]
    assert len(rows) == 2 and all("45 s" in row and "figures" in row for row in rows)
    assert "estimated total: 0.025 run-hours, 0.025 GPU-hours (1 GPU per run); estimates: 2 from benchmark figures" \
        in result.stdout
    assert not (tmp_path / "db").exists()


def test_a_mistyped_method_suggests_the_closest_registry_name(tmp_path):
    result = run_cli("run", "--suite", "smoke", "--methods", "latko", "--dry-run", results=tmp_path)
    assert result.returncode == 2
    assert "method or ablation 'latko' is not in the registry (did you mean 'latco'?)" in result.stderr
