"""From a config's ``agent`` name to the agent object; an unknown agent fails before running.

``random`` and ``dreamer`` are agents of their own; every other agent is a planner driven by
:class:`agents.model_based.ModelBasedAgent`, implemented by the module
``agents/planners/<agent>.py`` that exports ``PLANNER`` (see :mod:`agents.planners.base`).
A new planner is therefore its module plus a method YAML naming it as ``agent``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.errors import ConfigError

if TYPE_CHECKING:  # TensorFlow is imported only when an agent is built, not to check names
    from agents.base import Agent
    from agents.planners.base import Planner

OWN_AGENTS = ("random", "dreamer")
PLANNER_PACKAGE = "agents.planners"
HELPER_MODULES = ("base", "collocation")  # shared code in the planners package, not planners


def planner_agents() -> tuple[str, ...]:
    """The planner modules of this checkout, found without importing them (nor TensorFlow)."""
    folder = Path(__file__).with_name("planners")
    return tuple(sorted(p.stem for p in folder.glob("*.py") if p.stem not in (*HELPER_MODULES, "__init__")))


def check_implemented(agent: str, method: str) -> None:
    """Fail before a suite starts if one of its methods has no agent in this checkout."""
    implemented = (*OWN_AGENTS, *planner_agents())
    if agent not in implemented:
        raise ConfigError(
            f"method '{method}' needs agent '{agent}', which this checkout does not implement "
            f"yet (implemented: {', '.join(implemented)}); select other methods with --methods"
        )


def build_planner(config: Mapping[str, Any]) -> Planner:
    """``PLANNER(PLANNER.Settings.from_config(config), seed)`` of the agent's module."""
    planner = importlib.import_module(f"{PLANNER_PACKAGE}.{config['agent']}").PLANNER
    return planner(planner.Settings.from_config(config), config["seed"])


def build_agent(config: Mapping[str, Any], action_size: int) -> Agent:
    agent = config["agent"]
    check_implemented(agent, agent)
    if agent == "random":
        from agents.random_agent import RandomAgent

        return RandomAgent(action_size, config["seed"])
    if agent == "dreamer":
        from agents.dreamer import DreamerAgent

        return DreamerAgent(config, action_size)
    from agents.model_based import ModelBasedAgent

    return ModelBasedAgent(config, action_size, build_planner(config))
