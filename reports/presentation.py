"""How tasks, methods and metrics are named, ordered and coloured in every table and figure.

One fixed colour per method, independent of which methods a report happens to contain, so
LatCo is the same red in the learning curves, the ablations, the optimisation curves and the
aggregate plots of every report. Task, method and ablation titles, colours and order are data:
the ``title``, ``colour`` and ``order`` keys of their registry files (docs/reports.md).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from benchmark.registry import Registry
from envs.families import FAMILIES

# Families (envs/families.py): which metric headlines a task, how it is printed and how it is
# normalised for the cross-task aggregates. A task may name its own headline with the config
# key ``score_metric`` (e.g. pm_reach: success).
HEADLINE_METRIC = {name: family.headline_metric for name, family in FAMILIES.items()}
FAMILY_TITLE = {name: family.title for name, family in FAMILIES.items()}
AGGREGATE_SCALE = {name: family.aggregate_scale for name, family in FAMILIES.items() if family.aggregate_scale}

# For methods whose registry file names no colour, in the order of their names (deterministic
# across figures); none of them is a colour of a registry file.
SPARE_COLOURS = ["#637939", "#e7969c", "#6b6ecf", "#8c6d31", "#a55194", "#9edae5", "#c49c94", "#dbdb8d"]


@dataclass(frozen=True)
class Catalogue:
    """How reports show each task, method and ablation, read from the registry's ``title``,
    ``colour`` and ``order`` keys, and which method each ablation modifies.

    Names the registry does not know (runs of a method or task since removed) show as their
    key, methods in a spare colour, after all known ones.
    """

    titles: dict[str, str]
    colours: dict[str, str]
    ranks: dict[str, tuple]
    bases: dict[str, str]  # ablation -> the method it modifies
    task_titles: dict[str, str] = field(default_factory=dict)
    task_ranks: dict[str, tuple] = field(default_factory=dict)

    @classmethod
    def from_registry(cls, registry: Registry) -> Catalogue:
        methods, ablations, tasks = (registry.entries[kind] for kind in ("methods", "ablations", "tasks"))
        entries = {**methods, **ablations}

        def rank(name: str) -> tuple:
            own = entries[name].get("order", math.inf)
            if name in ablations:  # after every method, grouped by base
                base = ablations[name]["base"]
                return (1, methods[base].get("order", math.inf), base, own, name)
            return (0, own, name, 0, "")

        return cls(titles={n: e["title"] for n, e in entries.items() if "title" in e},
                   colours={n: e["colour"] for n, e in entries.items() if "colour" in e},
                   ranks={n: rank(n) for n in entries},
                   bases={n: str(e["base"]) for n, e in ablations.items()},
                   task_titles={n: e["title"] for n, e in tasks.items() if "title" in e},
                   task_ranks={n: (0, e.get("order", math.inf), n) for n, e in tasks.items()})

    def title(self, method: str) -> str:
        return self.titles.get(method, method)

    def order(self, methods: Iterable[str]) -> list[str]:
        """Methods in their registry order, then ablations grouped by base, then unknown names."""
        return sorted(set(methods), key=lambda m: self.ranks.get(m, (2, math.inf, m, 0, "")))

    def colours_for(self, methods: Iterable[str]) -> dict[str, str]:
        """A colour per method: its registry colour, else a spare one by name order."""
        spare = sorted(set(methods) - set(self.colours))
        return {**self.colours, **{m: SPARE_COLOURS[i % len(SPARE_COLOURS)] for i, m in enumerate(spare)}}

    def ablations(self) -> list[str]:
        return self.order(self.bases)

    def task_title(self, task: str) -> str:
        return self.task_titles.get(task, task)

    def order_tasks(self, tasks: Iterable[str]) -> list[str]:
        """Tasks in their registry order, then unknown names alphabetically."""
        return sorted(set(tasks), key=lambda t: self.task_ranks.get(t, (1, math.inf, t)))


@functools.cache
def registry_catalogue() -> Catalogue:
    """The catalogue of the project's registry (``benchmark/``), loaded once per process."""
    return Catalogue.from_registry(Registry.load())


OPT_METRIC_ORDER = ["dynamics_violation", "action_violation", "lambda_mean", "multiplier_mean", "nu_mean",
                    "predicted_reward", "predicted_return"]
METRIC_TITLE = {
    "dynamics_violation": "dynamics violation", "action_violation": "action-bound violation",
    "lambda_mean": "dynamics multiplier λ (mean)", "multiplier_mean": "multiplier (mean)",
    "nu_mean": "action multiplier ν (mean)", "predicted_reward": "predicted reward",
    "predicted_return": "predicted return",
    "executed_predicted_return": "planned return, executed chunks",
    "executed_achieved_return": "achieved return, executed chunks",
    "openloop_image_mse": "open-loop image MSE",
    "openloop_image_mse_last": "open-loop image MSE, last step",
    "openloop_reward_mae": "open-loop reward error",
    "recon_image_mse": "filtered image MSE",
    "reward_acc_rewarding": "reward accuracy, rewarding steps",
    "reward_acc_nonrewarding": "reward accuracy, other steps",
    "rewarding_steps": "rewarding steps per episode",
    "reward_pred_rewarding": "predicted reward, rewarding steps",
    "reward_pred_nonrewarding": "predicted reward, other steps",
}


def headline_metric(family: str, score_metric: str | None = None) -> str:
    """The metric a task is scored by: its config's ``score_metric``, else its family's."""
    if isinstance(score_metric, str) and score_metric:
        return score_metric
    return HEADLINE_METRIC.get(family, "return")


def family_of(task: str, env_family: str | None = None) -> str:
    """The environment family, from the run's config, else from the task key's prefix."""
    if env_family:
        return str(env_family)
    prefix = task.split("_", 1)[0]
    return next((name for name, family in FAMILIES.items() if family.task_prefix == prefix), prefix)


def order_tasks(tasks: Iterable[str], catalogue: Catalogue | None = None) -> list[str]:
    return (catalogue or registry_catalogue()).order_tasks(tasks)


def order_methods(methods: Iterable[str], catalogue: Catalogue | None = None) -> list[str]:
    return (catalogue or registry_catalogue()).order(methods)


def task_title(task: str, catalogue: Catalogue | None = None) -> str:
    return (catalogue or registry_catalogue()).task_title(task)


def method_title(method: str, catalogue: Catalogue | None = None) -> str:
    return (catalogue or registry_catalogue()).title(method)


def metric_title(name: str) -> str:
    """``opt/dynamics_violation`` -> ``dynamics violation``."""
    short = name.split("/", 1)[-1]
    return METRIC_TITLE.get(short, short.replace("_", " "))

