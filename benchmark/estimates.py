"""How long a grid will take, before it runs (``run --dry-run``).

Each run's wall time comes from the step rate of earlier completed runs of the same task,
method and profile (their steps over their stop minus start time): those in the database when
there are any, else those shipped with the repository (``docs/runs/*.jsonl.gz``, docs/runs.md);
without any, the same from runs of another method with the same agent (an ablation runs at
about its planner's speed), then from runs on another task of the same family; else
per-operation benchmark figures (``benchmark/speed_figures.yaml``, taken from the README's
benchmark table), which know paper sizes best and scale to small ones roughly. Each estimate
says which source it used.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.registry import AGENTS
from benchmark.config import load_yaml_mapping, section_keys
from benchmark.database import MongoTarget
from benchmark.records import finished_runs_like
from benchmark.registry import RunSpec

FIGURES_PATH = Path(__file__).with_name("speed_figures.yaml")
SHIPPED_RUNS = Path(__file__).resolve().parent.parent / "docs" / "runs"
PAPER_BATCH = 50 * 50
PAPER_HORIZON = 30


@dataclass(frozen=True)
class Estimate:
    key: str
    seconds: float
    source: str  # "database (N runs)", "shipped (N runs[ of <agent>])", "figures" or "figures (<what was borrowed>)"


def step_rate_from_records(records: list[dict[str, Any]]) -> float | None:
    """Environment steps per second over these records (total steps / total seconds)."""
    steps = seconds = 0.0
    for record in records:
        start, stop = record.get("start_time"), record.get("stop_time")
        ran = (record.get("result") or {}).get("steps") or record["config"].get("steps")
        if start and stop and ran and stop > start:
            steps += float(ran)
            seconds += (stop - start).total_seconds()
    return steps / seconds if seconds > 0 else None


def samples_per_iteration(agent: str) -> bool:
    """Whether the agent's optimisation iteration evaluates ``cem_samples`` trajectories, so its
    cost scales with them: derived from :data:`agents.registry.AGENTS` (the agent reads the key)
    rather than listed by hand, so a new sampling planner is scaled without editing a list."""
    return "cem_samples" in AGENTS[agent].reads(section_keys)


def plan_iteration_figure(agent: str, figures: dict[str, Any]) -> tuple[float, str]:
    """Seconds of one planner iteration at horizon 30 (10,000 samples for a sampling planner),
    and how it was found: ``""`` for the agent's own figure, else a note naming the figure borrowed
    (a sampling planner borrows the sampling default, any other planner the gradient default)."""
    own = figures["plan_iteration_s"]
    if agent in own:
        return own[agent], ""
    default = figures["default_sampling_iteration" if samples_per_iteration(agent) else "default_plan_iteration"]
    return own[default], f"{default}'s iteration: no figure for {agent}"


def seconds_from_figures(config: dict[str, Any], figures: dict[str, Any]) -> float:
    """A run's wall time from per-operation figures: environment steps, world-model updates and
    planner iterations, each counted from the config the way the training loop runs them. What
    an agent costs follows its kind in :data:`agents.registry.AGENTS`: ``random`` trains nothing,
    a ``policy`` agent (Dreamer) imagines as much as it learns and plans nothing, a ``planner``
    optimises a plan every ``mpc_steps``."""
    steps = config["steps"]
    seconds = figures["startup_s"] + steps / figures["env_steps_per_second"][config["env_family"]]
    agent = config["agent"]
    kind = AGENTS[agent].kind
    if kind == "random":
        return seconds
    updates = max(0, steps - config["prefill"]) / config["train_every"] * config["train_steps"] + config["pretrain"]
    batch = config["batch_size"] * config["batch_length"] / PAPER_BATCH
    factor = 2.0 if kind == "policy" else 1.0
    seconds += updates * figures["world_model_step_s"] * batch * factor
    if kind == "policy":
        return seconds
    plans = steps / (config["mpc_steps"] * config["action_repeat"])
    iteration = plan_iteration_figure(agent, figures)[0] * config["planning_horizon"] / PAPER_HORIZON
    if samples_per_iteration(agent):
        iteration *= config["cem_samples"] / 10_000
    return seconds + plans * config["optimization_steps"] * iteration


def figures_source(config: dict[str, Any], figures: dict[str, Any]) -> str:
    """``figures``, or ``figures (latco's iteration: no figure for <agent>)`` for a planner whose
    iteration time was borrowed: the estimate says what it does not know."""
    if AGENTS[config["agent"]].kind != "planner":
        return "figures"
    note = plan_iteration_figure(config["agent"], figures)[1]
    return f"figures ({note})" if note else "figures"


def shipped_records(folder: Path = SHIPPED_RUNS) -> list[dict[str, Any]]:
    """Completed training records of the runs files in ``folder``.

    A damaged file is skipped here (an estimate is no place to fail); ``import`` says what is wrong.
    """
    from benchmark.errors import SuiteError
    from benchmark.runs_file import open_runs_file

    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        try:
            _, entries = open_runs_file(path)
            found.extend(entry["record"] for entry in entries if entry["record"]["status"] == "COMPLETED"
                         and "evaluation_of" not in entry["record"]["config"])
        except SuiteError:
            continue
    return found


def _neighbours(spec: RunSpec) -> list[tuple[dict[str, str], str]]:
    """The config values earlier runs must share to stand in for ``spec``, closest first, each
    with the note its estimate carries: this method on this task, then its agent's other methods
    on this task (an ablation runs at about its planner's speed), then the same two on the
    family's other tasks (MetaWorld tasks share the simulator, the rendering and the episode
    length, so a method's step rate carries over: PlaNet's on reach stands in for drawer)."""
    agent, family = spec.config["agent"], spec.config["env_family"]
    return [({"task": spec.task, "method": spec.method}, ""),
            ({"task": spec.task, "agent": agent}, f" of {agent}"),
            ({"env_family": family, "method": spec.method}, f" of {spec.method} on other {family} tasks"),
            ({"env_family": family, "agent": agent}, f" of {agent} on other {family} tasks")]


def measured_step_rate(spec: RunSpec, target: MongoTarget | None,
                       shipped: Callable[[], list[dict[str, Any]]]) -> tuple[float | None, str]:
    """Steps per second of the closest earlier runs (:func:`_neighbours`), in the database, else
    shipped, and what they were; (None, "") without any."""
    for values, note in _neighbours(spec):
        records, source = (finished_runs_like(target, spec.profile, **values) if target is not None else []), "database"
        if not records:
            source = "shipped"
            records = [r for r in shipped() if r["config"]["profile"] == spec.profile
                       and all(r["config"].get(key) == value for key, value in values.items())]
        if records:
            count = len(records)
            return step_rate_from_records(records), f"{source} ({count} run{'s' if count > 1 else ''}{note})"
    return None, ""


def estimate_runs(specs: list[RunSpec], target: MongoTarget | None) -> list[Estimate]:
    """One estimate per spec; ``target`` None (no database reachable) uses shipped runs and figures."""
    figures = load_yaml_mapping(FIGURES_PATH)
    rates: dict[tuple[str, str, str], tuple[float | None, str]] = {}
    shipped = functools.cache(shipped_records)  # read the files once, and only if needed
    estimates = []
    for spec in specs:
        group = (spec.task, spec.method, spec.profile)
        if group not in rates:
            rates[group] = measured_step_rate(spec, target, shipped)
        rate, source = rates[group]
        if rate:
            estimates.append(Estimate(spec.key, spec.config["steps"] / rate, source))
        else:
            estimates.append(Estimate(spec.key, seconds_from_figures(spec.config, figures),
                                      figures_source(spec.config, figures)))
    return estimates


def format_duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.4 h``, ``2.1 d``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def format_hours(hours: float) -> str:
    """``85,058`` for a paper grid, ``5.3`` or ``0.025`` for small ones (two significant digits)."""
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:.2g}"
