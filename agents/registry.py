"""From a config's ``agent`` name to the agent object; methods not built yet fail clearly."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.base import Agent
from benchmark.errors import ConfigError

IMPLEMENTED = ("random",)


def check_implemented(agent: str, method: str) -> None:
    """Fail before a suite starts if one of its methods has no agent in this checkout."""
    if agent not in IMPLEMENTED:
        raise ConfigError(
            f"method '{method}' needs agent '{agent}', which this checkout does not implement "
            f"yet (implemented: {', '.join(IMPLEMENTED)}); select other methods with --methods"
        )


def build_agent(config: Mapping[str, Any], action_dim: int) -> Agent:
    if config["agent"] == "random":
        from agents.random_agent import RandomAgent

        return RandomAgent(action_dim, config["seed"])
    check_implemented(config["agent"], config["agent"])
    raise AssertionError("unreachable")
