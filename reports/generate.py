"""The report: tables and figures of the runs in MongoDB, with one index linking them all.

Flow: ``mongo_runs`` loads runs and metric points -> ``aggregate`` computes final scores,
binned curves and rliable aggregates -> ``tables`` and ``figures`` render them -> ``index``
writes the Markdown and HTML index, moving every file into place atomically.

Which runs count: the newest record of each run key (older ones, with another config hash,
are superseded). COMPLETED runs and unfinished ones (RUNNING, INTERRUPTED) enter the curves
and tables, the unfinished marked; FAILED runs are listed with their error, not scored.
Runs of several suites or profiles are never pooled: each gets its own sub-report.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from agents.timing import METRIC_PREFIX as TIME_PREFIX
from benchmark.claims import Claim
from benchmark.database import MongoTarget
from benchmark.errors import SuiteError
from benchmark.registry import Registry
from reports import aggregate, claims, figures, tables
from reports.index import (
    Block,
    Bullets,
    FigureBlock,
    Heading,
    Paragraph,
    StagedOutput,
    TableBlock,
    staged_output,
    to_html_page,
    to_markdown_page,
)
from reports.mongo_runs import INCOMPLETE, RunData, Selection, load_run_data
from reports.presentation import (
    AGGREGATE_SCALE,
    FAMILY_TITLE,
    OPT_METRIC_ORDER,
    Catalogue,
    headline_metric,
    metric_title,
    order_tasks,
    task_title,
)
from reports.references import Reference, load_references

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAST_EPISODES = aggregate.LAST_EPISODES
SCORED = ("COMPLETED", *INCOMPLETE)
MAX_LISTED_RUNS = 50


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
    last_episodes: int = LAST_EPISODES
    seed: int = 0


@dataclass
class ReportSummary:
    index: Path
    runs: int
    message: str
    files: list[str] = field(default_factory=list)


@dataclass
class _Context:
    """What every section of one report shares."""

    options: ReportOptions
    references: list[Reference]
    catalogue: Catalogue  # method and ablation titles, colours, order and bases
    claims: dict[str, list[Claim]]  # suite -> the claims it declares (benchmark/claims.py)


def generate_report(target: MongoTarget, out: Path, suite: str | None = None,
                    options: ReportOptions | None = None) -> Path:
    """Write the report into ``out``; return the path of its index (Markdown)."""
    return write_report(target, out, suite, options).index


def write_report(target: MongoTarget, out: Path, suite: str | None = None,
                 options: ReportOptions | None = None, registry: Registry | None = None) -> ReportSummary:
    """Write the report into ``out`` and say what it holds (the CLI prints ``message``).

    ``registry`` names, colours and groups the methods and ablations (default: the project's).
    """
    options = options or ReportOptions()
    if options.interval not in ("std", "bootstrap"):
        raise SuiteError(f"--interval {options.interval!r} is not known; use std or bootstrap")
    if options.bin_steps <= 0:
        raise SuiteError(f"--bin-steps must be positive, got {options.bin_steps}")
    references, reference_note = load_references(options.references)
    data = load_run_data(target, Selection(suite, options.tasks, options.methods, options.statuses))
    registry = registry or Registry.load()
    catalogue = Catalogue.from_registry(registry)
    context = _Context(options, references, catalogue,
                       {name: registry.claims(name) for name in registry.names("suites")})
    current = data.current
    scope = f"suite {suite}" if suite else "all suites"
    title = f"LatCo Bench report: {scope}"
    blocks: list[Block] = [Heading(title, 1), Bullets(_provenance(target, data, options, reference_note))]

    out = Path(out)
    with staged_output(out) as stage:
        groups = list(current.groupby(["suite", "profile"], dropna=False, sort=True).groups) if len(current) else []
        if current.empty:
            message = (f"No runs in database {target.db_name} at {target.masked} for {scope}"
                       f"{_filters(options)}: nothing to report. Run `python run_suite.py run --suite "
                       f"{suite or 'smoke'}` first.")
            blocks.append(Paragraph(message))
        elif len(groups) == 1:
            blocks += _Section.of(stage, "", data, context).blocks()
            message = _count_sentence(current)
        else:
            message = f"{len(groups)} suite/profile groups, reported separately: " + _count_sentence(current)
            blocks.append(Paragraph("Runs of different suites or profiles are never pooled; each has its own "
                                    "report:"))
            items = []
            for group_suite, profile in groups:
                name = str(group_suite) if current[current["suite"] == group_suite]["profile"].nunique() == 1 \
                    else f"{group_suite}_{profile}"
                mine = current[(current["suite"] == group_suite) & (current["profile"] == profile)]
                sub = RunData(runs=data.runs[data.runs["run_id"].isin(mine["run_id"])],
                              metrics=data.metrics[data.metrics["run_id"].isin(mine["run_id"])])
                sub_title = f"LatCo Bench report: suite {group_suite}, profile {profile}"
                sub_blocks = [Heading(sub_title, 1), Bullets(_provenance(target, sub, options, reference_note))]
                sub_blocks += _Section.of(stage, f"{name}/", sub, context).blocks()
                _write_index(stage, f"{name}/", sub_blocks, sub_title)
                items.append(f"[{group_suite} ({profile})]({name}/index.md) ([HTML]({name}/index.html)): "
                             + _count_sentence(mine))
            blocks.append(Bullets(items))
        _write_index(stage, "", blocks, title)
        files = list(stage.names)
    return ReportSummary(out / "index.md", len(current), message, files)


# --- pieces of the index -----------------------------------------------------------------------

def _filters(options: ReportOptions) -> str:
    parts = [f"{name} {', '.join(values)}" for name, values in
             (("tasks", options.tasks), ("methods", options.methods), ("statuses", options.statuses)) if values]
    return f" ({'; '.join(parts)})" if parts else ""


def _count_sentence(runs: pd.DataFrame) -> str:
    counts = runs["status"].value_counts()
    detail = ", ".join(f"{counts[s]} {s.lower()}" for s in counts.index)
    return f"{len(runs)} run{'s' * (len(runs) != 1)} ({detail})"


def _git_commit() -> str:
    """The project's commit (read-only ``git rev-parse``), "unknown" outside a checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=5, cwd=PROJECT_ROOT)
        return result.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _provenance(target: MongoTarget, data: RunData, options: ReportOptions, reference_note: str) -> list[str]:
    current = data.current
    superseded = int(data.runs["superseded"].sum())
    commits = current["git_commit"].replace("", "unknown").fillna("unknown").value_counts()
    items = [
        f"Generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC by report code at git commit {_git_commit()}.",
        f"Database `{target.db_name}` at {target.masked}{_filters(options)}.",
        ("Runs: " + _count_sentence(current) if len(current) else "Runs: none.")
        + (f"; {superseded} older records of the same run keys (another config) ignored." if superseded else "."),
    ]
    if len(current):
        items.append("Suites: " + ", ".join(sorted(map(str, current["suite"].unique())))
                     + "; profiles: " + ", ".join(sorted(map(str, current["profile"].unique()))) + ".")
        items.append("Runs produced at git commits: "
                     + ", ".join(f"`{c}` ({n} runs)" for c, n in commits.items()) + ".")
    items.append(reference_note)
    return items


def _write_index(stage: StagedOutput, prefix: str, blocks: list[Block], title: str) -> None:
    stage.write_text(f"{prefix}index.md", to_markdown_page(blocks))
    stage.write_text(f"{prefix}index.html", to_html_page(blocks, title))


# --- one suite's report -------------------------------------------------------------------------

def _tasks_with(cells: pd.DataFrame, methods: Sequence[str], wanted: set[str] | None = None) -> list[str]:
    mine = cells[cells["method"].isin(list(methods))]
    return order_tasks(t for t in mine["task"].unique() if wanted is None or t in wanted)


def _methods_with(cells: pd.DataFrame, tasks: Sequence[str], candidates: Sequence[str]) -> list[str]:
    present = set(cells.loc[cells["task"].isin(list(tasks)), "method"])
    return [m for m in candidates if m in present]


def _headline_points(metrics: pd.DataFrame, runs: pd.DataFrame, metric_of_run: dict) -> pd.DataFrame:
    """Points of each run's chosen metric with the run's task and method."""
    points = aggregate.select_metric(metrics, metric_of_run)
    meta = runs.set_index("run_id")
    return points.assign(task=points["run_id"].map(meta["task"]), method=points["run_id"].map(meta["method"]))


@dataclass
class _Section:
    """One suite/profile group's tables, figures and run lists, written into ``stage`` under ``prefix``.

    Built once from the group's runs (``_Section.of``); each part adds its blocks and, for
    what it cannot show, a line to ``absent`` (the index's "Not in this report").
    """

    stage: StagedOutput
    prefix: str
    context: _Context
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
    absent: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, stage: StagedOutput, prefix: str, data: RunData, context: _Context) -> _Section:
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
        return cls(stage, prefix, context, runs, scored, metrics,
                   families=dict(zip(runs["task"], runs["family"], strict=True)), headline=headline,
                   finals=finals, cells=_in_display_order(_with_time_shares(finals, metrics), catalogue),
                   main=[m for m in methods if m not in catalogue.bases],
                   ablations={base: ablations[base] for base in catalogue.order(ablations)},
                   colours=catalogue.colours_for(runs["method"].unique()))

    @property
    def ablation_methods(self) -> list[str]:
        return [m for group in self.ablations.values() for m in group]

    def blocks(self) -> list[Block]:
        """The section's blocks in index order; writes their files."""
        self.absent.clear()
        table_blocks = self.claims_table() + self.final_tables()
        aggregate_tables, aggregate_figures = self.aggregates()
        table_blocks += aggregate_tables + self.choice_table() + self.cells_table()
        figure_blocks = self.claims_curves() + self.curves() + self.diagnostics() + aggregate_figures + self.optimisation()
        blocks: list[Block] = []
        if table_blocks:
            blocks += [Heading("Tables"), *table_blocks]
        if figure_blocks:
            blocks += [Heading("Figures"), *figure_blocks]
        blocks += self.run_lists()
        if self.scored.empty:
            self.absent.insert(0, "No COMPLETED or unfinished run to score: only failed or queued runs were "
                                  "selected.")
        if len(self.cells) and self.cells["n"].max() <= 1:
            self.absent.insert(0, "One seed per cell: tables show means without standard errors and figures "
                                  "have no error bands.")
        if self.absent:
            blocks += [Heading("Not in this report"), Bullets(self.absent)]
        return blocks

    # --- files ---

    def _save(self, stem: str, figure) -> None:
        """Save a figure as ``<stem>.png`` and ``.pdf`` into the staging folder."""
        self.stage.path(f"{self.prefix}{stem}.pdf")
        figures.save_figure(figure, self.stage.path(f"{self.prefix}{stem}.png").parent / stem)

    def _write_table(self, table: tables.Table) -> TableBlock:
        self.stage.write_text(f"{self.prefix}{table.name}.md", tables.to_markdown(table))
        self.stage.write_text(f"{self.prefix}{table.name}.tex", tables.to_latex(table))
        return TableBlock(table, [f"{table.name}.md", f"{table.name}.tex"])

    # --- tables ---

    def _ablation_title(self, base: str) -> str:
        title = self.context.catalogue.title(base)
        return f"Ablations of {title} vs {title}"

    def final_tables(self) -> list[Block]:
        """Final performance: success tasks, return tasks, and each base method with its ablations."""
        cells, catalogue = self.cells, self.context.catalogue
        success_tasks = set(cells.loc[cells["metric"].astype(str).str.endswith("success"), "task"])
        specs = [
            ("final_success", "Final success (training episodes)", _tasks_with(cells, self.main, success_tasks),
             self.main),
            ("final_return", "Final return (training episodes)",
             _tasks_with(cells, self.main, set(self.families) - success_tasks), self.main),
        ]
        for base, group in self.ablations.items():
            specs.append((f"ablations_{base}_final", f"{self._ablation_title(base)}: final performance",
                          _tasks_with(cells, group), [base, *group]))
        if not self.ablations:
            known = catalogue.ablations()
            self.absent.append("No ablation runs" + (f" ({', '.join(known)})" if known else "")
                               + ": no ablation table or figure.")
        blocks: list[Block] = []
        for name, title, task_list, candidates in specs:
            method_list = _methods_with(cells, task_list, candidates)
            if not task_list or not method_list:
                continue
            table = tables.final_performance_table(cells, task_list, method_list, self.families, name, title,
                                                   self.context.references, self.context.options.last_episodes,
                                                   catalogue)
            blocks += [Heading(title, 3), self._write_table(table)]
        if not blocks:
            self.absent.append("No final-performance table: no scored run logged train/success or train/return.")
        return blocks

    def aggregates(self) -> tuple[list[Block], list[Block]]:
        """Per family with a known normalisation: rliable IQM/mean tables (first list), figures (second)."""
        options = self.context.options
        blocks: list[Block] = []
        figure_blocks: list[Block] = []
        taus = np.linspace(0.0, 1.0, 41)
        for family, scale in AGGREGATE_SCALE.items():
            family_tasks = order_tasks(t for t in self.cells["task"].unique() if self.families.get(t) == family)
            methods = _methods_with(self.cells, family_tasks, self.main)
            if not family_tasks or not methods:
                continue
            mine = self.finals[self.finals["family"] == family]
            matrices, notes = aggregate.score_matrices(mine, family_tasks, methods, scale)
            if not matrices:
                self.absent.append(f"No {FAMILY_TITLE[family]} aggregate: " + "; ".join(notes))
                continue
            stats, profiles = aggregate.aggregate_with_intervals(matrices, taus, options.bootstrap_reps,
                                                                 options.seed)
            n_tasks = len(family_tasks)
            title = f"{FAMILY_TITLE[family]}: aggregate over {n_tasks} task{'s' * (n_tasks > 1)}"
            table = tables.aggregate_table(stats, family, f"aggregate_{family}", title, notes,
                                           self.context.catalogue)
            blocks += [Heading(title, 3), self._write_table(table)]
            if family == "metaworld":
                label, display = "final success (%)", 100.0
            else:
                label, display = "final return", scale
            figure = figures.aggregate_figure(stats, self.colours, title, label, display, self.context.catalogue)
            stem = f"aggregate_iqm_{family}"
            self._save(stem, figure)
            single = " A single run per task leaves nothing to resample: intervals are points." \
                if max(m.shape[0] for m in matrices.values()) < 2 else ""
            figure_blocks.append(FigureBlock(stem, f"**{title}.** Interquartile mean and mean of the runs' final "
                                                   f"scores with 95% stratified-bootstrap CIs "
                                                   f"({options.bootstrap_reps} resamples, rliable).{single}"))
            figure = figures.profile_figure(profiles, self.colours, f"{FAMILY_TITLE[family]}: performance profile",
                                            label.replace("final ", "threshold τ on final "), display,
                                            self.context.catalogue)
            stem = f"performance_profile_{family}"
            self._save(stem, figure)
            figure_blocks.append(FigureBlock(stem, f"**{FAMILY_TITLE[family]}: performance profile.** Fraction of "
                                                   "runs (all tasks pooled) whose final score exceeds τ, with 95% "
                                                   "stratified-bootstrap bands."))
        return blocks, figure_blocks

    @property
    def suite_claims(self) -> list[Claim]:
        suites = self.runs["suite"].unique() if len(self.runs) else []
        return self.context.claims.get(str(suites[0]), []) if len(suites) == 1 else []

    def claims_table(self) -> list[Block]:
        """The suite's claims, a verdict per claim, task and baseline (reports/claims.py)."""
        if not self.suite_claims:
            return []
        options = self.context.options
        rows = claims.claim_rows(self.suite_claims, self.finals, self.scored, self.metrics,
                                 options.bootstrap_reps, options.seed)
        table = tables.claims_table(rows, self.context.catalogue)
        self.stage.write_text(f"{self.prefix}claims.csv", rows.to_csv(index=False))
        return [Heading(table.title, 3), self._write_table(table)]

    def claims_curves(self) -> list[Block]:
        """Per claim and task, the compared methods' curves: success, or the lottery's safe choices."""
        blocks: list[Block] = []
        for score, metric, stem, title, ylabel in (
                ("success", "train/success", "claims_success_vs_steps", "The claims: success vs environment steps",
                 None),
                ("safe_choice", "train/choose_safe", "claims_lottery_vs_steps",
                 "The lottery claim: safe goal chosen vs environment steps", "safe goal chosen (share of episodes)")):
            panels = []
            for claim in (c for c in self.suite_claims if c.score == score):
                for task in claim.tasks:
                    points = self.metrics[self.metrics["metric"] == metric].merge(
                        self.scored[["run_id", "task", "method"]], on="run_id")
                    points = points[(points["task"] == task) & points["method"].isin([claim.method, *claim.against])]
                    panels.append(points.assign(task=f"{claim.name}: {task_title(task)}"))
            if panels:
                points = pd.concat(panels, ignore_index=True)
                blocks += self._curves(stem, points, list(points["task"].unique()),
                                       self.context.catalogue.order(points["method"].unique()), title,
                                       "One panel per claim and task, with the methods it compares.", ylabel)
        return blocks

    def choice_table(self) -> list[Block]:
        """The lottery's goal choices, for runs that logged them."""
        rates = aggregate.choice_rates(self.scored, self.metrics)
        if not len(rates):
            return []
        catalogue = self.context.catalogue
        table = tables.choice_table(rates, order_tasks(rates["task"].unique()),
                                    catalogue.order(rates["method"].unique()), aggregate.CHOICE_EPISODES,
                                    catalogue)
        return [Heading(table.title, 3), self._write_table(table)]

    def cells_table(self) -> list[Block]:
        if not len(self.cells):
            return []
        return [Heading("All cells", 3),
                TableBlock(tables.cells_table(self.cells, self.families, self.context.references))]

    # --- figures ---

    def _curves(self, stem: str, points: pd.DataFrame, tasks: Sequence[str], methods: Sequence[str], title: str,
                what: str, ylabel: str | None = None) -> list[Block]:
        """A learning-curve figure (one panel per task) and its caption; nothing if no points."""
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
        self._save(stem, figure)
        seeds = " One seed per method: no band." if curves["n"].max() <= 1 else ""
        shrunk = f" (shrunk from {options.bin_steps:g} so every curve has several points)" \
            if width < options.bin_steps else ""
        return [FigureBlock(stem, f"**{title}.** {what} One panel per task; line: mean across seeds of each run's "
                                  f"mean in {width:g}-step bins{shrunk}, plotted at the bin's end; band: {band}."
                                  f"{seeds}")]

    def curves(self) -> list[Block]:
        """Headline metric vs environment steps: training, each base with its ablations, evaluation."""
        train = {r.run_id: f"train/{self.headline[r.task]}" for r in self.scored.itertuples()}
        points = _headline_points(self.metrics, self.scored, train)
        success_tasks = [t for t, h in self.headline.items() if h == "success"]
        return_tasks = [t for t, h in self.headline.items() if h != "success"]
        blocks = self._curves("success_vs_steps", points, success_tasks, self.main,
                              "Success rate vs environment steps",
                              "Success of training (exploration) episodes, in % of episodes.")
        blocks += self._curves("return_vs_steps", points, return_tasks, self.main,
                               "Episode return vs environment steps", "Return of training episodes.")
        for base, group in self.ablations.items():
            ablation_tasks = points.loc[points["method"].isin(group), "task"].unique()
            blocks += self._curves(f"ablations_{base}_vs_steps", points, list(ablation_tasks), [base, *group],
                                   self._ablation_title(base),
                                   "Headline metric of training episodes (success in %, or return).")
        evaluation = {r.run_id: f"eval/{self.headline[r.task]}" for r in self.scored.itertuples()}
        eval_blocks = self._curves("eval_vs_steps", _headline_points(self.metrics, self.scored, evaluation),
                                   list(self.headline), [*self.main, *self.ablation_methods],
                                   "Evaluation episodes vs environment steps",
                                   "Noise-free evaluation episodes (mean of each evaluation's episodes).")
        if not eval_blocks:
            self.absent.append("No evaluation curves: no scored run logged eval/success or eval/return.")
        return blocks + eval_blocks

    def diagnostics(self) -> list[Block]:
        """Planner (``plan/``) and world-model (``diag/``) diagnostics vs environment steps."""
        metrics, catalogue = self.metrics, self.context.catalogue
        names = sorted(m for m in metrics["metric"].unique() if str(m).startswith(("plan/", "diag/")))
        blocks: list[Block] = []
        for name in names:
            points = metrics[metrics["metric"] == name].merge(self.scored[["run_id", "task", "method"]], on="run_id")
            kind, short = name.split("/", 1)
            stem = f"{kind}_{re.sub(r'[^A-Za-z0-9_-]+', '_', short)}_vs_steps"
            blocks += self._curves(stem, points, list(self.headline), catalogue.order(points["method"].unique()),
                                   f"{'Planner' if kind == 'plan' else 'World-model'} diagnostic: "
                                   f"{metric_title(name)}",
                                   f"`{name}`, logged after each training episode"
                                   + (" and computed on it before it enters replay, so on data no update has seen "
                                      "(agents/diagnostics.py)." if kind == "diag" else "."), metric_title(name))
        if not names:
            self.absent.append("No planner diagnostics: no run logged `plan/<name>` metrics.")
        return blocks

    def optimisation(self) -> list[Block]:
        """``opt/`` metrics of single plans per optimisation iteration."""
        metrics = self.metrics
        opt = metrics[metrics["metric"].str.startswith("opt/")] if len(metrics) else metrics
        if opt.empty:
            self.absent.append("No optimisation curves: no run logged `opt/<name>` metrics (dynamics violation, "
                               "multipliers, predicted reward per iteration); they appear once the planners log "
                               "them.")
            return []
        points = opt.merge(self.scored[["run_id", "task", "method"]], on="run_id")
        per_metric = pd.Series({key: int(aggregate.plan_index(g["step"].to_numpy())[-1]) + 1
                                for key, g in points.groupby(["run_id", "metric"], sort=False)})
        plans = int(per_metric.groupby(level=0).max().sum())  # every metric of a run covers the same plans
        curves = aggregate.optimisation_curves(points)
        order = [f"opt/{m}" for m in OPT_METRIC_ORDER]
        names = sorted(curves["metric"].unique(), key=lambda m: (order.index(m) if m in order else len(order), m))
        title = "Optimisation curves of single plans"
        figure = figures.optimisation_figure(curves, order_tasks(curves["task"].unique()), names,
                                             self.context.catalogue.order(curves["method"].unique()), self.colours,
                                             title, self.context.catalogue)
        self._save("optimisation_curves", figure)
        known = ", ".join(f"`{n}`" for n in names)
        return [FigureBlock("optimisation_curves",
                            f"**{title}.** {known} per optimisation iteration; rows: tasks; line: mean across runs "
                            f"of each run's mean over its plans ({plans} plan curves in all); band: ±1 std across "
                            "runs.")]

    # --- runs ---

    def run_lists(self) -> list[Block]:
        """runs.csv with every run, and the failed and unfinished runs listed in the index."""
        runs = self.runs
        table = runs.merge(self.finals[["run_id", "metric", "final", "episodes"]], on="run_id", how="left")
        columns = ["run_key", "run_id", "status", "stale", "task", "method", "seed", "last_step", "budget_steps",
                   "metric", "final", "episodes", "config_hash", "git_commit", "fail_reason"]
        self.stage.write_text(f"{self.prefix}runs.csv", table.reindex(columns=columns).to_csv(index=False))
        blocks: list[Block] = [Heading("Runs"), Paragraph("Every run with its status, last logged step and final "
                                                          "score: [runs.csv](runs.csv).")]

        def progress(row) -> str:
            budget = "" if pd.isna(row.budget_steps) else f"{row.budget_steps:.0f}"
            if pd.isna(row.last_step):
                return "nothing logged yet" + (f", budget {budget} steps" if budget else "")
            return f"last step {row.last_step:.0f}" + (f" of {budget}" if budget else "")

        failed = runs[runs["status"] == "FAILED"]
        if len(failed):
            items = [f"`{r.run_key}` (run {r.run_id}, {progress(r)}): {r.fail_reason or 'no traceback recorded'}"
                     for r in failed.itertuples()]
            blocks += [Heading(f"Failed runs ({len(failed)}, not scored)", 3), Bullets(_capped(items))]
        unfinished = runs[~runs["status"].isin(["COMPLETED", "FAILED"])]
        if len(unfinished):
            items = [f"`{r.run_key}` (run {r.run_id}): {r.status}"
                     + (" with no heartbeat for over 2 minutes (probably dead)" if r.stale else "")
                     + f", {progress(r)}" + (", scored up to there (†)" if r.status in INCOMPLETE else ", not scored")
                     for r in unfinished.itertuples()]
            blocks += [Heading(f"Unfinished runs ({len(unfinished)})", 3), Bullets(_capped(items))]
        return blocks


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


def _capped(items: list[str]) -> list[str]:
    if len(items) <= MAX_LISTED_RUNS:
        return items
    return items[:MAX_LISTED_RUNS] + [f"... and {len(items) - MAX_LISTED_RUNS} more: see [runs.csv](runs.csv)."]
