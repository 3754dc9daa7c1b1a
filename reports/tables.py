"""Tables as data (cells with text and emphasis) and their Markdown, LaTeX (booktabs) and HTML forms.

Layout and number format follow the original's ``eval_episodes.py`` (docs/protocol.md#reporting): one row
per method, one column per task; MetaWorld cells ``"67 ± 9%"`` (success), DeepMind Control
cells ``"812 ± 12"`` (return), both mean ± standard error across seeds. The best mean of each
task is bold. Marks: † the cell includes unfinished runs; ‡ the cell has another number of
seeds than most cells (listed in a note).
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from agents.timing import METRIC_PREFIX as TIME_PREFIX
from reports.claims import CONTRADICTED, PENDING, SUPPORTED
from reports.presentation import AGGREGATE_SCALE, Catalogue, method_title, order_methods, task_title
from reports.references import Reference

UNFINISHED_MARK = "†"
SEEDS_MARK = "‡"
MISSING = "–"


@dataclass(frozen=True)
class Cell:
    text: str
    bold: bool = False
    italic: bool = False


@dataclass
class Table:
    """A rendered-format-independent table: ``name`` is its file stem, ``notes`` its footnotes."""

    name: str
    title: str
    header: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)

    def column(self, label: str) -> list[str]:
        """The texts of one column, by header label (tests and readers use it)."""
        index = self.header.index(label)
        return [row[index].text for row in self.rows]

    def cell(self, row_label: str, column_label: str) -> Cell:
        index = self.header.index(column_label)
        return next(row[index] for row in self.rows if row[0].text == row_label)


# --- number formats ----------------------------------------------------------------------------

def format_score(mean: float, sem: float, family: str, metric: str = "") -> str:
    """A cell's text: success in % (fractions in, as logged), returns as they are.

    ``sem`` NaN (a single seed) prints the mean alone. Pointmass returns are small (a few
    units), so they keep two decimals.
    """
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return MISSING
    has_sem = sem is not None and not math.isnan(sem)
    if family == "metaworld" or str(metric).endswith("success"):
        return f"{mean * 100:.0f} ± {sem * 100:.0f}%" if has_sem else f"{mean * 100:.0f}%"
    digits = 2 if family == "pointmass" else 0
    return f"{mean:.{digits}f} ± {sem:.{digits}f}" if has_sem else f"{mean:.{digits}f}"


def format_reference(reference: Reference, family: str) -> str:
    """A published number in the table's units (the file holds success already in %)."""
    digits = 2 if family == "pointmass" else 0
    unit = "%" if family == "metaworld" else ""
    if reference.spread is None:
        return f"{reference.value:.{digits}f}{unit}"
    return f"{reference.value:.{digits}f} ± {reference.spread:.{digits}f}{unit}"


# --- builders ------------------------------------------------------------------------------------

def _best_methods(cells: pd.DataFrame, task: str) -> set[str]:
    """Methods with the highest mean on ``task`` (ties all count); none if fewer than 2 compete."""
    scored = cells[(cells["task"] == task) & cells["mean"].notna()]
    if len(scored) < 2:
        return set()
    best = scored["mean"].max()
    return set(scored.loc[scored["mean"] >= best - 1e-12, "method"])


def final_performance_table(cells: pd.DataFrame, tasks: Sequence[str], methods: Sequence[str], families: dict,
                            name: str, title: str, references: Sequence[Reference] = (),
                            last_episodes: int = 10, catalogue: Catalogue | None = None) -> Table:
    """Methods x tasks table of final performance from ``cell_summary`` rows.

    ``families`` maps task -> family (for the number format). References for a method add a
    "(reported)" row under it.
    """
    header = ["Method", *[task_title(t) for t in tasks]]
    lookup = {(r.task, r.method): r for r in cells.itertuples()}
    in_table = cells[cells["task"].isin(list(tasks)) & cells["method"].isin(list(methods))]
    counts = Counter(int(n) for n in in_table["n"])
    usual = counts.most_common(1)[0][0] if counts else 0
    best = {task: _best_methods(in_table, task) for task in tasks}
    odd_cells, unfinished = [], False
    refs = {(r.task, r.method): r for r in references}
    rows = []
    for method in methods:
        row = [Cell(method_title(method, catalogue))]
        for task in tasks:
            cell = lookup.get((task, method))
            if cell is None:
                row.append(Cell(MISSING))
                continue
            text = format_score(cell.mean, cell.sem, families[task], cell.metric)
            if cell.n_incomplete:
                text += UNFINISHED_MARK
                unfinished = True
            if cell.n != usual:
                text += SEEDS_MARK
                odd_cells.append(f"{task_title(task)} / {method_title(method, catalogue)}: {cell.n}")
            row.append(Cell(text, bold=method in best[task]))
        rows.append(row)
        reported = [refs.get((task, method)) for task in tasks]
        if any(reported):
            rows.append([Cell(f"{method_title(method, catalogue)} (reported)", italic=True)] + [
                Cell(format_reference(r, families[t]) if r else MISSING, italic=True)
                for r, t in zip(reported, tasks, strict=True)])
    notes = [f"Mean ± standard error across seeds of each run's mean over its last {last_episodes} "
             "training episodes; best mean per task in bold."]
    if odd_cells:
        notes.append(f"Seeds per cell: {usual}, except ({SEEDS_MARK}) " + "; ".join(odd_cells) + ".")
    elif usual:
        notes.append(f"Seeds per cell: {usual}.")
    if (in_table["n"] == 1).any():
        notes.append("Cells without ± come from a single seed (no standard error).")
    if unfinished:
        notes.append(f"{UNFINISHED_MARK} includes unfinished runs, scored at their last logged episodes.")
    used = [r for r in references if r.method in methods and r.task in tasks]
    if used:
        sources = sorted({r.source for r in used if r.source})
        notes.append("(reported): published numbers from the reference file"
                     + (f" ({'; '.join(sources)})." if sources else "."))
    return Table(name, title, header, rows, notes)


def aggregate_table(stats: pd.DataFrame, family: str, name: str, title: str, notes: Sequence[str] = (),
                    catalogue: Catalogue | None = None) -> Table:
    """Methods x (IQM, mean) with their stratified-bootstrap 95% CIs, in the family's units."""
    scale = AGGREGATE_SCALE.get(family, 1.0)

    def text(row) -> str:
        values = [row.value * scale, row.low * scale, row.high * scale]
        if family == "metaworld":
            value, low, high = (f"{100 * v:.0f}" for v in values)
            return f"{value}% [{low}, {high}]"
        value, low, high = (f"{v:.0f}" for v in values)
        return f"{value} [{low}, {high}]"

    header = ["Method", "IQM [95% CI]", "Mean [95% CI]", "Runs x tasks"]
    rows = []
    best = {s: stats.loc[stats["statistic"] == s, "value"].max() for s in ("IQM", "mean")}
    for method in order_methods(stats["method"].unique(), catalogue):
        mine = stats[stats["method"] == method].set_index("statistic")
        cells = [Cell(method_title(method, catalogue))]
        for statistic in ("IQM", "mean"):
            row = mine.loc[statistic]
            cells.append(Cell(text(row), bold=len(stats["method"].unique()) > 1 and row.value >= best[statistic] - 1e-12))
        cells.append(Cell(f"{int(mine.loc['IQM', 'runs'])} x {int(mine.loc['IQM', 'tasks'])}"))
        rows.append(cells)
    base = ["Interquartile mean (IQM) and mean over all runs and tasks of each run's final score, "
            "with 95% stratified-bootstrap confidence intervals (rliable)."]
    return Table(name, title, header, rows, base + list(notes))


def cells_table(cells: pd.DataFrame, families: dict, references: Sequence[Reference] = ()) -> Table:
    """Every task x method cell in long form with raw registry keys (for search and scripts).

    Columns ``time/<phase>`` of ``cells`` (shares 0-1) become a group ``<phase> %`` after the
    wall time: where each cell's runs spent it.
    """
    refs = {(r.task, r.method): r for r in references}
    phases = [c for c in cells.columns if c.startswith(TIME_PREFIX)]
    header = ["task", "method", "metric", "value", "seeds", "unfinished", "wall time per run (min)",
              *[f"{c[len(TIME_PREFIX):]} %" for c in phases], "reported"]
    rows = []
    for r in cells.to_dict("records"):
        ref = refs.get((r["task"], r["method"]))
        wall = r.get("wall_minutes", float("nan"))
        rows.append([Cell(str(r["task"])), Cell(str(r["method"])), Cell(str(r["metric"])),
                     Cell(format_score(r["mean"], r["sem"], families[r["task"]], r["metric"])), Cell(str(r["n"])),
                     Cell(str(r["n_incomplete"])), Cell(MISSING if pd.isna(wall) else f"{wall:.1f}"),
                     *[Cell(MISSING if pd.isna(r[c]) else f"{100 * r[c]:.0f}") for c in phases],
                     Cell(format_reference(ref, families[r["task"]]) if ref else MISSING)])
    notes = [f"`<phase> %`: the share of a run's wall time spent in each phase (the sums of its "
             f"`{TIME_PREFIX}<phase>` metrics, setup included; phases in agents/timing.py), mean across the "
             "cell's runs."] if phases else []
    return Table("all_cells", "All cells", header, rows, notes)


def choice_table(rates: pd.DataFrame, tasks: Sequence[str], methods: Sequence[str], last: int,
                 catalogue: Catalogue | None = None) -> Table:
    """Methods x (task, choice) rates in %: which goal the risk experiment's planners pick."""
    choices = ("safe", "risky", "none")
    header = ["Method", *[f"{task_title(t)}: {c}" for t in tasks for c in choices], "seeds"]
    lookup = {(r.task, r.method, r.choice): r for r in rates.itertuples()}
    rows = []
    for method in methods:
        row, seeds = [Cell(method_title(method, catalogue))], set()
        for task in tasks:
            for choice in choices:
                r = lookup.get((task, method, choice))
                row.append(Cell(MISSING if r is None else format_score(r.mean, r.sem, "", "success")))
                if r is not None:
                    seeds.add(int(r.n))
        rows.append([*row, Cell(", ".join(map(str, sorted(seeds))) or MISSING)])
    notes = [f"Share of the last {last} training episodes (with exploration noise) whose first goal reached was "
             "the safe one, the risky one, or none; mean ± standard error across seeds."]
    return Table("lottery_choices", f"Lottery: goal choices over the last {last} training episodes", header,
                 rows, notes)


def claims_table(rows: pd.DataFrame, catalogue: Catalogue | None = None, unfinished: int = 0) -> Table:
    """Claims x tasks x baselines: both scores, the difference with its interval, P(improvement)
    and the verdict (reports/claims.py), from completed runs; ``unfinished`` runs of the claims'
    cells (running or interrupted) were left out, and the notes say how many."""
    def percent(value: float) -> str:
        return MISSING if math.isnan(value) else f"{100 * value:.0f}%"

    def score(row, side: str) -> str:
        text = percent(row[f"{side}_mean"])
        if row["score"] == "safe_choice":
            text += f" (reached {percent(row[f'{side}_reached'])})"
        return text

    header = ["Claim", "Task", "Method", "Baseline", "Method's score", "Baseline's score",
              "Difference [95% CI]", "P(improvement)", "Seeds", "Verdict"]
    table_rows = []
    for _, row in rows.iterrows():
        if math.isnan(row["difference"]):
            interval = MISSING
        elif math.isnan(row["low"]):  # fewer than 2 seeds on a side: no interval
            interval = f"{100 * row['difference']:+.0f} [{MISSING}]"
        else:
            interval = f"{100 * row['difference']:+.0f} [{100 * row['low']:+.0f}, {100 * row['high']:+.0f}]"
        table_rows.append([
            Cell(row["claim"]), Cell(task_title(row["task"])), Cell(method_title(row["method"], catalogue)),
            Cell(method_title(row["baseline"], catalogue)), Cell(score(row, "method")),
            Cell(score(row, "baseline")), Cell(interval),
            Cell(MISSING if math.isnan(row["p_improvement"]) else f"{row['p_improvement']:.2f}"),
            Cell(f"{row['method_seeds']} / {row['baseline_seeds']}"),
            Cell(row["verdict"], bold=row["verdict"] in (SUPPORTED, CONTRADICTED)),
        ])
    notes = ["Scores: success is the mean success of a run's last 10 training episodes (the paper's score); "
             "for the lottery, the share of safe goals among the goal-reaching episodes of a run's last 20, "
             "with the goal-reaching rate in brackets. Difference: method minus baseline, in points, with its "
             "95% stratified-bootstrap interval over seeds; P(improvement): the probability that a random seed "
             "of the method scores above a random seed of the baseline (rliable). Verdict: supported when the "
             "whole interval is above 0, contradicted when below, else inconclusive (docs/reports.md)."]
    pending = rows[rows["verdict"] == PENDING] if len(rows) else rows
    if len(pending):
        notes.append(f"Pending: a side has fewer completed seeds than the suite's {int(pending['seeds_asked'].max())}; "
                     "the difference and interval so far are shown, the verdict waits for every seed.")
    claims = list(dict.fromkeys(rows["claim"])) if len(rows) else []
    texts = dict(zip(rows["claim"], rows["text"], strict=False)) if len(rows) else {}
    notes += [f"{claim}: {texts[claim]}" for claim in claims]
    undefined = int(rows["undefined"].sum()) if len(rows) else 0
    if undefined:
        notes.append(f"{undefined} lottery runs reached no goal in their last 20 episodes: their safe share is "
                     "undefined and they are left out of the scores (their goal-reaching rate is not).")
    if unfinished:
        notes.append(f"Completed runs only: {unfinished} unfinished run{'s' if unfinished > 1 else ''} of these "
                     "cells (running or interrupted) count once they complete.")
    return Table("claims", "The paper's claims: verdicts", header, table_rows, notes)


# --- renderers -------------------------------------------------------------------------------------

def to_markdown(table: Table, heading: bool = True) -> str:
    """A GitHub-flavoured Markdown table with its title and notes."""
    def show(cell: Cell) -> str:
        text = cell.text.replace("|", "\\|")
        return f"**{text}**" if cell.bold else f"*{text}*" if cell.italic else text

    lines = [f"### {table.title}", ""] if heading else []
    lines.append("| " + " | ".join(table.header) + " |")
    lines.append("|" + "|".join(["---"] + [":---:"] * (len(table.header) - 1)) + "|")
    lines += ["| " + " | ".join(show(c) for c in row) + " |" for row in table.rows]
    if table.notes:
        lines += [""] + [f"{note}  " for note in table.notes]
    return "\n".join(lines) + "\n"


_LATEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
          "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
          "±": r"$\pm$", UNFINISHED_MARK: r"$^\dagger$", SEEDS_MARK: r"$^\ddagger$", "–": "--",
          "λ": r"$\lambda$", "ν": r"$\nu$"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(char, char) for char in text)


def to_latex(table: Table) -> str:
    """A booktabs ``table`` environment (needs ``\\usepackage{booktabs}``)."""
    def show(cell: Cell) -> str:
        text = latex_escape(cell.text)
        return rf"\textbf{{{text}}}" if cell.bold else rf"\textit{{{text}}}" if cell.italic else text

    lines = [
        r"\begin{table}[t]", r"\centering",
        rf"\caption{{{latex_escape(table.title)}}}", rf"\label{{tab:{table.name}}}",
        r"\begin{tabular}{l" + "c" * (len(table.header) - 1) + "}", r"\toprule",
        " & ".join(latex_escape(h) for h in table.header) + r" \\", r"\midrule",
    ]
    lines += [" & ".join(show(c) for c in row) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if table.notes:
        lines.append(r"\par\smallskip{\footnotesize " + " ".join(latex_escape(n) for n in table.notes) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def to_html(table: Table) -> str:
    """An HTML ``<table>`` with a caption and the notes under it."""
    def show(cell: Cell, tag: str = "td") -> str:
        text = html.escape(cell.text)
        text = f"<b>{text}</b>" if cell.bold else f"<i>{text}</i>" if cell.italic else text
        return f"<{tag}>{text}</{tag}>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.header)
    body = "\n".join("<tr>" + "".join(show(c) for c in row) + "</tr>" for row in table.rows)
    notes = "".join(f"<p class=\"note\">{html.escape(n)}</p>" for n in table.notes)
    return (f"<table>\n<caption>{html.escape(table.title)}</caption>\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>\n{body}\n</tbody>\n</table>\n{notes}\n")
