"""Published numbers the user types in, shown beside the reproduced ones in the tables.

The paper's numbers are not available to the suite (docs/protocol.md#paper-numbers), so the file ships empty;
see ``benchmark/reference_numbers.yaml`` for the format. Values are in the table's units:
success in percent (67 for 67%), returns as returns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import yaml

from benchmark.errors import ConfigError

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "benchmark" / "reference_numbers.yaml"
FIELDS = {"task", "method", "value", "spread", "source", "note"}


@dataclass(frozen=True)
class Reference:
    """One published number: value (and spread, e.g. the paper's ±) of a task x method cell."""

    task: str
    method: str
    value: float
    spread: float | None = None
    source: str = ""
    note: str = ""


def parse_references(data: object, origin: str = "reference numbers") -> list[Reference]:
    """Checked entries of the YAML document ``data``; one-line errors name the entry and field."""
    if data is None:
        return []
    entries = data.get("references", []) if isinstance(data, dict) else data
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise ConfigError(f"{origin}: 'references' must be a list of entries (task, method, value, ...)")
    references = []
    for number, entry in enumerate(entries, start=1):
        where = f"{origin}: entry {number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping with task, method, value")
        unknown = set(entry) - FIELDS
        if unknown:
            raise ConfigError(f"{where}: unknown field '{sorted(unknown)[0]}'; allowed: {', '.join(sorted(FIELDS))}")
        missing = [key for key in ("task", "method", "value") if entry.get(key) is None]
        if missing:
            raise ConfigError(f"{where}: missing '{missing[0]}'")
        try:
            value = float(entry["value"])
            spread = None if entry.get("spread") is None else float(entry["spread"])
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: value and spread must be numbers, got {entry.get('value')!r}, "
                              f"{entry.get('spread')!r}") from None
        if not math.isfinite(value):
            raise ConfigError(f"{where}: value must be finite, got {value}")
        references.append(Reference(str(entry["task"]), str(entry["method"]), value, spread,
                                    str(entry.get("source") or ""), str(entry.get("note") or "")))
    return references


def load_references(path: Path | None) -> tuple[list[Reference], str]:
    """The references at ``path`` (default file if None) and a sentence saying where they came from.

    An explicit path that does not exist is an error; a missing default file just means none.
    """
    explicit = path is not None
    path = Path(path) if explicit else DEFAULT_PATH
    if not path.exists():
        if explicit:
            raise ConfigError(f"reference numbers file {path} not found; pass an existing --references file "
                              f"(template: {DEFAULT_PATH})")
        return [], "No reference numbers (no reference file)."
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    references = parse_references(data, str(path))
    if not references:
        return [], f"No reference numbers: {path} has no entries (fill it to show published numbers)."
    return references, f"{len(references)} reference numbers from {path}."
