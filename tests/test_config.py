"""Config files and resolution: wrong input fails early with one line naming the fix."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import copy_registry

from benchmark.config import (
    ENV_FAMILIES,
    EVALUATION_ONLY,
    KEYS_HASHED_SINCE_THE_START,
    check_overrides,
    config_hash,
    load_defaults,
    parse_cli_overrides,
    parse_yaml_text,
    section_keys,
    section_of,
)
from benchmark.errors import ConfigError
from benchmark.registry import Registry
from envs.families import FAMILIES


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load()


def test_scientific_notation_without_dot_is_a_float():
    assert parse_yaml_text("a: 1e-4\nb: 3e5\nc: 1.0e8", "x") == {"a": 1e-4, "b": 3e5, "c": 1e8}


def test_unknown_key_names_the_source_and_suggests_the_closest_key():
    with pytest.raises(ConfigError) as error:
        check_overrides({"planing_horizon": 3}, load_defaults(), "command line")
    message = str(error.value)
    assert "command line" in message and "'planing_horizon'" in message
    assert "did you mean 'planning_horizon'" in message
    assert "\n" not in message


def test_wrong_type_names_the_key_the_value_and_the_expected_type():
    with pytest.raises(ConfigError, match=r"key 'steps' must be an integer, got 'many'"):
        check_overrides({"steps": "many"}, load_defaults(), "x.yaml")
    with pytest.raises(ConfigError, match="true or false"):
        check_overrides({"sparse_reward": 1}, load_defaults(), "x.yaml")


def test_a_value_outside_its_choices_names_them():
    with pytest.raises(ConfigError, match=r"key 'precision' must be one of float32, mixed_bfloat16; got 'float16'"):
        check_overrides({"precision": "float16"}, load_defaults(), "command line")
    assert check_overrides({"precision": "mixed_bfloat16"}, load_defaults(), "x") == {"precision": "mixed_bfloat16"}


def test_integers_are_accepted_where_floats_are_expected():
    assert check_overrides({"init_lam": 100000000}, load_defaults(), "x") == {"init_lam": 1e8}


def test_every_key_has_one_section_and_runs_see_the_keys_flat():
    defaults = load_defaults()
    assert section_of("dyn_threshold") == "collocation" and section_of("env_name") == "task"
    assert section_of("cem_samples") == "shooting" and section_of("agent") == "method"
    assert "collocation" not in defaults and "dyn_threshold" in defaults
    sections = dict.fromkeys(section_of(key) for key in defaults)
    assert sum(len(section_keys(section)) for section in sections) == len(defaults)


def test_an_unknown_key_has_no_section_and_the_error_suggests_one():
    with pytest.raises(ConfigError, match=r"unknown key 'dyn_treshold' \(did you mean 'dyn_threshold'\?\)"):
        section_of("dyn_treshold")


def test_a_key_declared_in_two_sections_fails_naming_both():
    from benchmark.config import _flatten_sections

    with pytest.raises(ConfigError, match=r"x.yaml: key 'gd_lr' is declared in sections 'shooting' and 'collocation'"):
        _flatten_sections({"shooting": {"gd_lr": 0.05}, "collocation": {"gd_lr": 0.1}}, "x.yaml")


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path):
    root = copy_registry(tmp_path)
    broken = root / "methods" / "latco.yaml"
    broken.write_text("description: fine\nconfig:\n  agent: latco\n   optimization_steps: [1,\n")
    with pytest.raises(ConfigError) as error:
        Registry.load(root)
    assert str(broken) in str(error.value) and "malformed YAML" in str(error.value)
    assert ":4" in str(error.value) or ":5" in str(error.value)


def test_unknown_key_inside_a_registry_file_fails_at_load(tmp_path: Path):
    root = copy_registry(tmp_path)
    (root / "ablations" / "my_ablation.yaml").write_text("base: latco\noverrides:\n  init_lamda: 5.0\n")
    with pytest.raises(ConfigError, match=r"my_ablation.yaml: unknown key 'init_lamda'; did you mean 'init_lam'"):
        Registry.load(root)


def test_an_ablation_is_one_file(tmp_path: Path):
    root = copy_registry(tmp_path)
    (root / "ablations" / "latco_damped.yaml").write_text("base: latco\noverrides:\n  gn_damping: 0.1\n")
    (root / "suites" / "mine.yaml").write_text(
        "profile: smoke\nseeds: [3]\nentries:\n  - tasks: [mw_push]\n    methods: [latco_damped]\n"
    )
    registry = Registry.load(root)
    [spec] = registry.expand("mine")
    assert registry.names("ablations").count("latco_damped") == 1
    assert spec.config["gn_damping"] == 0.1 and spec.config["agent"] == "latco"
    assert spec.key == "mine/mw_push/latco_damped/seed3/smoke"


def test_a_mistyped_family_or_env_family_fails_at_load_naming_the_allowed_ones(tmp_path: Path):
    root = copy_registry(tmp_path)
    latco = root / "methods" / "latco.yaml"
    latco.write_text(latco.read_text().replace("  dmc:\n", "  dcm:\n"))
    with pytest.raises(ConfigError) as error:
        Registry.load(root)
    assert str(error.value) == (f"{latco}: family_overrides key 'dcm' is not an env_family (did you mean 'dmc'?); "
                                "allowed: metaworld, dmc, pointmass")
    latco.write_text(latco.read_text().replace("  dcm:\n", "  dmc:\n"))
    reacher = root / "tasks" / "dmc_reacher.yaml"
    reacher.write_text(reacher.read_text().replace("env_family: dmc", "env_family: dm_control"))
    with pytest.raises(ConfigError, match=rf"{reacher}: key 'env_family' must be one of metaworld, dmc, pointmass; "
                                          "got 'dm_control'"):
        Registry.load(root)


def test_every_task_belongs_to_a_family_of_the_one_family_table():
    """envs/families.py is the table config checks, the env factory and reports read."""
    from envs.factory import EnvSettings, make_base

    assert ENV_FAMILIES == tuple(FAMILIES)
    for name, task in Registry.load().entries["tasks"].items():
        family = task["config"]["env_family"]
        assert family in FAMILIES and name.startswith(FAMILIES[family].task_prefix + "_"), name
    with pytest.raises(ValueError, match="unknown env_family 'atari'; use one of: metaworld, dmc, pointmass"):
        make_base(EnvSettings("atari", "pong", 64, 1, 150, False, 0), seed=0)


def test_a_task_may_not_set_a_key_of_a_method_section(tmp_path: Path):
    root = copy_registry(tmp_path)
    lottery = root / "tasks" / "pm_lottery.yaml"
    lottery.write_text(lottery.read_text() + "  dyn_threshold: 0.01\n")
    with pytest.raises(ConfigError) as error:
        Registry.load(root)
    message = str(error.value)
    assert message.startswith(f"{lottery}: key 'dyn_threshold' belongs to section 'collocation', which methods set")
    assert "family_overrides" in message and "\n" not in message


def test_a_method_may_override_a_task_key_and_its_value_wins(tmp_path: Path):
    root = copy_registry(tmp_path)
    (root / "methods" / "latco_short.yaml").write_text("config:\n  agent: latco\n  planning_horizon: 10\n")
    registry = Registry.load(root)
    specs = registry.expand("paper", tasks=["mw_push", "dmc_cheetah"], methods=["latco_short"], seeds=[0])
    assert [(spec.task, spec.config["planning_horizon"]) for spec in specs] == [("mw_push", 10), ("dmc_cheetah", 10)]
    assert specs[0].config["mpc_steps"] == 25  # the task's other keys stay


@pytest.mark.parametrize("layer", ["config", "family_overrides", "ablation"])
def test_a_method_setting_a_key_its_agent_does_not_read_fails_naming_both(tmp_path: Path, layer):
    root = copy_registry(tmp_path)
    if layer == "ablation":
        path = root / "ablations" / "planet_gd.yaml"
        path.write_text("base: planet\noverrides:\n  gd_lr: 0.5\n")
    else:
        path = root / "methods" / "cem_gd.yaml"
        extra = "  gd_lr: 0.5\n" if layer == "config" else "family_overrides:\n  dmc:\n    gd_lr: 0.5\n"
        path.write_text("config:\n  agent: cem\n" + extra)
    with pytest.raises(ConfigError) as error:
        Registry.load(root)
    message = str(error.value)
    assert message.startswith(f"{path}") and "key 'gd_lr' (section 'shooting') is not read by agent 'cem'" in message
    assert "cem_samples, cem_elite_ratio" in message and "\n" not in message


def test_an_ablation_is_checked_against_the_agent_it_switches_to(tmp_path: Path):
    root = copy_registry(tmp_path)
    path = root / "ablations" / "image_damped.yaml"
    path.write_text("base: latco\noverrides:\n  agent: image_colloc\n  gn_damping: 0.1\n")
    with pytest.raises(ConfigError, match=r"image_damped.yaml: key 'gn_damping' .* agent 'image_colloc'"):
        Registry.load(root)


def test_a_registry_method_or_ablation_runs_on_a_suite_without_editing_the_suite(tmp_path: Path):
    root = copy_registry(tmp_path)
    (root / "ablations" / "latco_damped.yaml").write_text("base: latco\noverrides:\n  gn_damping: 0.1\n")
    registry = Registry.load(root)
    [spec] = registry.expand("smoke", tasks=["mw_reach"], methods=["latco_damped"])
    assert spec.key == "smoke/mw_reach/latco_damped/seed0/smoke" and spec.config["gn_damping"] == 0.1
    assert spec.config["optimization_steps"] == 3  # the suite's profile still applies
    # Without --tasks it runs on each of the suite's tasks; a method the suite lists keeps its cells.
    assert [s.task for s in registry.expand("smoke", methods=["latco_damped"])] == ["mw_reach", "dmc_reacher", "pm_lottery"]
    assert [s.task for s in registry.expand("smoke", methods=["planet"])] == ["mw_reach", "dmc_reacher"]
    assert [s.task for s in registry.expand("smoke", tasks=["pm_lottery"], methods=["planet"])] == ["pm_lottery"]


def test_the_paper_grid_parses_the_defaults_once(monkeypatch):
    import benchmark.config as config_module

    parsed = []
    original = config_module.load_yaml_mapping
    monkeypatch.setattr(config_module, "_DEFAULTS", {})
    monkeypatch.setattr(config_module, "load_yaml_mapping",
                        lambda path: parsed.append(path) or original(path))
    assert len(Registry.load().expand("paper")) == 264
    assert parsed.count(config_module.DEFAULTS_PATH) == 1


def test_resolution_order_defaults_task_method_ablation_profile_cli(registry: Registry):
    paper = registry.resolve_config("mw_push", "latco_no_relax", "paper")
    assert paper["planning_horizon"] == 50 and paper["mpc_steps"] == 25  # task
    assert paper["optimization_steps"] == 200  # method
    assert paper["init_lam"] == 1e8  # ablation
    smoke = registry.resolve_config("mw_push", "latco_no_relax", "smoke")
    assert smoke["planning_horizon"] == 5  # profile beats task
    assert smoke["init_lam"] == 1e8  # ablation untouched by the profile
    cli = registry.resolve_config("mw_push", "latco_no_relax", "smoke", cli_overrides={"planning_horizon": 7})
    assert cli["planning_horizon"] == 7  # command line beats everything


def test_method_settings_differ_per_environment_family(registry: Registry):
    assert registry.resolve_config("mw_reach", "planet", "paper")["cem_samples"] == 10000
    assert registry.resolve_config("dmc_cheetah", "planet", "paper")["cem_samples"] == 1000
    assert registry.resolve_config("dmc_cheetah", "latco", "paper")["dyn_threshold"] == 1e-2
    assert registry.resolve_config("mw_hammer", "latco", "paper")["action_repeat"] == 2


def test_dense_metaworld_is_selectable_and_tagged(registry: Registry):
    [spec] = registry.expand("dense_mw", tasks=["mw_reach"], methods=["latco"], seeds=[0])
    assert spec.config["sparse_reward"] is False and "dense_reward" in spec.tags
    [sparse] = registry.expand("paper", tasks=["mw_reach"], methods=["latco"], seeds=[0])
    assert sparse.config["sparse_reward"] is True


def test_paper_suite_is_the_full_grid(registry: Registry):
    specs = registry.expand("paper")
    metaworld = {s.task for s in specs if s.task.startswith("mw_")}
    assert len(metaworld) == 7 and {s.seed for s in specs} == {0, 1, 2}
    assert len(specs) == (7 * 10 + 3 * 6) * 3
    assert len({s.key for s in specs}) == len(specs)


def test_mini_gives_every_planner_the_same_share_of_its_paper_iterations(registry: Registry):
    def steps(suite: str, task: str, method: str, profile: str | None = None) -> int:
        [spec] = registry.expand(suite, tasks=[task], methods=[method], seeds=[0], profile=profile)
        return spec.config["optimization_steps"]

    for method in ("latco", "planet", "mppi", "shooting_gd", "shooting_gn", "latco_first_order", "platco"):
        paper = steps("paper", "mw_reach", method)
        assert steps("paper", "mw_reach", method, profile="mini") == math.ceil(0.15 * paper - 1e-9), method
    assert steps("learn", "mw_reach", "latco") == 30 and steps("learn", "mw_reach", "planet") == 15
    assert steps("smoke", "mw_reach", "latco_first_order") == 3  # smoke's absolute count still wins


def test_a_planner_budget_scale_out_of_range_fails_naming_the_profile(tmp_path):
    root = copy_registry(tmp_path)
    mini = root / "profiles" / "mini.yaml"
    mini.write_text(mini.read_text().replace("planner_budget_scale: 0.15", "planner_budget_scale: 15"))
    with pytest.raises(ConfigError, match=r"mini.yaml: planner_budget_scale must be a number in \(0, 1\], got 15"):
        Registry.load(root)


def test_config_hash_is_stable_and_sensitive(registry: Registry):
    a = registry.expand("smoke", tasks=["mw_reach"])[0]
    b = registry.expand("smoke", tasks=["mw_reach"])[0]
    c = registry.expand("smoke", tasks=["mw_reach"], cli_overrides={"steps": 301})[0]
    assert a.config_hash == b.config_hash == config_hash(dict(a.config))
    assert a.config_hash != c.config_hash and a.key == c.key


# Hashes of runs of the paper grid and the learning suites as recorded on cab7633, before
# task_version, eval_filter and planner_version were declared: recorded runs must keep skipping.
# Two `mini` pins moved on purpose with planner_budget_scale (mini's fair iteration budgets):
# LatCo on DMC 30 -> 15 iterations, PLatCo 30 -> 8; no run of either was shipped
# (docs/protocol.md#fair-budgets-at-mini).
RECORDED_HASHES = {
    ("paper", "mw_reach", "latco"): "ce045217ad16374d",
    ("paper", "mw_push", "shooting_gd"): "036c928a67ef56de",
    ("paper", "mw_drawer", "latco_first_order"): "b6fe124d05774e5e",
    ("paper", "mw_hammer", "latco"): "0bb832c24356f8dd",
    ("paper", "mw_thermos", "platco"): "f5fe88fbc41c75d3",
    ("paper", "dmc_cheetah", "planet"): "ea0ea4323caa8c2f",
    ("paper", "dmc_quadruped", "mppi"): "09c2b156ddad2526",
    ("dense_mw", "mw_reach", "latco"): "395998121f643750",
    ("learn", "pm_reach", "latco"): "aaf7d87ffbeddd08",
    ("learn", "mw_reach", "dreamer"): "26320c03b85c65c6",
    ("learn", "dmc_reacher", "latco"): "2850748f1c57cfe5",
    ("learn_demo", "pm_reach", "latco"): "cfce308ae292c291",
    ("lottery_mini", "pm_lottery", "platco"): "c7de61bfd211654e",
}
# ... and of runs whose task changed since (task_version 2): they must run again.
STALE_HASHES = {
    ("paper", "mw_button", "latco"): "5004eb6580157831",
    ("paper", "mw_window", "planet"): "b2b29276f103543d",
}
# ... and of runs whose planner changed since (image collocation, planner_version 2, issue 20).
STALE_PLANNER_HASHES = {
    ("paper", "mw_reach", "image_colloc"): "41ef0780a90f5490",
}


def _seed0_hash(registry: Registry, suite: str, task: str, method: str, **overrides) -> str:
    [spec] = registry.expand(suite, tasks=[task], methods=[method], seeds=[0], cli_overrides=overrides)
    return spec.config_hash


@pytest.mark.parametrize("suite,task,method", list(RECORDED_HASHES))
def test_recorded_runs_keep_their_config_hash(registry: Registry, suite, task, method):
    assert _seed0_hash(registry, suite, task, method) == RECORDED_HASHES[suite, task, method]


@pytest.mark.parametrize("suite,task,method", list(STALE_HASHES))
def test_runs_of_a_changed_task_get_a_new_config_hash(registry: Registry, suite, task, method):
    [spec] = registry.expand(suite, tasks=[task], methods=[method], seeds=[0])
    assert spec.config["task_version"] == 2
    assert spec.config_hash != STALE_HASHES[suite, task, method]
    assert _seed0_hash(registry, suite, task, method, task_version=1) == STALE_HASHES[suite, task, method]


@pytest.mark.parametrize("suite,task,method", list(STALE_PLANNER_HASHES))
def test_runs_of_a_changed_planner_get_a_new_config_hash(registry: Registry, suite, task, method):
    [spec] = registry.expand(suite, tasks=[task], methods=[method], seeds=[0])
    assert spec.config["planner_version"] == 2
    assert spec.config_hash != STALE_PLANNER_HASHES[suite, task, method]
    # The config it was recorded with: version 1 and the lam_lr tuned for it.
    old = _seed0_hash(registry, suite, task, method, planner_version=1, lam_lr=1000.0)
    assert old == STALE_PLANNER_HASHES[suite, task, method]


def test_only_image_collocation_has_a_new_planner_version(registry: Registry):
    versions = {(spec.method, spec.config["planner_version"]) for spec in registry.expand("paper")}
    assert {method for method, version in versions if version != 1} == {"image_colloc"}


# Hashes at the `smoke` and `mini` profiles (and `paper` via the pins above), recorded on afb785d
# before defaults.yaml was split into sections (issue 21): sections never enter a config.
PROFILE_HASHES = {
    ("smoke", "mw_reach", "latco", "smoke"): "3c6cb504efb3dfc9",
    ("smoke", "dmc_reacher", "planet", "smoke"): "ceaa10f85a5358d2",
    ("smoke", "pm_lottery", "platco", "smoke"): "db3bff2981019558",
    ("paper", "mw_push", "image_colloc", "smoke"): "c2473975d350f7d0",
    ("learn", "mw_reach", "dreamer", "smoke"): "6b4db4d86fe57976",
    ("paper", "mw_button", "random", "smoke"): "519232e203035d75",
    ("paper", "mw_button", "shooting_gd", "mini"): "5fd7ce7062411529",
    ("ablations", "mw_reach", "latco_first_order", "mini"): "cdf0982ec2fb2449",
    ("dmc", "dmc_cheetah", "mppi", "mini"): "7887027197c0e0e9",
    ("paper", "mw_reach", "shooting_gn", "mini"): "e37075431175f58e",
}


@pytest.mark.parametrize("suite,task,method,profile", list(PROFILE_HASHES))
def test_runs_at_every_profile_keep_their_config_hash(registry: Registry, suite, task, method, profile):
    [spec] = registry.expand(suite, tasks=[task], methods=[method], seeds=[0], profile=profile)
    assert spec.config_hash == PROFILE_HASHES[suite, task, method, profile]


def test_keys_declared_later_enter_the_hash_only_away_from_their_default(registry: Registry, tmp_path, monkeypatch):
    import benchmark.config as config_module

    assert {"task_version", "planner_version"} <= set(load_defaults()) - KEYS_HASHED_SINCE_THE_START
    recorded = RECORDED_HASHES["paper", "mw_reach", "latco"]
    assert _seed0_hash(registry, "paper", "mw_reach", "latco", task_version=1) == recorded
    assert _seed0_hash(registry, "paper", "mw_reach", "latco", task_version=3) != recorded
    assert _seed0_hash(registry, "paper", "mw_reach", "latco", planner_version=2) != recorded

    # A new planner's own key added to defaults.yaml keeps every recorded run's hash.
    extended = tmp_path / "defaults.yaml"
    extended.write_text(config_module.DEFAULTS_PATH.read_text() + "new_planner:\n  new_planner_samples: 64\n")
    monkeypatch.setattr(config_module, "DEFAULTS_PATH", extended)
    monkeypatch.setattr(config_module, "_DEFAULTS", {})
    monkeypatch.setattr(config_module, "_SECTIONS", {})
    reloaded = Registry.load()
    for (suite, task, method), expected in RECORDED_HASHES.items():
        assert _seed0_hash(reloaded, suite, task, method) == expected, (suite, task, method)
    [spec] = reloaded.expand("paper", tasks=["mw_reach"], methods=["latco"], seeds=[0])
    assert spec.config["new_planner_samples"] == 64
    assert config_hash({**spec.config, "new_planner_samples": 128}) != recorded


def test_evaluation_only_keys_never_change_the_hash_of_the_run_evaluated(registry: Registry):
    assert EVALUATION_ONLY <= set(load_defaults())
    recorded = RECORDED_HASHES["paper", "mw_reach", "latco"]
    assert _seed0_hash(registry, "paper", "mw_reach", "latco", eval_filter="single_frame") == recorded


def test_unknown_names_fail_with_the_known_ones(registry: Registry):
    with pytest.raises(ConfigError, match=r"unknown suite 'smok' \(did you mean 'smoke'\?\); known suites: ablations"):
        registry.expand("smok")
    with pytest.raises(ConfigError, match="task 'mw_nope' is not in suite 'smoke'"):
        registry.expand("smoke", tasks=["mw_nope"])
    with pytest.raises(ConfigError, match="unknown profile 'tiny'"):
        registry.expand("smoke", profile="tiny")
    with pytest.raises(ConfigError, match=r"method or ablation 'latko' is not in the registry \(did you mean 'latco'\?\)"):
        registry.expand("smoke", methods=["latko"])
    with pytest.raises(ConfigError, match=r"task 'mw_rech' is not in suite 'smoke' \(did you mean 'mw_reach'\?\)"):
        registry.expand("smoke", tasks=["mw_rech"])


def test_command_line_pairs_are_parsed_as_yaml():
    assert parse_cli_overrides(["steps=1000", "sparse_reward=false", "offline_dir=null", "gd_lr=1e-3"]) == {
        "steps": 1000, "sparse_reward": False, "offline_dir": None, "gd_lr": 1e-3,
    }
    with pytest.raises(ConfigError, match="is not key=value"):
        parse_cli_overrides(["steps"])


def test_planner_agents_are_the_planner_modules_and_an_unknown_agent_fails_early():
    from agents.errors import AgentConfigError
    from agents.registry import AGENTS, check_implemented, planner_agents

    assert "latco" in planner_agents() and not {"base", "collocation"} & set(planner_agents())
    assert {name for name, agent in AGENTS.items() if agent.kind == "planner"} == set(planner_agents())
    registry = Registry.load()
    for kind in ("methods", "ablations"):
        for name in registry.names(kind):  # every registry method resolves to an implemented agent
            check_implemented(registry.resolve_config("mw_reach", name, "smoke")["agent"], name)
    with pytest.raises(AgentConfigError, match="method 'mine' needs agent 'nope'.*implemented: random, dreamer"):
        check_implemented("nope", "mine")


def test_adding_a_task_and_an_ablation_is_their_files_and_the_task_in_a_suite_entry(tmp_path: Path):
    """README's counts: a task is its file plus its name in a suite entry; an ablation is its
    file (any suite runs it with --methods); both reach reports by their title and order."""
    from reports.presentation import Catalogue

    root = copy_registry(tmp_path)
    reach = (root / "tasks" / "pm_reach.yaml").read_text()
    (root / "tasks" / "pm_reach_long.yaml").write_text(
        reach.replace("title: Pointmass reach\n", "title: Pointmass reach, long\n")
        .replace("order: 11\n", "order: 11.5\n").replace("action_repeat: 1", "action_repeat: 2"))
    (root / "ablations" / "latco_damped.yaml").write_text(
        "description: LatCo with heavier Levenberg damping.\nbase: latco\noverrides:\n  gn_damping: 0.1\n")
    smoke = root / "suites" / "smoke.yaml"
    smoke.write_text(smoke.read_text() + "  - tasks: [pm_reach_long]\n    methods: [random, latco]\n")
    registry = Registry.load(root)

    specs = registry.expand("smoke", tasks=["pm_reach_long"], methods=["latco", "latco_damped"])
    assert [(s.task, s.method) for s in specs] == [("pm_reach_long", "latco"), ("pm_reach_long", "latco_damped")]
    long, damped = (s.config for s in specs)
    assert long["action_repeat"] == damped["action_repeat"] == 2 and long["env_name"] == "reach"
    assert damped["gn_damping"] == 0.1 != long["gn_damping"]
    shipped = Registry.load().expand("smoke", tasks=["pm_lottery"], methods=["latco"])[0]
    assert shipped.config_hash == registry.expand("smoke", tasks=["pm_lottery"], methods=["latco"])[0].config_hash
    catalogue = Catalogue.from_registry(registry)
    assert catalogue.task_title("pm_reach_long") == "Pointmass reach, long"
    assert catalogue.order_tasks(["pm_lottery", "pm_reach_long", "pm_reach"]) == ["pm_reach", "pm_reach_long",
                                                                                  "pm_lottery"]
    assert catalogue.bases["latco_damped"] == "latco"
