"""One suite/profile group's shared data and the helpers every table and figure builder uses.

A report section is built once from the group's runs (``Section.of``): final scores, cells,
methods and ablations in display order, colours. The builders (``reports/score_parts.py``,
``reports/curve_parts.py``, listed in ``reports/contents.py``) read it, write their files
through ``write_table`` and ``save``, and add a line to ``absent`` for what they cannot show.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from agents.timing import METRIC_PREFIX as TIME_PREFIX
from benchmark.claims import Claim
from reports import aggregate, figures, tables
from reports.index import Block, FigureBlock, StagedOutput, TableBlock
from reports.mongo_runs import INCOMPLETE, RunData
from reports.presentation import AGGREGATE_SCALE, Catalogue, headline_metric, order_tasks
from reports.references import Reference

SCORED = ("COMPLETED", *INCOMPLETE)


@dataclass(frozen=True)
class ReportOptions:
    """What the user can change from the command line (defaults: the original's conventions)."""

    tasks: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    bin_steps: float = aggregate.DEFAULT_BIN_STEPS
    min_bins: int = aggregate.MIN_BINS
    interval: str = "std"  # "std" (the original's ±1 std) or "bootstrap" (95% CI of the mean)
    references: Path | None = None  # None: benchmark/reference_numbers.yaml if it exists
    bootstrap_reps: int = 2000
    last_episodes: int = aggregate.LAST_EPISODES
    seed: int = 0


@dataclass
class Context:
    """What every section of one report shares."""

    options: ReportOptions
    references: list[Reference]
    catalogue: Catalogue  # method and ablation titles, colours, order and bases
    claims: dict[str, list[Claim]]  # suite -> the claims it declares (benchmark/claims.py)


@dataclass
class FamilyAggregate:
    """rliable aggregates of one environment family's final scores (one table and two figures)."""

    tasks: list[str]
    scale: float  # the family's normalisation (AGGREGATE_SCALE)
    matrices: dict[str, np.ndarray]  # method -> [runs, tasks] normalised final scores; empty if none fit
    notes: list[str]  # methods cut to a common seed count or left out
    stats: pd.DataFrame | None  # IQM and mean with their intervals, per method; None without matrices
    profiles: pd.DataFrame | None  # performance profiles with bands, per method; None without matrices


@dataclass
class Section:
    """One suite/profile group's data, written into ``stage`` under ``prefix``."""

    stage: StagedOutput
    prefix: str
    context: Context
    runs: pd.DataFrame  # every current run of the group
    scored: pd.DataFrame  # the runs with a score: COMPLETED or unfinished
    metrics: pd.DataFrame  # the scored runs' metric points
    families: dict[str, str]  # task -> environment family
    headline: dict[str, str]  # task -> the metric it is scored by
    finals: pd.DataFrame  # one final score per scored run
    cells: pd.DataFrame  # task x method summaries, in display order
    main: list[str]  # methods that are not ablations, in display order
    ablations: dict[str, list[str]]  # base method -> its ablations with runs, both in display order
    colours: dict[str, str]
    claims: list[Claim]  # the claims of the group's suite
    absent: list[str] = field(default_factory=list)  # the index's "Not in this report"

    @classmethod
    def of(cls, stage: StagedOutput, prefix: str, data: RunData, context: Context) -> Section:
        catalogue = context.catalogue
        runs = data.current
        scored = runs[runs["status"].isin(SCORED)]
        metrics = data.metrics[data.metrics["run_id"].isin(scored["run_id"])]
        headline = {r.task: headline_metric(r.family, r.score_metric) for r in runs.itertuples()}
        metric_of_run = {r.run_id: f"train/{headline[r.task]}" for r in scored.itertuples()}
        finals = aggregate.final_per_run(scored, metrics, metric_of_run, context.options.last_episodes)
        methods = catalogue.order(scored["method"].unique())
        ablations: dict[str, list[str]] = {}
        for method in methods:
            if method in catalogue.bases:
                ablations.setdefault(catalogue.bases[method], []).append(method)
        suites = runs["suite"].unique() if len(runs) else []
        return cls(stage, prefix, context, runs, scored, metrics,
                   families=dict(zip(runs["task"], runs["family"], strict=True)), headline=headline,
                   finals=finals, cells=_in_display_order(_with_time_shares(finals, metrics), catalogue),
                   main=[m for m in methods if m not in catalogue.bases],
                   ablations={base: ablations[base] for base in catalogue.order(ablations)},
                   colours=catalogue.colours_for(runs["method"].unique()),
                   claims=context.claims.get(str(suites[0]), []) if len(suites) == 1 else [])

    @property
    def ablation_methods(self) -> list[str]:
        return [m for group in self.ablations.values() for m in group]

    def ablation_title(self, base: str) -> str:
        title = self.context.catalogue.title(base)
        return f"Ablations of {title} vs {title}"

    @cached_property
    def family_aggregates(self) -> dict[str, FamilyAggregate]:
        """Per family with a known normalisation and main-method runs, in AGGREGATE_SCALE order.

        Computed once for the aggregate tables and figures (the bootstrap is the report's slowest step).
        """
        options = self.context.options
        taus = np.linspace(0.0, 1.0, 41)
        result: dict[str, FamilyAggregate] = {}
        for family, scale in AGGREGATE_SCALE.items():
            family_tasks = order_tasks(t for t in self.cells["task"].unique() if self.families.get(t) == family)
            methods = methods_with(self.cells, family_tasks, self.main)
            if not family_tasks or not methods:
                continue
            mine = self.finals[self.finals["family"] == family]
            matrices, notes = aggregate.score_matrices(mine, family_tasks, methods, scale)
            stats, profiles = aggregate.aggregate_with_intervals(matrices, taus, options.bootstrap_reps,
                                                                 options.seed) if matrices else (None, None)
            result[family] = FamilyAggregate(family_tasks, scale, matrices, notes, stats, profiles)
        return result

    # --- files ---

    def save(self, stem: str, figure) -> None:
        """Save a figure as ``<stem>.png`` and ``.pdf`` into the staging folder."""
        self.stage.path(f"{self.prefix}{stem}.pdf")
        figures.save_figure(figure, self.stage.path(f"{self.prefix}{stem}.png").parent / stem)

    def write_table(self, table: tables.Table) -> TableBlock:
        """Write a table as ``<name>.md`` and ``.tex``; return its index block."""
        self.stage.write_text(f"{self.prefix}{table.name}.md", tables.to_markdown(table))
        self.stage.write_text(f"{self.prefix}{table.name}.tex", tables.to_latex(table))
        return TableBlock(table, [f"{table.name}.md", f"{table.name}.tex"])

    def curves(self, stem: str, points: pd.DataFrame, tasks: Sequence[str], methods: Sequence[str], title: str,
               what: str, ylabel: str | None = None) -> list[Block]:
        """A learning-curve figure (one panel per task) and its caption; nothing if no points.

        ``points``: metric points with ``run_id, task, method, metric, step, value``.
        """
        options = self.context.options
        points = points[points["task"].isin(tasks) & points["method"].isin(methods)]
        if points.empty:
            return []
        tasks = order_tasks(points["task"].unique())
        width = aggregate.effective_bin_width(options.bin_steps, float(points["step"].max()), options.min_bins)
        curves = aggregate.seed_curves(points[["run_id", "task", "method", "step", "value"]], width,
                                       options.interval, min(options.bootstrap_reps, 1000), options.seed)
        axis = {t: (ylabel, 1.0) if ylabel else ("success (%)", 100.0)
                if points.loc[points["task"] == t, "metric"].iloc[0].endswith("success") else ("episode return", 1.0)
                for t in tasks}
        band = "±1 std across seeds (population std, as the original)" if options.interval == "std" \
            else "95% bootstrap CI of the mean across seeds"
        figure = figures.learning_curves_figure(curves, tasks, methods, self.colours, title, axis,
                                                self.context.catalogue)
        self.save(stem, figure)
        seeds = " One seed per method: no band." if curves["n"].max() <= 1 else ""
        shrunk = f" (shrunk from {options.bin_steps:g} so every curve has several points)" \
            if width < options.bin_steps else ""
        return [FigureBlock(stem, f"**{title}.** {what} One panel per task; line: mean across seeds of each run's "
                                  f"mean in {width:g}-step bins{shrunk}, plotted at the bin's end; band: {band}."
                                  f"{seeds}")]


def methods_with(cells: pd.DataFrame, tasks: Sequence[str], candidates: Sequence[str]) -> list[str]:
    """The candidates with a cell on any of ``tasks``, in the candidates' order."""
    present = set(cells.loc[cells["task"].isin(list(tasks)), "method"])
    return [m for m in candidates if m in present]


def _with_time_shares(finals: pd.DataFrame, metrics: pd.DataFrame) -> pd.DataFrame:
    """The cells' summaries plus a ``time/<phase>`` column per phase any run timed (its share)."""
    cells = aggregate.cell_summary(finals)
    shares = aggregate.cell_time_shares(finals, aggregate.phase_seconds(metrics))
    if shares.empty:
        return cells
    shares = shares.rename(columns={p: f"{TIME_PREFIX}{p}" for p in shares.columns if p not in ("task", "method")})
    return cells.merge(shares, on=["task", "method"], how="left")


def _in_display_order(cells: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    """Cells sorted as the tables show them: tasks in suite order, then methods."""
    task_rank = {t: i for i, t in enumerate(order_tasks(cells["task"].unique()))}
    method_rank = {m: i for i, m in enumerate(catalogue.order(cells["method"].unique()))}
    order = sorted(range(len(cells)), key=lambda i: (task_rank[cells["task"].iat[i]],
                                                     method_rank[cells["method"].iat[i]]))
    return cells.iloc[order].reset_index(drop=True)
