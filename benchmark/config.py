"""Configuration files: loading, type checking, who may set which key, and the resolution order.

Every key a run may have is declared once, with its default, in ``defaults.yaml``; its type
is the type of that default. Layers may only override declared keys, so a typo fails before
anything runs instead of being silently ignored by the agent.

Sections: ``defaults.yaml`` groups the keys into sections (``task``, ``method``, ``schedule``,
``world_model``, ``planning``, ``collocation``, ``shooting``, ``dreamer``, ``debug``); a key
belongs to exactly one (:func:`section_of`). Sections exist only in that file: they are
flattened on load, so key names, every layer below, ``key=value`` and the config hash see
flat keys.

Resolution order (the one statement of it; README.md and ``Registry.resolve_config`` point
here), each layer overriding the ones before it:

1. ``defaults.yaml``
2. the task (``tasks/<task>.yaml`` ``config:``)
3. the method (``methods/<method>.yaml`` ``config:``), then its ``family_overrides:`` for the
   task's ``env_family``
4. the ablation's ``overrides:`` (when the name is an ablation of that method)
5. the profile's ``planner_budget_scale`` (each method's ``optimization_steps`` times it), then
   its ``overrides:``, then its ``family_overrides:`` for the task's family
6. the suite's ``overrides:``, then its ``task_overrides:`` for the task
7. ``key=value`` pairs on the command line

Who may set what (checked when the registry loads; each error names the file that set the key):

- a task sets keys of the :data:`TASK_SECTIONS` only (``task``: the environment, the episode
  and the planning horizon; ``schedule``: its run length and update schedule). A key of a
  method's section (``dyn_threshold``) in a task would be replaced by the method's value
  without a word; settings a method needs per kind of environment go in that method's
  ``family_overrides``.
- a method (``config:``, ``family_overrides:``) or an ablation (``overrides:``) sets only keys
  its agent reads, as ``agents/registry.py``'s ``AGENTS`` lists them: the common sections
  (``task``, ``method``, ``schedule``, ``debug``; ``world_model`` for model-based agents) and
  the agent's own keys. Overriding a task's key is allowed and wins (step 3 comes after 2);
  a key the agent does not read (``agent: cem`` with ``gd_lr``) fails, as it would only change
  the hash of a run identical to another.
- profiles, suites and the command line may set any key on purpose (a smoke profile shrinks
  every size for every agent).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

from benchmark.errors import ConfigError
from envs.families import FAMILIES

SettingsT = TypeVar("SettingsT")  # a frozen settings dataclass with a from_config classmethod

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-4`` and ``3e5`` as floats (YAML 1.2 style).

    PyYAML follows YAML 1.1, where a float needs a dot, so ``1e-4`` would become the string
    "1e-4" and fail the type check with a confusing message.
    """


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)


def parse_yaml_text(text: str, source: str) -> Any:
    """Parse YAML text; a syntax error becomes one line naming the source and the line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"{where}: malformed YAML ({problem}); fix the syntax at that line") from None


def load_yaml_mapping(path: Path) -> dict[str, Any]:
    """Load a YAML file that must hold a mapping (every registry file does)."""
    data = parse_yaml_text(path.read_text(), str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


# The sections of defaults.yaml a task file may set (the module docstring states the whole rule).
TASK_SECTIONS = ("task", "schedule")

_DEFAULTS: dict[str, Any] = {}
_SECTIONS: dict[str, str] = {}  # key -> its section in defaults.yaml


def _flatten_sections(data: Mapping[str, Any], source: str) -> tuple[dict[str, Any], dict[str, str]]:
    """``{section: {key: default}}`` -> the flat defaults and each key's section.

    A key declared in two sections, or a section that is not a mapping, fails: a key has one
    owner.
    """
    defaults: dict[str, Any] = {}
    sections: dict[str, str] = {}
    for section, keys in data.items():
        if not isinstance(keys, dict):
            raise ConfigError(f"{source}: section '{section}' must be a mapping of keys to defaults, got {keys!r}")
        for key, value in keys.items():
            if key in sections:
                raise ConfigError(f"{source}: key '{key}' is declared in sections '{sections[key]}' and "
                                  f"'{section}'; a key belongs to one section")
            defaults[key], sections[key] = value, section
    return defaults, sections


def _load_sections() -> None:
    if not _DEFAULTS:
        defaults, sections = _flatten_sections(load_yaml_mapping(DEFAULTS_PATH), str(DEFAULTS_PATH))
        _SECTIONS.clear()
        _SECTIONS.update(sections)
        _DEFAULTS.update(defaults)


def load_defaults() -> dict[str, Any]:
    """The declared keys and their defaults, flat (sections left out), parsed once per process
    (a copy each call).

    Expanding the paper grid resolves hundreds of configs; parsing the file for each one took
    most of ``run --dry-run``'s time.
    """
    _load_sections()
    return dict(_DEFAULTS)


def default_settings(settings_type: type[SettingsT], **overrides: Any) -> SettingsT:
    """``settings_type.from_config`` of ``defaults.yaml`` with ``overrides`` (named like config
    keys): an agent's settings for tests and benchmarks, without a registry."""
    unknown = set(overrides) - {f.name for f in dataclasses.fields(settings_type)}
    if unknown:
        raise TypeError(f"{settings_type.__name__} has no setting {sorted(unknown)[0]!r}")
    return settings_type.from_config({**load_defaults(), **overrides})


def section_of(key: str) -> str:
    """The section of ``defaults.yaml`` that declares ``key`` (``'collocation'`` for
    ``dyn_threshold``); an unknown key fails naming the closest known one."""
    _load_sections()
    if key not in _SECTIONS:
        raise ConfigError(f"unknown key '{key}'{did_you_mean(key, _SECTIONS)}; see benchmark/defaults.yaml")
    return _SECTIONS[key]


def section_keys(section: str) -> tuple[str, ...]:
    """The keys a section of ``defaults.yaml`` declares, in file order."""
    _load_sections()
    keys = tuple(key for key, owner in _SECTIONS.items() if owner == section)
    if not keys:
        raise ConfigError(f"unknown section '{section}'{did_you_mean(section, set(_SECTIONS.values()))}; "
                          f"sections: {', '.join(dict.fromkeys(_SECTIONS.values()))}")
    return keys


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# Keys whose string value names one of a few implementations: a typo must fail at resolution,
# before any run starts, not deep inside TensorFlow an hour later.
ENV_FAMILIES = tuple(FAMILIES)  # envs/families.py: one table for config checks, factory and reports
CHOICES: dict[str, tuple[str, ...]] = {
    "env_family": ENV_FAMILIES,
    "precision": ("float32", "mixed_bfloat16"),
    "solver_dtype": ("float64", "float32"),
    "reward_norm": ("auto", "ema", "none"),
    "latco_solver": ("gauss_newton", "adam"),
    "eval_filter": ("episode", "single_frame"),
}


def check_value(key: str, value: Any, default: Any, source: str) -> Any:
    """Return ``value`` converted to the type of ``default``, or raise a one-line ConfigError.

    ``None`` defaults mean "optional string" (paths); ints are accepted where floats are
    expected; nothing else is coerced, so ``steps: 1e5`` (a float) is rejected for an int key.
    """
    if key in CHOICES and value not in CHOICES[key]:
        raise ConfigError(f"{source}: key '{key}' must be one of {', '.join(CHOICES[key])}; got {value!r}")
    if default is None:
        if value is None or isinstance(value, str):
            return value
        expected = "a string or null"
    elif isinstance(default, bool):
        if isinstance(value, bool):
            return value
        expected = "true or false"
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        expected = "an integer"
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        expected = "a number"
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
        expected = "a string"
    else:  # pragma: no cover - defaults.yaml only holds scalars
        raise ConfigError(f"{DEFAULTS_PATH}: key '{key}' has unsupported default type")
    raise ConfigError(
        f"{source}: key '{key}' must be {expected}, got {value!r} ({_type_name(value)}); "
        f"the default is {default!r}"
    )


def check_overrides(
    overrides: Mapping[str, Any], defaults: Mapping[str, Any], source: str
) -> dict[str, Any]:
    """Validate a layer of overrides against the declared keys; return the typed values."""
    checked = {}
    for key, value in overrides.items():
        if key not in defaults:
            close = closest(key, defaults)
            hint = f"did you mean '{close}'?" if close else "see benchmark/defaults.yaml for valid keys"
            raise ConfigError(f"{source}: unknown key '{key}'; {hint}")
        checked[key] = check_value(key, value, defaults[key], source)
    return checked


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name closest to a mistyped one (difflib), or None if none is close."""
    import difflib

    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'latco'?)`` for a mistyped name, '' when nothing is close."""
    match = closest(name, known)
    return f" (did you mean '{match}'?)" if match else ""


def check_family_overrides(value: Any, source: str) -> dict[str, dict[str, Any]]:
    """A ``family_overrides:`` block: a mapping from known ``env_family`` values to mappings.

    A typo (``dcm:``) would otherwise never match a task, and DMC runs would silently take
    the MetaWorld settings.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: family_overrides must map env families to keys, got {value!r}")
    for family, overrides in value.items():
        if family not in ENV_FAMILIES:
            raise ConfigError(
                f"{source}: family_overrides key '{family}' is not an env_family{did_you_mean(str(family), ENV_FAMILIES)}; "
                f"allowed: {', '.join(ENV_FAMILIES)}"
            )
        if overrides is not None and not isinstance(overrides, dict):
            raise ConfigError(f"{source}: family_overrides.{family} must be a mapping of keys to values")
    return {family: overrides or {} for family, overrides in value.items()}


def parse_cli_overrides(pairs: list[str]) -> dict[str, Any]:
    """Turn ``["steps=1000", "sparse_reward=false"]`` into a dict of YAML-typed values."""
    parsed = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"command line: '{pair}' is not key=value; write e.g. steps=1000")
        parsed[key.strip()] = parse_yaml_text(text, f"command line '{pair}'")
    return parsed


def resolve(layers: list[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Apply named override layers, in order, on top of the defaults (see the module docstring
    for which layers a run has, in which order).

    ``layers`` is ``[(source, overrides), ...]``; the source names the file or flag in errors.
    """
    defaults = load_defaults()
    config = dict(defaults)
    for source, overrides in layers:
        config.update(check_overrides(overrides, defaults, source))
    return config


# Keys the config hash leaves out. A run's identity is its run key and config hash, and a
# completed run is skipped by it, so a key must not enter the hash of runs it does not change:
#
# - A key declared in defaults.yaml after hashes were first recorded (any key not in
#   KEYS_HASHED_SINCE_THE_START) enters a run's hash only when the run sets it away from its
#   default. Adding a key (a new planner's own setting, a task's ``task_version``, a method's
#   ``planner_version``) therefore keeps every recorded run's hash, with no list to edit; a
#   run that changes it (``task_version: 2``, the new planner's runs setting its key) gets a
#   new hash, so its earlier records become stale. tests/test_config.py pins recorded hashes.
# - EVALUATION_ONLY: keys read only by ``run_suite.py eval`` (benchmark/evaluation.py), never
#   by training. They are always left out, so an evaluation finds the training run it
#   evaluates whatever they say; the evaluation's own record keeps them in its config.
#
# The keys every run has hashed with whatever value since hashes were first recorded; frozen:
# never add to it (that would change every recorded hash).
KEYS_HASHED_SINCE_THE_START = frozenset({
    "act_loss_scale", "act_threshold", "action_repeat", "actor_lr", "agent", "batch_length", "batch_size",
    "cem_elite_ratio", "cem_samples", "checkpoint_every", "cnn_depth", "curve_every", "deter_size",
    "diagnostics_every", "disc_lambda", "discount", "dyn_loss_scale", "dyn_threshold", "env_family", "env_name",
    "eval_episodes", "eval_every", "exact_jacobian", "expl_noise", "fail_at_step", "filter_sample", "free_nats",
    "gd_lr", "gn_damping", "grad_clip", "hidden_size", "imag_horizon", "image_size", "init_lam", "init_nu",
    "init_std", "kl_scale", "lam_lr", "latco_solver", "lm_update_every", "log_every", "model_lr", "mpc_steps",
    "mppi_gamma", "n_parallel_plans", "n_particles", "nu_lr", "num_units", "offline_dir", "offline_episodes",
    "optimization_steps", "planning_horizon", "precision", "prefill", "pretrain", "reward_norm", "score_metric",
    "solver_dtype", "sparse_reward", "steps", "stoch_size", "tf_threads", "time_limit", "train_every",
    "train_steps", "value_lr", "video_every",
})
EVALUATION_ONLY = frozenset({"eval_filter"})


def hashed_items(config: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a resolved config its hash covers (the rules above)."""
    _load_sections()
    defaults = _DEFAULTS  # not load_defaults()'s copy: the paper grid hashes hundreds of configs
    return {key: value for key, value in config.items()
            if key not in EVALUATION_ONLY
            and (key in KEYS_HASHED_SINCE_THE_START or key not in defaults or value != defaults[key])}


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable short hash of a resolved config: equal configs, equal hashes, across machines.

    Keys declared after the first records, at their default, and evaluation-only keys are left
    out (see :func:`hashed_items`).
    """
    hashed = hashed_items(config)
    canonical = json.dumps(hashed, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
