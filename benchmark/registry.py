"""The registry: tasks, methods, ablations, profiles and suites, one YAML file each.

A file's name is the entry's name. Adding an ablation is adding one file to
``benchmark/ablations`` (a base method plus overrides); nothing else needs to change: the
command line runs any registry method or ablation on a suite's tasks (``--methods``).
A suite expands to a grid of :class:`RunSpec`, each with a fully resolved config, in the
order stated in ``benchmark/config.py``'s docstring.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.registry import AGENTS
from benchmark.claims import Claim, parse_claims
from benchmark.config import (
    TASK_SECTIONS,
    check_family_overrides,
    config_hash,
    did_you_mean,
    load_defaults,
    load_yaml_mapping,
    resolve,
    section_keys,
    section_of,
)
from benchmark.errors import ConfigError

REGISTRY_ROOT = Path(__file__).parent
KINDS = ("tasks", "methods", "ablations", "suites", "profiles")

# How reports show a task, method or ablation (docs/reports.md): key -> (check, what it must be).
# Tasks carry title and order (no colour: a colour is a method's).
_PRESENTATION_KEYS = {
    "title": (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty text, e.g. title: LatCo"),
    "colour": (lambda v: isinstance(v, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", v) is not None,
               'a quoted hex colour, e.g. colour: "#d62728" (unquoted, YAML reads # as a comment)'),
    "order": (lambda v: isinstance(v, int | float) and not isinstance(v, bool),
              "a number (reports list lower first), e.g. order: 1"),
}
# Top-level keys each kind of file may hold; anything else is a typo.
_ALLOWED_KEYS = {
    "tasks": {"description", "config", "title", "order"},
    "methods": {"description", "config", "family_overrides", *_PRESENTATION_KEYS},
    "ablations": {"description", "base", "overrides", *_PRESENTATION_KEYS},
    "profiles": {"description", "overrides", "family_overrides", "planner_budget_scale"},
    "suites": {"description", "profile", "seeds", "overrides", "task_overrides", "entries", "claims"},
}


@dataclass(frozen=True)
class RunSpec:
    """One cell of a suite's grid: everything a worker needs to execute the run."""

    suite: str
    task: str
    method: str
    seed: int
    profile: str
    config: dict[str, Any] = field(hash=False, compare=False)

    @property
    def key(self) -> str:
        """The run's identity in the database, the results folder and the reports."""
        return f"{self.suite}/{self.task}/{self.method}/seed{self.seed}/{self.profile}"

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    @property
    def tags(self) -> list[str]:
        """Labels Omniboard can filter on."""
        tags = [self.suite, self.task, self.method, f"seed{self.seed}", self.profile]
        if self.config["env_family"] == "metaworld" and not self.config["sparse_reward"]:
            tags.append("dense_reward")
        return tags


@dataclass
class Registry:
    """All registry entries, loaded and checked from YAML files at once."""

    entries: dict[str, dict[str, dict[str, Any]]]
    root: Path

    @classmethod
    def load(cls, root: Path = REGISTRY_ROOT) -> Registry:
        entries: dict[str, dict[str, dict[str, Any]]] = {}
        for kind in KINDS:
            entries[kind] = {}
            for path in sorted((root / kind).glob("*.yaml")):
                data = load_yaml_mapping(path)
                unknown = set(data) - _ALLOWED_KEYS[kind]
                if unknown:
                    allowed = ", ".join(sorted(_ALLOWED_KEYS[kind]))
                    raise ConfigError(
                        f"{path}: unknown top-level key '{sorted(unknown)[0]}'; a {kind[:-1]} "
                        f"file may hold: {allowed}"
                    )
                data["_path"] = str(path)
                _check_presentation(data, path)
                if "family_overrides" in data:
                    data["family_overrides"] = check_family_overrides(data["family_overrides"], str(path))
                entries[kind][path.stem] = data
        registry = cls(entries, root)
        registry._check_references()
        return registry

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def _entry(self, kind: str, name: str) -> dict[str, Any]:
        if name not in self.entries[kind]:
            known = ", ".join(self.names(kind))
            raise ConfigError(f"unknown {kind[:-1]} '{name}'{did_you_mean(name, self.entries[kind])}; known {kind}: {known}")
        return self.entries[kind][name]

    def runnable(self) -> list[str]:
        """Names a grid cell may use as its method: every method and ablation."""
        return self.names("methods") + self.names("ablations")

    def _check_ownership(self) -> None:
        """Who may set what (benchmark/config.py states the rule): a task only keys of
        :data:`TASK_SECTIONS`; a method or ablation only keys its agent reads
        (agents/registry.py's ``AGENTS``). Each error names the file that set the key."""
        for name in self.names("tasks"):
            entry = self.entries["tasks"][name]
            for key in entry.get("config") or {}:
                section = section_of(key)
                if section not in TASK_SECTIONS:
                    raise ConfigError(
                        f"{entry['_path']}: key '{key}' belongs to section '{section}', which methods set; a task "
                        f"sets only the {' and '.join(TASK_SECTIONS)} sections: set '{key}' in the method's "
                        "config or, per kind of environment, its family_overrides (benchmark/config.py)"
                    )
        for name in self.names("methods"):
            entry = self.entries["methods"][name]
            config = entry.get("config") or {}
            _check_agent_reads(entry["_path"], config, config)
            for family, overrides in (entry.get("family_overrides") or {}).items():
                _check_agent_reads(f"{entry['_path']} (family_overrides.{family})", overrides, {**config, **overrides})
        for name in self.names("ablations"):
            entry = self.entries["ablations"][name]
            overrides = entry.get("overrides") or {}
            base = self.entries["methods"][entry["base"]].get("config") or {}
            _check_agent_reads(entry["_path"], overrides, {**base, **overrides})

    def _check_references(self) -> None:
        """Fail at load time on an ablation's unknown base or a suite's unknown names."""
        for ablation in self.entries["ablations"].values():
            if ablation.get("base") not in self.entries["methods"]:
                raise ConfigError(
                    f"{ablation['_path']}: base '{ablation.get('base')}' is not a method; "
                    f"use one of: {', '.join(self.names('methods'))}"
                )
        for name in self.names("suites"):
            self._check_task_overrides(name)
            self.claims(name)
        for profile in self.entries["profiles"].values():
            scale = profile.get("planner_budget_scale", 1)
            if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale <= 1:
                raise ConfigError(f"{profile['_path']}: planner_budget_scale must be a number in (0, 1], got "
                                  f"{scale!r}; it multiplies every method's optimization_steps")
        for kind in ("tasks", "methods", "ablations", "profiles"):
            for name in self.names(kind):
                entry = self.entries[kind][name]
                layer = entry.get("config", entry.get("overrides", {})) or {}
                resolve([(entry["_path"], layer)])
                for family, overrides in (entry.get("family_overrides") or {}).items():
                    resolve([(f"{entry['_path']} (family_overrides.{family})", overrides)])
        self._check_ownership()

    def suite_cells(self, suite: str) -> list[tuple[str, str]]:
        """The (task, method-or-ablation) pairs of a suite, in file order, without duplicates."""
        data = self._entry("suites", suite)
        cells: list[tuple[str, str]] = []
        for block in data.get("entries") or []:
            for task in block.get("tasks", []):
                self._entry("tasks", task)
                for method in block.get("methods", []):
                    if method not in self.entries["methods"] and method not in self.entries["ablations"]:
                        raise ConfigError(
                            f"{data['_path']}: unknown method or ablation '{method}'"
                            f"{did_you_mean(method, self.runnable())}; known: " + ", ".join(self.runnable())
                        )
                    if (task, method) not in cells:
                        cells.append((task, method))
        return cells

    def _check_task_overrides(self, suite: str) -> None:
        """A suite's ``task_overrides``: run lengths and the like that only some of its tasks need."""
        data = self._entry("suites", suite)
        tasks = {task for task, _ in self.suite_cells(suite)}
        overrides = data.get("task_overrides") or {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"{data['_path']}: task_overrides must map the suite's tasks to key: value mappings")
        for task, layer in overrides.items():
            if task not in tasks or not isinstance(layer, dict):
                raise ConfigError(f"{data['_path']}: task_overrides.{task} must be a mapping for a task of the "
                                  f"suite (its tasks: {', '.join(sorted(tasks))})")
            resolve([(f"{data['_path']} (task_overrides.{task})", layer)])

    def claims(self, suite: str) -> list[Claim]:
        """The claims the suite declares (benchmark/claims.py), checked against its grid."""
        data = self._entry("suites", suite)
        if "claims" not in data:
            return []
        return parse_claims(data["claims"], data["_path"], self.suite_cells(suite), len(self.suite_seeds(suite)))

    def suite_seeds(self, suite: str) -> list[int]:
        """The seeds the suite runs per cell (``seeds:``; one seed, 0, when it names none)."""
        return list(self._entry("suites", suite).get("seeds") or [0])

    def resolve_config(
        self,
        task: str,
        method: str,
        profile: str,
        suite_overrides: dict[str, Any] | None = None,
        cli_overrides: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> dict[str, Any]:
        """The run's config, layers applied in the order benchmark/config.py's docstring states."""
        task_entry = self._entry("tasks", task)
        task_layer = task_entry.get("config") or {}
        family = {**resolve([(task_entry["_path"], task_layer)])}["env_family"]

        layers: list[tuple[str, dict[str, Any]]] = [(task_entry["_path"], task_layer)]
        ablation = self.entries["ablations"].get(method)
        base_method = ablation["base"] if ablation else method
        method_entry = self._entry("methods", base_method)
        layers.append((method_entry["_path"], method_entry.get("config") or {}))
        layers.append(
            (method_entry["_path"], (method_entry.get("family_overrides") or {}).get(family) or {})
        )
        if ablation:
            layers.append((ablation["_path"], ablation.get("overrides") or {}))
        profile_entry = self._entry("profiles", profile)
        if "planner_budget_scale" in profile_entry:
            layers.append((f"{profile_entry['_path']} (planner_budget_scale)",
                           scaled_planner_budget(resolve(layers), profile_entry["planner_budget_scale"])))
        layers.append((profile_entry["_path"], profile_entry.get("overrides") or {}))
        layers.append(
            (profile_entry["_path"], (profile_entry.get("family_overrides") or {}).get(family) or {})
        )
        layers.append(("suite overrides", suite_overrides or {}))
        layers.append(("command line", cli_overrides or {}))
        config = resolve(layers)
        config["seed"] = seed
        return config

    def expand(
        self,
        suite: str,
        tasks: Iterable[str] | None = None,
        methods: Iterable[str] | None = None,
        seeds: Iterable[int] | None = None,
        profile: str | None = None,
        cli_overrides: dict[str, Any] | None = None,
    ) -> list[RunSpec]:
        """The suite's grid, optionally narrowed by task, method and seed selections.

        ``methods`` may name any method or ablation of the registry, listed by the suite or not:
        one that the suite does not pair with any selected task runs on each selected task (all
        the suite's tasks without ``tasks``), so a new ablation file runs at once.
        """
        data = self._entry("suites", suite)
        cells = self.suite_cells(suite)
        profile = profile or data.get("profile") or "paper"
        self._entry("profiles", profile)
        suite_tasks = list(dict.fromkeys(t for t, _ in cells))
        task_filter = _checked_selection(tasks, suite_tasks, "task", f"suite '{suite}'")
        method_filter = _checked_selection(methods, self.runnable(), "method or ablation", "the registry")
        chosen_tasks = [t for t in suite_tasks if not task_filter or t in task_filter]
        cells = [(t, m) for t, m in cells if t in chosen_tasks and (not method_filter or m in method_filter)]
        for method in methods or []:
            if method not in {m for _, m in cells}:
                cells += [(task, method) for task in chosen_tasks]
        seed_list = list(seeds) if seeds is not None else self.suite_seeds(suite)
        specs = []
        for task, method in cells:
            for seed in seed_list:
                suite_overrides = {**(data.get("overrides") or {}), **(data.get("task_overrides") or {}).get(task, {})}
                config = self.resolve_config(task, method, profile, suite_overrides, cli_overrides, seed)
                specs.append(RunSpec(suite, task, method, int(seed), profile, config))
        return specs


def scaled_planner_budget(config: dict[str, Any], scale: float) -> dict[str, Any]:
    """The method's own planner iterations times a profile's ``planner_budget_scale``, rounded up.

    One factor for every planner is what makes a small profile fair (docs/protocol.md#fair-budgets-at-mini):
    each method keeps the ratio of its iterations to the others' that the paper gave it, instead
    of one absolute count that is generous to some planners and starves others (30 iterations
    are 15% of LatCo's 200 but 6% of shooting GD's 500 and under 1% of first-order LatCo's 5,000).
    """
    return {"optimization_steps": max(1, math.ceil(config["optimization_steps"] * scale - 1e-9))}


def _check_agent_reads(source: str, layer: dict[str, Any], method_config: dict[str, Any]) -> None:
    """A method or ablation layer may set only keys its agent reads: ``agent: cem`` with
    ``gd_lr`` would get a hash of its own and run exactly like PlaNet. An agent this checkout
    does not implement is left to ``agents.registry.check_implemented`` (at run time)."""
    agent = method_config.get("agent", load_defaults()["agent"])
    if agent not in AGENTS:
        return
    reads = AGENTS[agent].reads(section_keys)
    for key in layer:
        if key not in reads:
            raise ConfigError(
                f"{source}: key '{key}' (section '{section_of(key)}') is not read by agent '{agent}', which reads "
                f"{AGENTS[agent].describe()}; remove the key or choose an agent that reads it"
            )


def _check_presentation(data: dict[str, Any], path: Path) -> None:
    """Reports draw with these values, so a wrong one fails here rather than inside matplotlib."""
    for key, (valid, wanted) in _PRESENTATION_KEYS.items():
        if key in data and not valid(data[key]):
            raise ConfigError(f"{path}: {key} {data[key]!r} must be {wanted}")


def _checked_selection(selection: Iterable[str] | None, available: list[str], what: str, where: str) -> set[str]:
    if not selection:
        return set()
    chosen = set(selection)
    missing = sorted(chosen - set(available))
    if missing:
        raise ConfigError(
            f"{what} '{missing[0]}' is not in {where}{did_you_mean(missing[0], available)}; "
            f"{where.removeprefix('the ')} has: " + ", ".join(sorted(available))
        )
    return chosen
