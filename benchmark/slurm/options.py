"""Resources of a Slurm launch: cluster profiles (``benchmark/clusters/<name>.yaml``), flags
that override them, and Slurm's own time and sbatch-option formats."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmark.config import load_yaml_mapping
from benchmark.errors import ConfigError

CLUSTERS_DIR = Path(__file__).resolve().parent.parent / "clusters"
DEFAULT_TIME = "24:00:00"
# Options the launcher sets itself; --sbatch may not override them.
_MANAGED_SBATCH = frozenset({"array", "output", "error", "signal", "job-name", "open-mode", "wckey"})
_PROFILE_KEYS = frozenset({
    "description", "partition", "time", "cpus", "mem", "gpus", "account", "sbatch",
    "max_parallel", "allow_loopback_database",
})


@dataclass(frozen=True)
class SlurmOptions:
    """Resources of each run's job and how the suite's array is submitted.

    ``time`` and ``mem`` use Slurm's own formats (``90``, ``4:00:00``, ``2-00:00:00``;
    ``4G``, ``16000M``). ``max_parallel`` caps running array tasks (None: the cluster decides).
    ``allow_loopback_database`` says the nodes reach this machine's 127.0.0.1 some other way
    (a tunnel on each node); without it a loopback database needs all nodes to be this host.
    """

    partition: str | None = None
    time: str = DEFAULT_TIME
    cpus: int = 1
    mem: str | None = None
    gpus: int = 0
    account: str | None = None
    sbatch: dict[str, str | bool] = field(default_factory=dict)
    max_parallel: int | None = None
    allow_loopback_database: bool = False

    @property
    def time_min(self) -> int:
        return parse_time_minutes(self.time)

    def describe(self) -> str:
        """One line for the user: what each run's job asks for."""
        parts = [f"partition {self.partition or '(default)'}", f"{self.cpus} CPU{'s' if self.cpus > 1 else ''}"]
        parts += [f"{self.mem} memory"] if self.mem else []
        parts += [f"{self.gpus} GPU{'s' if self.gpus > 1 else ''}"] if self.gpus else []
        parts += [f"time limit {self.time}"]
        parts += [f"account {self.account}"] if self.account else []
        parts += [f"--{k}" if v is True else f"--{k}={v}" for k, v in sorted(self.sbatch.items())]
        return ", ".join(parts) + " per run"


def cluster_profile_names() -> list[str]:
    return sorted(path.stem for path in CLUSTERS_DIR.glob("*.yaml"))


def load_cluster_profile(name: str) -> dict[str, Any]:
    """A profile by name (``benchmark/clusters/<name>.yaml``) or by path to a YAML file."""
    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = CLUSTERS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"unknown cluster profile '{name}'; known: {', '.join(cluster_profile_names())} "
            f"(or pass the path of a YAML file)"
        )
    data = load_yaml_mapping(path)
    unknown = sorted(set(data) - _PROFILE_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key '{unknown[0]}'; a cluster profile may hold: {', '.join(sorted(_PROFILE_KEYS))}"
        )
    if data.get("time") is not None:
        # YAML 1.1 reads an unquoted 1:30:00 as the base-60 integer 5400: take the text as written.
        data["time"] = yaml.load(path.read_text(), Loader=yaml.BaseLoader)["time"]
    if isinstance(data.get("mem"), int):
        data["mem"] = str(data["mem"])  # megabytes, as sbatch reads a bare number
    for key, kind in (("partition", str), ("mem", str), ("account", str), ("allow_loopback_database", bool)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise ConfigError(f"{path}: {key} must be a {kind.__name__}, got {data[key]!r}")
    return data


def slurm_options(
    profile: str | None = None,
    *,
    partition: str | None = None,
    time: str | None = None,
    cpus: int | None = None,
    mem: str | None = None,
    gpus: int | None = None,
    account: str | None = None,
    sbatch: Iterable[str] = (),
    max_parallel: int | None = None,
) -> SlurmOptions:
    """The options of a launch: the profile's values, each overridden by a flag given."""
    values = {k: v for k, v in (load_cluster_profile(profile) if profile else {}).items() if v is not None}
    values.pop("description", None)
    extra = parse_sbatch_options(values.pop("sbatch", None) or {})
    extra.update(parse_sbatch_options(list(sbatch)))
    flags = {"partition": partition, "time": time, "cpus": cpus, "mem": mem, "gpus": gpus,
             "account": account, "max_parallel": max_parallel}
    values.update({k: v for k, v in flags.items() if v is not None})
    if "time" in values:
        values["time"] = str(values["time"])
    options = SlurmOptions(**values, sbatch=extra)
    parse_time_minutes(options.time)  # a malformed time limit fails now, not at submission
    for name, low in (("cpus", 1), ("gpus", 0), ("max_parallel", 1)):
        value = getattr(options, name)
        if value is not None and (not isinstance(value, int) or value < low):
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return options


_TIME_PATTERN = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_time_minutes(text: str | int) -> int:
    """Slurm's time formats as whole minutes, rounded up: ``MM``, ``MM:SS``, ``HH:MM:SS``,
    ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS`` (submitit takes minutes)."""
    match = _TIME_PATTERN.match(str(text).strip())
    if not match:
        raise ConfigError(
            f"time limit '{text}' is not in Slurm's format; use minutes (90), HH:MM:SS (4:00:00) "
            "or D-HH:MM:SS (2-00:00:00)"
        )
    days, first, second, third = (int(g) if g is not None else None for g in match.groups())
    if days is None:
        hours, minutes, seconds = (first, second, third) if third is not None else (0, first, second or 0)
    else:
        hours, minutes, seconds = first, second or 0, third or 0
    total = math.ceil((days or 0) * 1440 + hours * 60 + minutes + seconds / 60)
    if total < 1:
        raise ConfigError(f"time limit '{text}' is shorter than one minute")
    return total


def parse_sbatch_options(items: Iterable[str] | dict[str, Any]) -> dict[str, str | bool]:
    """Extra sbatch options, ``KEY=VALUE`` or a bare ``KEY`` for a flag (``exclusive``)."""
    pairs = items.items() if isinstance(items, dict) else (
        (item.split("=", 1) if "=" in item else (item, True)) for item in items
    )
    options: dict[str, str | bool] = {}
    for key, value in pairs:
        key = str(key).strip().lstrip("-").replace("_", "-")
        if not re.fullmatch(r"[a-z][a-z0-9-]*", key):
            raise ConfigError(f"sbatch option '{key}' is not an sbatch long option name (e.g. qos=high)")
        if key in _MANAGED_SBATCH:
            raise ConfigError(f"sbatch option '{key}' is set by the launcher itself and cannot be overridden")
        options[key] = True if value is True else str(value)
    return options

