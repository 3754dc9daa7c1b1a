"""The report's index (Markdown and a static HTML page) and the atomic output folder.

The index is a list of blocks rendered twice, so the Markdown and HTML pages always list the
same figures and tables. Files are first written to a staging folder inside the output
folder and then moved into place with ``os.replace`` (atomic on one filesystem), the index
last, so a reader never sees an index linking a half-written figure; files of the previous
report that the new one does not produce are removed (only files the report wrote itself,
listed in its manifest).
"""

from __future__ import annotations

import html
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from reports.tables import Table, to_html, to_markdown

MANIFEST = ".report-files"


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    """Plain text with Markdown-style `code` spans and [label](href) links only."""

    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class FigureBlock:
    """A figure saved as ``<stem>.png`` and ``<stem>.pdf`` (stem relative to the index)."""

    stem: str
    caption: str


@dataclass
class TableBlock:
    """A table shown inline, with links to its files (``.md``, ``.tex``)."""

    table: Table
    files: list[str] = field(default_factory=list)


Block = Heading | Paragraph | Bullets | FigureBlock | TableBlock


def to_markdown_page(blocks: Sequence[Block]) -> str:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            lines += ["#" * block.level + " " + block.text, ""]
        elif isinstance(block, Paragraph):
            lines += [block.text, ""]
        elif isinstance(block, Bullets):
            lines += [f"- {item}" for item in block.items] + [""]
        elif isinstance(block, FigureBlock):
            lines += [block.caption, "", f"![{block.stem}]({block.stem}.png)", "",
                      f"Files: [PNG]({block.stem}.png), [PDF]({block.stem}.pdf)", ""]
        elif isinstance(block, TableBlock):
            lines += [to_markdown(block.table, heading=False).rstrip("\n"), ""]
            if block.files:
                lines += ["Files: " + ", ".join(f"[{Path(f).suffix[1:].upper()}]({f})" for f in block.files), ""]
    return "\n".join(lines)


def _inline_html(text: str) -> str:
    """Escape, then turn `code` and [label](href) into HTML."""
    escaped = html.escape(text, quote=False)
    escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
    escaped = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", escaped)
    return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", lambda m: f'<a href="{html.escape(m[2])}">{m[1]}</a>', escaped)


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #ddd; text-align: center; }
th:first-child, td:first-child { text-align: left; }
thead th { border-bottom: 2px solid #444; }
img { max-width: 100%; border: 1px solid #eee; }
p.note { font-size: 0.85em; color: #555; margin: 0.1em 0; }
figure { margin: 1em 0 2em 0; }
code { background: #f4f4f4; padding: 0 0.2em; }
"""


def to_html_page(blocks: Sequence[Block], title: str) -> str:
    body: list[str] = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{html.escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline_html(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block.items) + "</ul>")
        elif isinstance(block, FigureBlock):
            stem = html.escape(block.stem)
            body.append(f'<figure><figcaption>{_inline_html(block.caption)} (<a href="{stem}.pdf">PDF</a>)'
                        f'</figcaption><a href="{stem}.png"><img src="{stem}.png" alt="{stem}"></a></figure>')
        elif isinstance(block, TableBlock):
            links = ", ".join(f'<a href="{html.escape(f)}">{Path(f).suffix[1:].upper()}</a>' for f in block.files)
            body.append(to_html(block.table) + (f"<p class=\"note\">Files: {links}</p>" if links else ""))
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{html.escape(title)}"
            f"</title>\n<style>{_CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")


class StagedOutput:
    """Files written into a hidden staging folder, moved into ``out`` only by ``commit``."""

    def __init__(self, out: Path):
        self.out = Path(out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.out))
        self.names: list[str] = []

    def path(self, name: str) -> Path:
        """Where to write ``name`` (relative to the output folder) before the commit."""
        if name not in self.names:
            self.names.append(name)
        target = self.staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_text(self, name: str, text: str) -> None:
        self.path(name).write_text(text, encoding="utf-8")

    def commit(self) -> None:
        """Move every file into place (index files last), then drop the previous report's leftovers."""
        order = sorted(self.names, key=lambda n: (Path(n).name.startswith("index."), n.count("/") == 0, n))
        for name in order:
            destination = self.out / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staging / name, destination)
        manifest = self.out / MANIFEST
        previous = manifest.read_text().split("\n") if manifest.exists() else []
        for name in set(previous) - set(self.names):
            stale = self.out / name
            if name and stale.is_file() and self.out in stale.resolve().parents:
                stale.unlink()
        temporary = self.staging / MANIFEST
        temporary.write_text("\n".join(sorted(self.names)))
        os.replace(temporary, manifest)
        shutil.rmtree(self.staging, ignore_errors=True)

    def abort(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


@contextmanager
def staged_output(out: Path) -> Iterator[StagedOutput]:
    """Commit the staged files if the block succeeds; otherwise leave the old report untouched."""
    stage = StagedOutput(out)
    try:
        yield stage
    except BaseException:
        stage.abort()
        raise
    stage.commit()
