"""README's "Adding a planner", done as a user would and run for real: the planner's module, its
row in ``AGENTS``, its own key in ``defaults.yaml`` and a method file; nothing else changes.

The module lives in a temporary folder put on ``agents.planners.__path__`` (where
``agents/planners/<agent>.py`` would be), the registry is a temporary copy, and the run is a
real Sacred run of the smoke profile on the real pointmass lottery, recorded in the test's
MongoDB database.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest
from conftest import copy_registry

import agents.planners
import benchmark.config as config_module
from agents import registry as agent_table
from agents.registry import PLANNER_SECTIONS, AgentReads, planner_agents
from benchmark.config import config_hash, section_keys
from benchmark.errors import ConfigError
from benchmark.estimates import estimate_runs
from benchmark.experiment import execute_run
from benchmark.registry import Registry

# Random shooting: the best of ``rs_samples`` uniform action sequences. The smallest planner
# that is still real: it is compiled once per model and scores plans through the model protocol.
PLANNER_MODULE = '''
"""Random shooting: the best of ``rs_samples`` uniform action sequences."""

import time
from dataclasses import dataclass

import tensorflow as tf

from agents.planners.base import CompiledPerModel, PlannerSettings, plan_result, rollout_returns


@dataclass(frozen=True)
class RandomShootingSettings(PlannerSettings):
    planning_horizon: int
    rs_samples: int


class RandomShooting:
    Settings = RandomShootingSettings

    def __init__(self, settings, seed=0):
        self.s = settings
        self._seed = seed
        self._best = CompiledPerModel(lambda model: lambda feature, seed: self._best_graph(model, feature, seed))

    def _best_graph(self, model, feature, seed):
        shape = [self.s.rs_samples, self.s.planning_horizon, model.action_size]
        actions = tf.random.stateless_uniform(shape, seed, -1.0, 1.0)
        returns = rollout_returns(model, tf.repeat(feature, self.s.rs_samples, 0), actions)
        best = tf.argmax(returns)
        return actions[best], returns[best]

    def plan(self, model, feature):
        started = time.perf_counter()
        self._seed += 1
        actions, predicted = self._best(model, feature, tf.constant([self._seed, 0], tf.int32))
        return plan_result(actions.numpy(), float(predicted), 1, started)


PLANNER = RandomShooting
'''

METHOD_FILE = """description: Random shooting, the best of rs_samples uniform action sequences.
title: Random shooting
colour: "#8c564b"
order: 20
config:
  agent: random_shooting
  rs_samples: 32
"""


@pytest.fixture
def added_planner(tmp_path: Path, monkeypatch) -> Registry:
    """The project with a planner added exactly as README says; returns its registry."""
    modules = tmp_path / "planners"
    modules.mkdir()
    (modules / "random_shooting.py").write_text(PLANNER_MODULE)  # 1. the module
    monkeypatch.setattr(agents.planners, "__path__", [*agents.planners.__path__, str(modules)])
    monkeypatch.setitem(agent_table.AGENTS, "random_shooting",  # 2. its row: the keys beyond the planning section
                        AgentReads("planner", PLANNER_SECTIONS, ("rs_samples",)))
    root = copy_registry(tmp_path)
    defaults = root / "defaults.yaml"  # 3. its own key, in a section of its own
    defaults.write_text(defaults.read_text() + "random_shooting:\n  rs_samples: 1000   # sequences scored per plan\n")
    monkeypatch.setattr(config_module, "DEFAULTS_PATH", defaults)
    monkeypatch.setattr(config_module, "_DEFAULTS", {})
    monkeypatch.setattr(config_module, "_SECTIONS", {})
    (root / "methods" / "random_shooting.yaml").write_text(METHOD_FILE)  # 4. the method
    return Registry.load(root)


def test_a_planner_added_as_readme_says_is_found_checked_estimated_and_keeps_every_hash(added_planner: Registry):
    assert "random_shooting" in planner_agents()
    settings = importlib.import_module("agents.planners.random_shooting").PLANNER.Settings
    row = agent_table.AGENTS["random_shooting"]
    assert {f.name for f in dataclasses.fields(settings)} <= row.reads(section_keys)

    # It runs on any suite's tasks by name, with its method's value of its own key.
    [spec] = added_planner.expand("smoke", tasks=["pm_lottery"], methods=["random_shooting"], seeds=[0])
    assert spec.config["agent"] == "random_shooting" and spec.config["rs_samples"] == 32
    # Its new key entered no recorded run's hash (benchmark/config.py: keys declared later).
    for suite, task, method in (("smoke", "pm_lottery", "latco"), ("paper", "mw_reach", "planet")):
        [before] = Registry.load().expand(suite, tasks=[task], methods=[method], seeds=[0])
        [after] = added_planner.expand(suite, tasks=[task], methods=[method], seeds=[0])
        assert after.config_hash == before.config_hash == config_hash(dict(after.config))
    # Without a speed figure, the estimate says what it borrowed instead of pretending.
    [estimate] = estimate_runs([spec], None)
    assert "no figure for random_shooting" in estimate.source
    assert estimate.seconds > 0

    # Its key is its own: another agent's method may not set it.
    latco = Path(config_module.DEFAULTS_PATH).parent / "methods" / "latco.yaml"
    latco.write_text(latco.read_text().replace("config:\n", "config:\n  rs_samples: 8\n", 1))
    with pytest.raises(ConfigError, match="rs_samples"):
        Registry.load(latco.parent.parent)


def test_a_planner_added_as_readme_says_runs_as_a_real_sacred_run(added_planner: Registry, database, results_dir):
    [spec] = added_planner.expand("smoke", tasks=["pm_lottery"], methods=["random_shooting"], seeds=[0],
                                  cli_overrides={"steps": 100, "prefill": 50})
    outcome = execute_run(spec, database, results_dir)
    assert outcome.status == "COMPLETED", outcome.error
    [run] = list(database.database().runs.find())
    assert run["config"]["agent"] == "random_shooting" and run["config"]["config_hash"] == spec.config_hash
    metrics = {doc["name"]: doc for doc in database.database().metrics.find({"run_id": run["_id"]})}
    plans = metrics["plan/plans"]["values"]
    assert plans and all(count > 0 for count in plans[1:]), plans  # it planned in every trained episode
    assert all(value == 1.0 for value in metrics["plan/iterations"]["values"])
