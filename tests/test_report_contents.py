"""The report as a declared list of parts (reports/contents.py), on the shipped smoke runs."""

from __future__ import annotations

from conftest import SMOKE_RUNS, registry_with_smoke_claims
from matplotlib.figure import Figure

from benchmark.runs_import import import_files
from reports.contents import PARTS, Part
from reports.generate import ReportOptions, write_report
from reports.index import Block, FigureBlock, TableBlock
from reports.section import Section


def _files_of(block: Block) -> list[str]:
    if isinstance(block, FigureBlock):
        return [f"{block.stem}.png", f"{block.stem}.pdf"]
    return block.files if isinstance(block, TableBlock) else []


def test_every_declared_part_shows_something_on_the_smoke_runs_and_writes_its_files(database, tmp_path):
    import_files([SMOKE_RUNS], database)
    built: dict[str, list[Block]] = {}

    def recorded(part: Part) -> Part:
        def build(section: Section) -> list[Block]:
            built[part.build.__name__] = part.build(section)
            return built[part.build.__name__]
        return Part(part.kind, build)

    out = tmp_path / "report"
    summary = write_report(database, out, "smoke", ReportOptions(bootstrap_reps=50), registry_with_smoke_claims(tmp_path),
                           parts=[recorded(part) for part in PARTS])
    assert list(built) == [part.build.__name__ for part in PARTS]
    assert [name for name, blocks in built.items() if not blocks] == []
    for name, blocks in built.items():
        missing = [f for block in blocks for f in _files_of(block) if f not in summary.files]
        assert not missing, f"{name} returned blocks for files it did not write: {missing}"


def test_a_figure_added_to_the_list_is_written_and_shown_under_figures(database, tmp_path):
    import_files([SMOKE_RUNS], database)

    def runs_per_method(section: Section) -> list[Block]:
        figure = Figure()
        counts = section.runs["method"].value_counts()
        figure.add_subplot().bar(list(counts.index), list(counts.values))
        section.save("runs_per_method", figure)
        return [FigureBlock("runs_per_method", "**Runs per method.** A test's figure.")]

    out = tmp_path / "report"
    summary = write_report(database, out, "smoke", ReportOptions(bootstrap_reps=50),
                           parts=[Part("figure", runs_per_method)])
    assert {"runs_per_method.png", "runs_per_method.pdf"} <= set(summary.files)
    index = (out / "index.md").read_text()
    assert "## Tables" not in index
    assert index.index("## Figures") < index.index("**Runs per method.** A test's figure.") < index.index("## Runs")
