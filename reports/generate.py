"""The report: tables and figures of the runs in MongoDB, with one index linking them all.

Flow: ``mongo_runs`` loads runs and metric points -> ``section`` gathers one suite's final
scores and cells -> the parts declared in ``contents`` (builders in ``score_parts`` and
``curve_parts``, computing with ``aggregate`` and rendering with ``tables`` and ``figures``)
write their files -> ``index`` writes the Markdown and HTML index, moving every file into
place atomically.

Which runs count: the newest record of each run key (older ones, with another config hash,
are superseded). COMPLETED runs and unfinished ones (RUNNING, INTERRUPTED) enter the curves
and tables, the unfinished marked; FAILED runs are listed with their error, not scored.
Runs of several suites or profiles are never pooled: each gets its own sub-report.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.database import MongoTarget
from benchmark.errors import SuiteError
from benchmark.registry import Registry
from reports.contents import PARTS, Part, section_blocks
from reports.index import (
    Block,
    Bullets,
    Heading,
    Paragraph,
    StagedOutput,
    staged_output,
    to_html_page,
    to_markdown_page,
)
from reports.mongo_runs import RunData, Selection, load_run_data
from reports.presentation import Catalogue
from reports.references import load_references
from reports.section import Context, ReportOptions, Section

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ReportSummary:
    index: Path
    runs: int
    message: str
    files: list[str] = field(default_factory=list)


def generate_report(target: MongoTarget, out: Path, suite: str | None = None,
                    options: ReportOptions | None = None) -> Path:
    """Write the report into ``out``; return the path of its index (Markdown)."""
    return write_report(target, out, suite, options).index


def write_report(target: MongoTarget, out: Path, suite: str | None = None,
                 options: ReportOptions | None = None, registry: Registry | None = None,
                 parts: Sequence[Part] = PARTS) -> ReportSummary:
    """Write the report into ``out`` and say what it holds (the CLI prints ``message``).

    ``registry`` names, colours and groups the methods and ablations (default: the project's);
    ``parts`` are the tables and figures of each suite's section (``reports/contents.py``).
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
    context = Context(options, references, catalogue,
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
            blocks += section_blocks(Section.of(stage, "", data, context), parts)
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
                sub_blocks += section_blocks(Section.of(stage, f"{name}/", sub, context), parts)
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
