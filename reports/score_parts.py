"""The report's tables of final scores, and the figures of their rliable aggregates.

Each builder takes a ``Section``, writes its files, returns its index blocks (nothing when
there is nothing to show) and adds a line to ``section.absent`` for what the reader would
miss. The order they appear in is declared once, in ``reports/contents.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from reports import aggregate, claims, figures, tables
from reports.index import Block, FigureBlock, Heading, TableBlock
from reports.presentation import FAMILY_TITLE, order_tasks
from reports.section import Section, methods_with


def claims_table(section: Section) -> list[Block]:
    """The suite's claims, a verdict per claim, task and baseline (reports/claims.py), and claims.csv."""
    if not section.claims:
        return []
    options = section.context.options
    # A verdict counts finished runs only: an unfinished run's last episodes are not its final ones.
    completed = section.scored[section.scored["status"] == "COMPLETED"]
    rows = claims.claim_rows(section.claims, section.finals[section.finals["status"] == "COMPLETED"], completed,
                             section.metrics, options.bootstrap_reps, options.seed)
    cells = {(task, method) for claim in section.claims for task in claim.tasks
             for method in (claim.method, *claim.against)}
    unfinished = sum((run.task, run.method) in cells and run.status != "COMPLETED"
                     for run in section.scored.itertuples())
    table = tables.claims_table(rows, section.context.catalogue, unfinished)
    section.stage.write_text(f"{section.prefix}claims.csv", rows.to_csv(index=False))
    return [Heading(table.title, 3), section.write_table(table)]


def final_tables(section: Section) -> list[Block]:
    """Final performance: success tasks, return tasks, and each base method with its ablations."""
    cells, catalogue, main = section.cells, section.context.catalogue, section.main
    success_tasks = set(cells.loc[cells["metric"].astype(str).str.endswith("success"), "task"])
    specs = [
        ("final_success", "Final success (training episodes)", _tasks_with(cells, main, success_tasks), main),
        ("final_return", "Final return (training episodes)",
         _tasks_with(cells, main, set(section.families) - success_tasks), main),
    ]
    for base, group in section.ablations.items():
        specs.append((f"ablations_{base}_final", f"{section.ablation_title(base)}: final performance",
                      _tasks_with(cells, group), [base, *group]))
    if not section.ablations:
        known = catalogue.ablations()
        section.absent.append("No ablation runs" + (f" ({', '.join(known)})" if known else "")
                              + ": no ablation table or figure.")
    blocks: list[Block] = []
    for name, title, task_list, candidates in specs:
        method_list = methods_with(cells, task_list, candidates)
        if not task_list or not method_list:
            continue
        table = tables.final_performance_table(cells, task_list, method_list, section.families, name, title,
                                               section.context.references, section.context.options.last_episodes,
                                               catalogue)
        blocks += [Heading(title, 3), section.write_table(table)]
    if not blocks:
        section.absent.append("No final-performance table: no scored run logged train/success or train/return.")
    return blocks


def aggregate_tables(section: Section) -> list[Block]:
    """Per family with a known normalisation: rliable IQM and mean with 95% stratified-bootstrap CIs."""
    blocks: list[Block] = []
    for family, result in section.family_aggregates.items():
        if result.stats is None:
            section.absent.append(f"No {FAMILY_TITLE[family]} aggregate: " + "; ".join(result.notes))
            continue
        title = _aggregate_title(family, result.tasks)
        table = tables.aggregate_table(result.stats, family, f"aggregate_{family}", title, result.notes,
                                       section.context.catalogue)
        blocks += [Heading(title, 3), section.write_table(table)]
    return blocks


def choice_table(section: Section) -> list[Block]:
    """The lottery's goal choices, for runs that logged them."""
    rates = aggregate.choice_rates(section.scored, section.metrics)
    if not len(rates):
        return []
    catalogue = section.context.catalogue
    table = tables.choice_table(rates, order_tasks(rates["task"].unique()),
                                catalogue.order(rates["method"].unique()), aggregate.CHOICE_EPISODES, catalogue)
    return [Heading(table.title, 3), section.write_table(table)]


def cells_table(section: Section) -> list[Block]:
    """Every task x method cell with its seeds and time shares, in the index only."""
    if not len(section.cells):
        return []
    return [Heading("All cells", 3),
            TableBlock(tables.cells_table(section.cells, section.families, section.context.references))]


def aggregate_figures(section: Section) -> list[Block]:
    """Per family of ``aggregate_tables``: IQM and mean with their CIs, and the performance profile."""
    options, catalogue = section.context.options, section.context.catalogue
    blocks: list[Block] = []
    for family, result in section.family_aggregates.items():
        if result.stats is None:
            continue
        title = _aggregate_title(family, result.tasks)
        if family == "metaworld":
            label, display = "final success (%)", 100.0
        else:
            label, display = "final return", result.scale
        stem = f"aggregate_iqm_{family}"
        section.save(stem, figures.aggregate_figure(result.stats, section.colours, title, label, display, catalogue))
        single = " A single run per task leaves nothing to resample: intervals are points." \
            if max(m.shape[0] for m in result.matrices.values()) < 2 else ""
        blocks.append(FigureBlock(stem, f"**{title}.** Interquartile mean and mean of the runs' final scores with "
                                        f"95% stratified-bootstrap CIs ({options.bootstrap_reps} resamples, "
                                        f"rliable).{single}"))
        stem = f"performance_profile_{family}"
        section.save(stem, figures.profile_figure(result.profiles, section.colours,
                                                  f"{FAMILY_TITLE[family]}: performance profile",
                                                  label.replace("final ", "threshold τ on final "), display,
                                                  catalogue))
        blocks.append(FigureBlock(stem, f"**{FAMILY_TITLE[family]}: performance profile.** Fraction of runs (all "
                                        "tasks pooled) whose final score exceeds τ, with 95% stratified-bootstrap "
                                        "bands."))
    return blocks


def _aggregate_title(family: str, tasks: Sequence[str]) -> str:
    return f"{FAMILY_TITLE[family]}: aggregate over {len(tasks)} task{'s' * (len(tasks) > 1)}"


def _tasks_with(cells: pd.DataFrame, methods: Sequence[str], wanted: set[str] | None = None) -> list[str]:
    mine = cells[cells["method"].isin(list(methods))]
    return order_tasks(t for t in mine["task"].unique() if wanted is None or t in wanted)
