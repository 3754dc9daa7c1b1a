"""Claims a suite declares (``claims:`` in ``benchmark/suites/<suite>.yaml``): what its grid is for.

A claim says that ``method`` scores higher than each of ``against`` on each of ``tasks``;
``reports/claims.py`` turns the suite's runs into a verdict per claim, task and baseline. Checked
when the registry loads, so a claim can only compare pairs the suite runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmark.errors import ConfigError

SCORES = ("success", "safe_choice")


@dataclass(frozen=True)
class Claim:
    """One claim of a suite: ``method`` scores higher than each of ``against`` on each task."""

    name: str
    text: str
    method: str
    against: tuple[str, ...]
    tasks: tuple[str, ...]
    score: str = "success"
    # The seeds the suite asks per cell: a verdict waits for all of them (docs/reports.md#claims-and-verdicts),
    # since a verdict read off the first seeds can flip on the next. 0: no count asked, any seeds decide.
    seeds: int = 0


def parse_claims(value: Any, source: str, cells: list[tuple[str, str]], seeds: int = 0) -> list[Claim]:
    """A suite's ``claims:`` block, checked against the suite's own grid (``cells``); ``seeds``: how
    many seeds per cell the suite runs, which each claim's verdict waits for."""
    if not isinstance(value, list):
        raise ConfigError(f"{source}: claims must be a list of mappings (name, text, method, against, tasks)")
    claims = []
    for index, item in enumerate(value):
        where = f"{source}: claims[{index}]"
        if not isinstance(item, dict) or set(item) - {"name", "text", "method", "against", "tasks", "score"} \
                or not {"name", "text", "method", "against", "tasks"} <= set(item):
            raise ConfigError(f"{where} must hold name, text, method, against, tasks and optionally score")
        claim = Claim(str(item["name"]), str(item["text"]), str(item["method"]), tuple(item["against"]),
                      tuple(item["tasks"]), str(item.get("score", "success")), seeds)
        if claim.score not in SCORES:
            raise ConfigError(f"{where}: score '{claim.score}' is not one of {', '.join(SCORES)}")
        for task in claim.tasks:
            for method in (claim.method, *claim.against):
                if (task, method) not in cells:
                    raise ConfigError(f"{where} ({claim.name}) compares {method} on {task}, which the suite "
                                      "does not run; add the pair to its entries")
        claims.append(claim)
    return claims
