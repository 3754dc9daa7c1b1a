"""From a config's ``agent`` name to the agent object; an unknown agent fails before running.

``random`` and ``dreamer`` are agents of their own; every other agent is a planner driven by
:class:`agents.model_based.ModelBasedAgent`, implemented by the module
``agents/planners/<agent>.py`` that exports ``PLANNER`` (see :mod:`agents.planners.base`).
A new planner is therefore its module, its row in :data:`AGENTS` (the keys it reads) and a
method YAML naming it as ``agent``.

:data:`AGENTS` is the one table of what each agent is and which config keys it reads, kept
free of TensorFlow so the registry checks every method file against it at load time
(benchmark/config.py states who may set what).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.errors import AgentConfigError

if TYPE_CHECKING:  # TensorFlow is imported only when an agent is built, not to check names
    from agents.base import Agent, CurveLogger
    from agents.planners.base import Planner



@dataclass(frozen=True)
class AgentReads:
    """What an agent is (``random`` | ``policy`` | ``planner``) and the config keys it reads:
    whole sections of ``benchmark/defaults.yaml``, plus single ``keys`` of sections it reads
    only in part (a planner's ``Settings`` fields beyond the planning section's keys; a test
    holds each row equal to its module's ``Settings``)."""

    kind: str
    sections: tuple[str, ...]
    keys: tuple[str, ...] = ()

    def reads(self, section_keys: Callable[[str], Iterable[str]]) -> frozenset[str]:
        """Every config key the agent reads (or that describes it, as ``agent`` itself);
        ``section_keys`` names a section's keys (``benchmark.config.section_keys``: the sections
        are the suite's, so the table takes them as data rather than importing the suite)."""
        return frozenset(self.keys).union(*(section_keys(section) for section in self.sections))

    def describe(self) -> str:
        """``sections task, method, ... and keys cem_samples, ...`` for one-line errors."""
        text = f"sections {', '.join(self.sections)}"
        return f"{text} and keys {', '.join(self.keys)}" if self.keys else text


COMMON_SECTIONS = ("task", "method", "schedule", "debug")  # every agent runs the training loop
MODEL_SECTIONS = (*COMMON_SECTIONS, "world_model")  # ... and model-based ones learn the RSSM
PLANNER_SECTIONS = (*MODEL_SECTIONS, "planning")
_COLLOCATION = ("n_parallel_plans", "init_lam", "init_nu", "lm_update_every", "dyn_loss_scale", "act_loss_scale")
_GAUSS_NEWTON = (*_COLLOCATION, "gn_damping", "solver_dtype", "dyn_threshold", "act_threshold")
_GRADIENT_SHOOTING = ("gd_lr", "lam_lr", "lm_update_every")

AGENTS: dict[str, AgentReads] = {
    "random": AgentReads("random", COMMON_SECTIONS),
    "dreamer": AgentReads("policy", (*MODEL_SECTIONS, "dreamer")),
    "cem": AgentReads("planner", PLANNER_SECTIONS, ("cem_samples", "cem_elite_ratio")),
    "mppi": AgentReads("planner", PLANNER_SECTIONS, ("cem_samples", "mppi_gamma")),
    "shooting_gd": AgentReads("planner", PLANNER_SECTIONS, (*_GRADIENT_SHOOTING, "act_loss_scale")),
    "shooting_gn": AgentReads("planner", PLANNER_SECTIONS, (*_GRADIENT_SHOOTING, "gn_damping")),
    "latco": AgentReads("planner", PLANNER_SECTIONS, (*_GAUSS_NEWTON, "latco_solver", "gd_lr", "lam_lr", "nu_lr")),
    "platco": AgentReads("planner", PLANNER_SECTIONS, (*_GAUSS_NEWTON, "init_std", "n_particles", "exact_jacobian")),
    "image_colloc": AgentReads("planner", PLANNER_SECTIONS, (*_COLLOCATION, "gd_lr", "lam_lr", "nu_lr")),
}
OWN_AGENTS = tuple(name for name, agent in AGENTS.items() if agent.kind != "planner")
PLANNER_PACKAGE = "agents.planners"
HELPER_MODULES = ("base", "collocation")  # shared code in the planners package, not planners


def planner_agents() -> tuple[str, ...]:
    """The planner modules on the planners package's path (its folder, plus any a plug-in or
    test adds to ``agents.planners.__path__``), found without importing them (nor TensorFlow)."""
    import agents.planners as package  # its __init__ imports nothing

    names = {path.stem for folder in package.__path__ for path in Path(folder).glob("*.py")}
    return tuple(sorted(names - {*HELPER_MODULES, "__init__"}))


def check_implemented(agent: str, method: str) -> None:
    """Fail before a suite starts if one of its methods has no agent in this checkout."""
    implemented = (*OWN_AGENTS, *planner_agents())
    if agent not in implemented:
        raise AgentConfigError(
            f"method '{method}' needs agent '{agent}', which this checkout does not implement "
            f"yet (implemented: {', '.join(implemented)}); select other methods with --methods"
        )


def build_planner(config: Mapping[str, Any]) -> Planner:
    """``PLANNER(PLANNER.Settings.from_config(config), seed)`` of the agent's module."""
    planner = importlib.import_module(f"{PLANNER_PACKAGE}.{config['agent']}").PLANNER
    return planner(planner.Settings.from_config(config), config["seed"])


def build_agent(config: Mapping[str, Any], action_size: int, curve_logger: CurveLogger | None = None) -> Agent:
    """The config's agent; ``curve_logger`` receives a planner's optimisation curves (agents
    without them, random and dreamer, log none)."""
    agent = config["agent"]
    check_implemented(agent, agent)
    if agent == "random":
        from agents.random_agent import RandomAgent

        return RandomAgent(action_size, config["seed"])
    if agent == "dreamer":
        from agents.dreamer import DreamerAgent

        return DreamerAgent(config, action_size)
    from agents.model_based import ModelBasedAgent

    return ModelBasedAgent(config, action_size, build_planner(config), curve_logger=curve_logger)
