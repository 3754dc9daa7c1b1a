"""The environment families: one table that the config checks (``env_family`` and
``family_overrides`` keys), the environment factory and the reports read.

TensorFlow- and gymnasium-free, so loading the registry does not import a simulator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    title: str  # in report headings, e.g. "DeepMind Control: aggregate over 3 tasks"
    task_prefix: str  # task keys start with it (mw_reach): names the family of a record without env_family
    headline_metric: str  # what its tasks are scored by, unless a task sets score_metric
    aggregate_scale: float | None  # scores are divided by it for cross-task aggregates; None: not aggregated


# docs/protocol.md#reporting: MetaWorld success in %, DMC return; DMC episodes are 1000 env
# steps with per-step reward in [0, 1], so returns lie in [0, 1000].
FAMILIES: dict[str, Family] = {
    "metaworld": Family("MetaWorld", "mw", "success", 1.0),
    "dmc": Family("DeepMind Control", "dmc", "return", 1000.0),
    "pointmass": Family("Pointmass", "pm", "return", None),
}
