"""Citations of the docs resolve: every ``docs/<file>.md#anchor`` in the code names a heading.

Docstrings say where the maths and the protocol are written down instead of repeating them;
this keeps those pointers from rotting when a heading is renamed, and keeps anyone from citing
notes that are not in the repository (the design notes the code first cited never were).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SKIP_DIRS = {".git", ".venv", "node_modules", "results", "__pycache__", ".pytest_cache", ".ruff_cache"}
SOURCE_SUFFIXES = (".py", ".yaml", ".md")
CITATION = re.compile(r"docs/([\w.-]+\.md)(?:#([\w-]+))?")
MARKDOWN_LINK = re.compile(r"\]\(([\w.-]+\.md)?(?:#([\w-]+))?\)")
# A repository file the docs point to, e.g. `agents/planners/latco.py` (globs are not matched).
FILE_POINTER = re.compile(r"`((?:agents|envs|benchmark|reports|bench|tests|scripts)/[\w/.-]+\.(?:py|yaml|sh))")
# A note cited without its docs/ folder is one that does not exist in the repository (a file
# name in backticks, as in README's layout table, is a name, not a citation).
BARE_NOTE = re.compile(r"(?<![\w/`])(latco|protocol|algorithm)\.md")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Anchors of a Markdown file's headings (outside code fences), with GitHub's -1, -2 suffixes."""
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match and not fenced:
            base = slug(match.group(1))
            name, n = base, 0
            while name in found:
                n += 1
                name = f"{base}-{n}"
            found.add(name)
    return found


def source_files() -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        files += [Path(folder) / n for n in names if n.endswith(SOURCE_SUFFIXES)]
    return [f for f in files if f != Path(__file__).resolve()]


def test_slug_follows_github() -> None:
    assert slug("LatCo objective") == "latco-objective"
    assert slug("Gauss-Newton steps") == "gauss-newton-steps"
    assert slug("CEM (planet)") == "cem-planet"
    assert slug("latco_first_order") == "latco_first_order"


def test_every_cited_docs_anchor_is_a_heading() -> None:
    cache: dict[str, set[str]] = {}
    broken, cited = [], 0
    for path in source_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        links = [(m.group(1), m.group(2), m.group(0)) for m in CITATION.finditer(text)]
        if path.parent == DOCS:  # links between the docs are relative to docs/
            links += [(m.group(1) or path.name, m.group(2), m.group(0)) for m in MARKDOWN_LINK.finditer(text)]
        for name, anchor, shown in links:
            cited += 1
            target = DOCS / name
            where = f"{path.relative_to(ROOT)}: {shown}"
            if not target.is_file():
                broken.append(f"{where} (no file docs/{name})")
            elif anchor and anchor not in cache.setdefault(name, anchors(target)):
                broken.append(f"{where} (no heading with anchor #{anchor} in docs/{name})")
    assert cited > 20, f"only {cited} citations of docs/ found: is the scan looking in the right place?"
    assert not broken, "citations of docs/ that do not resolve; fix the anchor or the heading:\n" + "\n".join(broken)


def test_notes_are_cited_by_their_path_in_the_repository() -> None:
    bare = []
    for path in source_files():
        if path.parent == DOCS:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if BARE_NOTE.search(line):
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bare, "cite docs/algorithm.md#<section> or docs/protocol.md#<section> instead of:\n" + "\n".join(bare)


def test_files_named_in_the_docs_exist() -> None:
    """The docs say which module implements what; a module renamed or split must update them."""
    missing = [f"docs/{doc.name}: {name}" for doc in sorted(DOCS.glob("*.md"))
               for name in FILE_POINTER.findall(doc.read_text(encoding="utf-8")) if not (ROOT / name).is_file()]
    assert not missing, "files named in docs/ that do not exist; point to the new module:\n" + "\n".join(missing)
