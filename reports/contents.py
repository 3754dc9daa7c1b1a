"""What a suite's report shows, declared once: its tables and figures in index order.

A part is a builder (``Section -> list[Block]``, in ``reports/score_parts.py`` or
``reports/curve_parts.py``) and where it goes: under "Tables" or under "Figures". Adding a
figure is writing its builder and adding one ``Part`` to ``PARTS``. The index then lists the
runs (``runs.csv``, failed and unfinished runs) and what is missing and why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from reports import curve_parts, score_parts
from reports.index import Block, Bullets, Heading, Paragraph
from reports.mongo_runs import INCOMPLETE
from reports.section import Section

MAX_LISTED_RUNS = 50
HEADINGS = {"table": "Tables", "figure": "Figures"}


@dataclass(frozen=True)
class Part:
    """One entry of the report: ``build`` writes its files and returns its blocks, under ``HEADINGS[kind]``."""

    kind: Literal["table", "figure"]
    build: Callable[[Section], list[Block]]


PARTS: tuple[Part, ...] = (
    Part("table", score_parts.claims_table),  # claims.md/.tex/.csv
    Part("table", score_parts.final_tables),  # final_success, final_return, ablations_<base>_final
    Part("table", score_parts.aggregate_tables),  # aggregate_<family>
    Part("table", score_parts.choice_table),  # lottery_choices
    Part("table", score_parts.cells_table),  # in the index only
    Part("figure", curve_parts.claims_curves),  # claims_success_vs_steps, claims_lottery_vs_steps
    Part("figure", curve_parts.learning_curves),  # success_, return_, ablations_<base>_, eval_vs_steps
    Part("figure", curve_parts.diagnostics),  # plan_<name>_vs_steps, diag_<name>_vs_steps
    Part("figure", score_parts.aggregate_figures),  # aggregate_iqm_<family>, performance_profile_<family>
    Part("figure", curve_parts.optimisation),  # optimisation_curves
)


def section_blocks(section: Section, parts: Sequence[Part] = PARTS) -> list[Block]:
    """The section's blocks in index order; writes their files.

    Parts are built in list order (so are the "Not in this report" lines they add), then
    grouped under their headings: all tables first, then all figures.
    """
    section.absent.clear()
    built = [(part.kind, part.build(section)) for part in parts]
    blocks: list[Block] = []
    for kind, heading in HEADINGS.items():
        mine = [block for part_kind, part_blocks in built if part_kind == kind for block in part_blocks]
        if mine:
            blocks += [Heading(heading), *mine]
    blocks += run_lists(section)
    if section.scored.empty:
        section.absent.insert(0, "No COMPLETED or unfinished run to score: only failed or queued runs were "
                                 "selected.")
    if len(section.cells) and section.cells["n"].max() <= 1:
        section.absent.insert(0, "One seed per cell: tables show means without standard errors and figures "
                                 "have no error bands.")
    if section.absent:
        blocks += [Heading("Not in this report"), Bullets(section.absent)]
    return blocks


def run_lists(section: Section) -> list[Block]:
    """runs.csv with every run, and the failed and unfinished runs listed in the index."""
    runs = section.runs
    table = runs.merge(section.finals[["run_id", "metric", "final", "episodes"]], on="run_id", how="left")
    columns = ["run_key", "run_id", "status", "stale", "task", "method", "seed", "last_step", "budget_steps",
               "metric", "final", "episodes", "config_hash", "git_commit", "fail_reason"]
    section.stage.write_text(f"{section.prefix}runs.csv", table.reindex(columns=columns).to_csv(index=False))
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


def _capped(items: list[str]) -> list[str]:
    if len(items) <= MAX_LISTED_RUNS:
        return items
    return items[:MAX_LISTED_RUNS] + [f"... and {len(items) - MAX_LISTED_RUNS} more: see [runs.csv](runs.csv)."]
