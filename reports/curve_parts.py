"""The report's curves: metrics vs environment steps, and ``opt/`` metrics per optimisation iteration.

Each builder takes a ``Section``, writes its figures, returns their index blocks (nothing when
there is nothing to show) and adds a line to ``section.absent`` for what the reader would
miss. The order they appear in is declared once, in ``reports/contents.py``.
"""

from __future__ import annotations

import re

import pandas as pd

from reports import aggregate, figures
from reports.index import Block, FigureBlock
from reports.presentation import OPT_METRIC_ORDER, metric_title, order_tasks, task_title
from reports.section import Section


def claims_curves(section: Section) -> list[Block]:
    """Per claim and task, the compared methods' curves: success, or the lottery's safe choices."""
    blocks: list[Block] = []
    for score, metric, stem, title, ylabel in (
            ("success", "train/success", "claims_success_vs_steps", "The claims: success vs environment steps",
             None),
            ("safe_choice", "train/choose_safe", "claims_lottery_vs_steps",
             "The lottery claim: safe goal chosen vs environment steps", "safe goal chosen (share of episodes)")):
        panels = []
        for claim in (c for c in section.claims if c.score == score):
            for task in claim.tasks:
                points = section.metrics[section.metrics["metric"] == metric].merge(
                    section.scored[["run_id", "task", "method"]], on="run_id")
                points = points[(points["task"] == task) & points["method"].isin([claim.method, *claim.against])]
                panels.append(points.assign(task=f"{claim.name}: {task_title(task)}"))
        if panels:
            points = pd.concat(panels, ignore_index=True)
            blocks += section.curves(stem, points, list(points["task"].unique()),
                                     section.context.catalogue.order(points["method"].unique()), title,
                                     "One panel per claim and task, with the methods it compares.", ylabel)
    return blocks


def learning_curves(section: Section) -> list[Block]:
    """Headline metric vs environment steps: training, each base with its ablations, evaluation."""
    headline, scored, metrics = section.headline, section.scored, section.metrics
    train = {r.run_id: f"train/{headline[r.task]}" for r in scored.itertuples()}
    points = _headline_points(metrics, scored, train)
    success_tasks = [t for t, h in headline.items() if h == "success"]
    return_tasks = [t for t, h in headline.items() if h != "success"]
    blocks = section.curves("success_vs_steps", points, success_tasks, section.main,
                            "Success rate vs environment steps",
                            "Success of training (exploration) episodes, in % of episodes.")
    blocks += section.curves("return_vs_steps", points, return_tasks, section.main,
                             "Episode return vs environment steps", "Return of training episodes.")
    for base, group in section.ablations.items():
        ablation_tasks = points.loc[points["method"].isin(group), "task"].unique()
        blocks += section.curves(f"ablations_{base}_vs_steps", points, list(ablation_tasks), [base, *group],
                                 section.ablation_title(base),
                                 "Headline metric of training episodes (success in %, or return).")
    evaluation = {r.run_id: f"eval/{headline[r.task]}" for r in scored.itertuples()}
    eval_blocks = section.curves("eval_vs_steps", _headline_points(metrics, scored, evaluation),
                                 list(headline), [*section.main, *section.ablation_methods],
                                 "Evaluation episodes vs environment steps",
                                 "Noise-free evaluation episodes (mean of each evaluation's episodes).")
    if not eval_blocks:
        section.absent.append("No evaluation curves: no scored run logged eval/success or eval/return.")
    return blocks + eval_blocks


def diagnostics(section: Section) -> list[Block]:
    """Planner (``plan/``) and world-model (``diag/``) diagnostics vs environment steps, one figure each."""
    metrics, catalogue = section.metrics, section.context.catalogue
    names = sorted(m for m in metrics["metric"].unique() if str(m).startswith(("plan/", "diag/")))
    blocks: list[Block] = []
    for name in names:
        points = metrics[metrics["metric"] == name].merge(section.scored[["run_id", "task", "method"]], on="run_id")
        kind, short = name.split("/", 1)
        stem = f"{kind}_{re.sub(r'[^A-Za-z0-9_-]+', '_', short)}_vs_steps"
        blocks += section.curves(stem, points, list(section.headline), catalogue.order(points["method"].unique()),
                                 f"{'Planner' if kind == 'plan' else 'World-model'} diagnostic: "
                                 f"{metric_title(name)}",
                                 f"`{name}`, logged after each training episode"
                                 + (" and computed on it before it enters replay, so on data no update has seen "
                                    "(agents/diagnostics.py)." if kind == "diag" else "."), metric_title(name))
    if not names:
        section.absent.append("No planner diagnostics: no run logged `plan/<name>` metrics.")
    return blocks


def optimisation(section: Section) -> list[Block]:
    """``opt/`` metrics of single plans per optimisation iteration."""
    metrics, catalogue = section.metrics, section.context.catalogue
    opt = metrics[metrics["metric"].str.startswith("opt/")] if len(metrics) else metrics
    if opt.empty:
        section.absent.append("No optimisation curves: no run logged `opt/<name>` metrics (dynamics violation, "
                              "multipliers, predicted reward per iteration); they appear once the planners log "
                              "them.")
        return []
    points = opt.merge(section.scored[["run_id", "task", "method"]], on="run_id")
    per_metric = pd.Series({key: int(aggregate.plan_index(g["step"].to_numpy())[-1]) + 1
                            for key, g in points.groupby(["run_id", "metric"], sort=False)})
    plans = int(per_metric.groupby(level=0).max().sum())  # every metric of a run covers the same plans
    curves = aggregate.optimisation_curves(points)
    order = [f"opt/{m}" for m in OPT_METRIC_ORDER]
    names = sorted(curves["metric"].unique(), key=lambda m: (order.index(m) if m in order else len(order), m))
    title = "Optimisation curves of single plans"
    figure = figures.optimisation_figure(curves, order_tasks(curves["task"].unique()), names,
                                         catalogue.order(curves["method"].unique()), section.colours, title,
                                         catalogue)
    section.save("optimisation_curves", figure)
    known = ", ".join(f"`{n}`" for n in names)
    return [FigureBlock("optimisation_curves",
                        f"**{title}.** {known} per optimisation iteration; rows: tasks; line: mean across runs of "
                        f"each run's mean over its plans ({plans} plan curves in all); band: ±1 std across runs.")]


def _headline_points(metrics: pd.DataFrame, runs: pd.DataFrame, metric_of_run: dict) -> pd.DataFrame:
    """Points of each run's chosen metric with the run's task and method."""
    points = aggregate.select_metric(metrics, metric_of_run)
    meta = runs.set_index("run_id")
    return points.assign(task=points["run_id"].map(meta["task"]), method=points["run_id"].map(meta["method"]))
