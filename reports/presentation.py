"""How tasks, methods and metrics are named, ordered and coloured in every table and figure.

One fixed colour per method, independent of which methods a report happens to contain, so
LatCo is the same red in the learning curves, the ablations, the optimisation curves and the
aggregate plots of every report. Names unknown here fall back to their registry key.
"""

from __future__ import annotations

from collections.abc import Iterable

# Families: which metric headlines a task, how it is printed and how it is normalised for
# the cross-task aggregates (docs/protocol.md#reporting: MetaWorld success in %, DMC return).
HEADLINE_METRIC = {"metaworld": "success", "dmc": "return", "pointmass": "return"}
# A task may name its own headline with the config key ``score_metric`` (e.g. pm_reach: success).
FAMILY_TITLE = {"metaworld": "MetaWorld", "dmc": "DeepMind Control", "pointmass": "Pointmass"}
# DMC episodes are 1000 env steps with per-step reward in [0, 1], so returns lie in [0, 1000].
AGGREGATE_SCALE = {"metaworld": 1.0, "dmc": 1000.0}

TASK_ORDER = [
    "mw_reach", "mw_button", "mw_window", "mw_drawer", "mw_push", "mw_hammer", "mw_thermos",
    "dmc_reacher", "dmc_cheetah", "dmc_quadruped", "pm_reach", "pm_lottery",
]
TASK_TITLE = {
    "mw_reach": "Reach", "mw_button": "Button", "mw_window": "Window", "mw_drawer": "Drawer",
    "mw_push": "Push", "mw_hammer": "Hammer", "mw_thermos": "Thermos",
    "dmc_reacher": "Reacher Easy", "dmc_cheetah": "Cheetah Run", "dmc_quadruped": "Quadruped Walk",
    "pm_reach": "Pointmass reach", "pm_lottery": "Pointmass lottery",
}

METHOD_ORDER = [
    "latco", "platco", "planet", "mppi", "shooting_gd", "shooting_gn", "dreamer", "random",
    "latco_no_constraint", "latco_no_relax", "latco_first_order", "image_colloc",
]
METHOD_TITLE = {
    "latco": "LatCo", "platco": "Prob. LatCo", "planet": "PlaNet (CEM)", "mppi": "MPPI",
    "shooting_gd": "Shooting GD", "shooting_gn": "Shooting GN", "dreamer": "Dreamer",
    "random": "Random", "latco_no_constraint": "LatCo, no constraint",
    "latco_no_relax": "LatCo, no relaxation", "latco_first_order": "LatCo, first order",
    "image_colloc": "Image collocation",
}
METHOD_COLOUR = {
    "latco": "#d62728", "platco": "#9467bd", "planet": "#1f77b4", "mppi": "#2ca02c",
    "shooting_gd": "#ff7f0e", "shooting_gn": "#8c564b", "dreamer": "#e377c2", "random": "#7f7f7f",
    "latco_no_constraint": "#17becf", "latco_no_relax": "#bcbd22",
    "latco_first_order": "#393b79", "image_colloc": "#ad494a",
}
# For methods not listed above, in the order of their names (deterministic across figures).
SPARE_COLOURS = ["#637939", "#e7969c", "#6b6ecf", "#8c6d31", "#a55194", "#9edae5", "#c49c94", "#dbdb8d"]

OPT_METRIC_ORDER = ["dynamics_violation", "action_violation", "lambda_mean", "multiplier_mean", "nu_mean",
                    "predicted_reward", "predicted_return"]
METRIC_TITLE = {
    "dynamics_violation": "dynamics violation", "action_violation": "action-bound violation",
    "lambda_mean": "dynamics multiplier λ (mean)", "multiplier_mean": "multiplier (mean)",
    "nu_mean": "action multiplier ν (mean)", "predicted_reward": "predicted reward",
    "predicted_return": "predicted return",
    "executed_predicted_return": "predicted return of executed plan chunks",
    "executed_achieved_return": "achieved return of executed plan chunks",
    "openloop_image_mse": "open-loop image MSE over the horizon (held-out)",
    "openloop_image_mse_last": "open-loop image MSE at the horizon's end (held-out)",
    "openloop_reward_mae": "open-loop reward error (held-out)",
    "recon_image_mse": "filtered reconstruction MSE (held-out)",
    "reward_acc_rewarding": "reward-head accuracy at rewarding steps",
    "reward_acc_nonrewarding": "reward-head accuracy at other steps",
    "rewarding_steps": "rewarding steps per episode",
    "reward_pred_rewarding": "mean predicted reward at rewarding steps",
    "reward_pred_nonrewarding": "mean predicted reward at other steps",
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
    return {"mw": "metaworld", "dmc": "dmc", "pm": "pointmass"}.get(prefix, prefix)


def _ordered(names: Iterable[str], order: list[str]) -> list[str]:
    names = set(names)
    known = [n for n in order if n in names]
    return known + sorted(names - set(known))


def order_tasks(tasks: Iterable[str]) -> list[str]:
    return _ordered(tasks, TASK_ORDER)


def order_methods(methods: Iterable[str]) -> list[str]:
    return _ordered(methods, METHOD_ORDER)


def task_title(task: str) -> str:
    return TASK_TITLE.get(task, task)


def method_title(method: str) -> str:
    return METHOD_TITLE.get(method, method)


def metric_title(name: str) -> str:
    """``opt/dynamics_violation`` -> ``dynamics violation``."""
    short = name.split("/", 1)[-1]
    return METRIC_TITLE.get(short, short.replace("_", " "))


def method_colours(methods: Iterable[str]) -> dict[str, str]:
    """A colour per method: the fixed one if known, else a spare one by name order."""
    colours: dict[str, str] = {}
    unknown = sorted(set(methods) - set(METHOD_COLOUR))
    for index, method in enumerate(unknown):
        colours[method] = SPARE_COLOURS[index % len(SPARE_COLOURS)]
    return {**{m: c for m, c in METHOD_COLOUR.items()}, **colours}
