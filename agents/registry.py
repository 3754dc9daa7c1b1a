"""From a config's ``agent`` name to the agent object; an unknown agent fails before running."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from benchmark.errors import ConfigError

if TYPE_CHECKING:  # TensorFlow is imported only when an agent is built, not to check names
    from agents.base import Agent
    from agents.planners.base import Planner


def _cem(c: Mapping[str, Any]) -> Planner:
    from agents.planners.cem import SamplingPlanner

    return SamplingPlanner(c["planning_horizon"], c["optimization_steps"], c["cem_samples"],
                           c["cem_elite_ratio"], seed=c["seed"])


def _mppi(c: Mapping[str, Any]) -> Planner:
    from agents.planners.cem import SamplingPlanner

    return SamplingPlanner(c["planning_horizon"], c["optimization_steps"], c["cem_samples"],
                           mppi_gamma=c["mppi_gamma"], seed=c["seed"])


def _shooting_gd(c: Mapping[str, Any]) -> Planner:
    from agents.planners.shooting import GradientShooting

    return GradientShooting(c["planning_horizon"], c["optimization_steps"], c["gd_lr"], c["lam_lr"],
                            c["lm_update_every"], c["act_loss_scale"], c["seed"])


def _shooting_gn(c: Mapping[str, Any]) -> Planner:
    from agents.planners.shooting import GaussNewtonShooting

    return GaussNewtonShooting(c["planning_horizon"], c["optimization_steps"], c["shooting_gn_damping"],
                               c["gd_lr"], c["lam_lr"], c["lm_update_every"], c["seed"])


def _latco(c: Mapping[str, Any]) -> Planner:
    from agents.planners.latco import LatCo, LatcoSettings

    return LatCo(LatcoSettings.from_config(c), c["seed"])


def _platco(c: Mapping[str, Any]) -> Planner:
    from agents.planners.platco import PLatCo, PlatcoSettings

    return PLatCo(PlatcoSettings.from_config(c), c["seed"])


def _image_colloc(c: Mapping[str, Any]) -> Planner:
    from agents.planners.image_colloc import ImageColloc, ImageCollocSettings

    return ImageColloc(ImageCollocSettings.from_config(c), c["seed"])


PLANNERS: dict[str, Callable[[Mapping[str, Any]], Planner]] = {
    "platco": _platco,
    "image_colloc": _image_colloc,
    "latco": _latco,
    "latco_first_order": _latco,
    "cem": _cem,
    "mppi": _mppi,
    "shooting_gd": _shooting_gd,
    "shooting_gn": _shooting_gn,
}
IMPLEMENTED = ("random", "dreamer", *PLANNERS)


def check_implemented(agent: str, method: str) -> None:
    """Fail before a suite starts if one of its methods has no agent in this checkout."""
    if agent not in IMPLEMENTED:
        raise ConfigError(
            f"method '{method}' needs agent '{agent}', which this checkout does not implement "
            f"yet (implemented: {', '.join(IMPLEMENTED)}); select other methods with --methods"
        )


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

    return ModelBasedAgent(config, action_size, PLANNERS[agent](config))
