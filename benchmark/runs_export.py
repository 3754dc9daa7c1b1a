"""Export: the records of a grid's run keys, with every metric series, into one runs file.

Every record of the selected run keys is exported, whatever config hash it ran with (as
``status`` lists them), oldest first; evaluation records (``<key>/eval``) are not: their
``evaluation_of`` is an id of the database they live in. An entry holds what a record means
outside its database: the record without its ``_id`` and without the ids that point into the
database (``info.metrics``, ``artifacts``, ``experiment.sources``), which become the entry's
``metrics`` (the series themselves) and ``artifacts`` / ``sources`` (names and sizes; the bytes
with ``artifacts=True``). The format: docs/runs.md.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.database import MongoTarget, mask_url
from benchmark.experiment import git_commit
from benchmark.records import record_origin, records_of
from benchmark.registry import RunSpec
from benchmark.runs_file import FORMAT, VERSION, encode_line, write_runs_file

# A URL with user information (``scheme://user:password@host``) anywhere in a text.
_URL_WITH_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@'\"]+@[^\s'\"]*")
# Fields that point into the source database (re-made on import) or belong to it alone.
_DATABASE_FIELDS = ("_id", "origin", "imported", "artifacts")


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: ``path`` (``size`` bytes) and the counts of its header."""

    path: Path
    size: int
    counts: dict[str, int]


def masked(value: Any) -> Any:
    """``value`` with every URL that carries credentials masked (``***:***@host``), at any depth.

    Our code never stores a URL's credentials in a record; this keeps a captured output or a
    config written by other code from carrying one into a file meant to be shared."""
    if isinstance(value, str):
        return _URL_WITH_CREDENTIALS.sub(lambda match: mask_url(match.group(0)), value)
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [masked(item) for item in value]
    return value


def _file_item(fs, name: str, file_id: Any, with_data: bool) -> dict[str, Any]:
    """A GridFS file as an entry item: name, content type, metadata, length (None if the file is
    gone from the database) and, with ``with_data``, its bytes."""
    import gridfs

    try:
        stored = fs.get(file_id)
    except (gridfs.NoFile, TypeError):
        return {"name": name, "length": None}
    item = {"name": name, "content_type": stored.content_type, "metadata": stored.metadata, "length": stored.length}
    if with_data:
        item["data"] = stored.read()
    return item


def export_entry(target: MongoTarget, doc: dict[str, Any], output: bool = True, artifacts: bool = False
                 ) -> dict[str, Any]:
    """One record as a file entry (its origin, record, metric series, artifacts and sources)."""
    import gridfs

    database = target.database()
    fs = gridfs.GridFS(database)
    record = {key: value for key, value in doc.items() if key not in _DATABASE_FIELDS}
    if not output:
        record.pop("captured_out", None)
    if isinstance(record.get("info"), dict):
        record["info"] = {key: value for key, value in record["info"].items() if key != "metrics"}
    sources = []
    if isinstance(record.get("experiment"), dict):
        experiment = dict(record["experiment"])
        sources = experiment.pop("sources", None) or []
        record["experiment"] = experiment
    series = database.metrics.find({"run_id": doc["_id"]}, {"_id": 0, "name": 1, "steps": 1, "values": 1,
                                                            "timestamps": 1}).sort("name", 1)
    return masked({
        "origin": record_origin(doc, target.db_name),
        "record": record,
        "metrics": [{"name": s["name"], "steps": s.get("steps") or [], "values": s.get("values") or [],
                     "timestamps": s.get("timestamps") or []} for s in series],
        "artifacts": [_file_item(fs, a["name"], a.get("file_id"), artifacts) for a in doc.get("artifacts") or []],
        "sources": [_file_item(fs, name, file_id, artifacts) for name, file_id in sources],
    })


def _newest_time(docs: Iterable[dict[str, Any]]) -> Any:
    """The latest start, heartbeat or stop time among the records: what "exported at" means, so
    that the same records give the same header whenever they are exported."""
    times = [doc[name] for doc in docs for name in ("start_time", "heartbeat", "stop_time") if doc.get(name)]
    return max(times) if times else None


def export_runs(
    target: MongoTarget, specs: list[RunSpec], selection: dict[str, Any], out: Path, output: bool = True,
    artifacts: bool = False, progress: Callable[[list], Iterable] = lambda items: items,
    completed_only: bool = False,
) -> ExportSummary | None:
    """Write every record of ``specs``' run keys to ``out``; None (and no file) if there is none.

    ``selection`` is recorded in the header as given (the command's selectors); ``progress``
    wraps the records' list (a tqdm bar in the command line). ``completed_only`` leaves out
    records that have not COMPLETED, so what finished can be shipped while other runs of the
    grid are still going (a running record would land in the file as a run that never ends).
    """
    docs = records_of(target, [spec.key for spec in specs], fields=None,
                      status="COMPLETED" if completed_only else None)
    if not docs:
        return None
    counts = {"runs": 0, "metric_series": 0, "metric_points": 0, "artifacts": 0, "sources": 0}
    with tempfile.TemporaryFile() as spool:  # entries wait on disk until the header's counts are known
        for doc in progress(docs):
            entry = export_entry(target, doc, output, artifacts)
            counts["runs"] += 1
            counts["metric_series"] += len(entry["metrics"])
            counts["metric_points"] += sum(len(series["steps"]) for series in entry["metrics"])
            counts["artifacts"] += sum("data" in item for item in entry["artifacts"])
            counts["sources"] += sum("data" in item for item in entry["sources"])
            spool.write(encode_line(entry))
        header = {
            "format": FORMAT, "version": VERSION, "documentation": "docs/runs.md",
            "suite": specs[0].suite, "selection": selection, "database": target.db_name,
            "code_commit": git_commit(), "exported_at": _newest_time(docs),
            "captured_output": output, "artifacts": artifacts, "counts": counts,
            "statuses": {status: sum(d.get("status") == status for d in docs)
                         for status in sorted({str(d.get("status")) for d in docs})},
        }
        spool.seek(0)
        size = write_runs_file(out, masked(header), spool)  # a binary file iterates by line
    return ExportSummary(Path(out), size, counts)
