"""The runs file: runs as portable data, one header line and one line per run (docs/runs.md).

Gzip'd JSON lines: the file streams (an export of thousands of runs never sits in memory
whole) and reads with ``zcat | head``; MongoDB Extended JSON in relaxed mode (``bson.json_util``)
keeps datetimes, ObjectIds, binary data and NaN exact; sorted keys, compact separators and a
gzip header without time or file name make the same runs the same bytes.

Reading checks the whole file before anything is written (:func:`check_runs_file`), then
streams the entries again to import them (:func:`open_runs_file`): a damaged or truncated file,
another kind of file, a newer format version or a malformed entry is one :class:`SuiteError`
naming the file, the entry and the fix.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bson import json_util

from benchmark.errors import SuiteError

FORMAT = "latco-bench-runs"
VERSION = 1  # docs/runs.md#version-policy: readers read every version up to their own
SUFFIX = ".jsonl.gz"
JSON_OPTIONS = json_util.JSONOptions(json_mode=json_util.JSONMode.RELAXED, tz_aware=False,
                                     datetime_representation=json_util.DatetimeRepresentation.ISO8601)
# Sacred's statuses plus the ones this suite's launchers write.
STATUSES = ("QUEUED", "RUNNING", "COMPLETED", "FAILED", "INTERRUPTED", "TIMEOUT")
IDENTITY = {"run_key": str, "config_hash": str, "suite": str, "task": str, "method": str, "profile": str,
            "seed": int}
_EXPORT_AGAIN = "export it again from its database (`run_suite.py export`)"


def encode_line(document: dict[str, Any]) -> bytes:
    """One JSON line: Extended JSON (relaxed), keys sorted, no spaces."""
    text = json_util.dumps(document, json_options=JSON_OPTIONS, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    return text.encode("utf-8") + b"\n"


def write_runs_file(path: Path, header: dict[str, Any], lines: Iterable[bytes]) -> int:
    """Write ``header`` then the encoded entry ``lines`` to ``path`` atomically; return its size.

    The file appears only when complete (written beside it, then renamed), so an interrupted
    export leaves no half file. Level 9 and mtime 0: the bytes depend on the content only.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as stream:
            stream.write(encode_line(header))
            for line in lines:
                stream.write(line)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a runs file is meant to be shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path.stat().st_size


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, decoded document) of each line; gzip and JSON damage as one line each."""
    try:
        with gzip.open(path, "rb") as stream:
            for number, raw in enumerate(stream, 1):
                try:
                    document = json_util.loads(raw, json_options=JSON_OPTIONS)
                except (ValueError, TypeError) as error:
                    raise SuiteError(f"{path}: line {number} is not JSON ({str(error)[:80]}): the file is damaged; "
                                     f"{_EXPORT_AGAIN}") from None
                if not isinstance(document, dict):
                    raise SuiteError(f"{path}: line {number} is not a JSON object: the file is damaged; "
                                     f"{_EXPORT_AGAIN}")
                yield number, document
    except FileNotFoundError:
        raise SuiteError(f"{path}: no such file; give the path of a runs file (docs/runs/<suite>{SUFFIX})") from None
    except gzip.BadGzipFile as error:
        raise SuiteError(f"{path}: not a LatCo Bench runs file or damaged ({error}); {_EXPORT_AGAIN}") from None
    except (EOFError, zlib.error) as error:
        raise SuiteError(f"{path}: truncated or damaged ({error}); copy the whole file again or "
                         f"{_EXPORT_AGAIN}") from None


def _check_header(path: Path, header: dict[str, Any]) -> dict[str, Any]:
    if header.get("format") != FORMAT:
        raise SuiteError(f"{path}: not a LatCo Bench runs file (its first line has no \"format\": \"{FORMAT}\"); "
                         "make one with `run_suite.py export`")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise SuiteError(f"{path}: unknown format version {version!r} (this code reads 1 to {VERSION}); "
                         f"{_EXPORT_AGAIN}")
    if version > VERSION:
        raise SuiteError(f"{path}: format version {version} is newer than this code reads (up to {VERSION}); "
                         "update LatCo Bench (git pull) to import it")
    counts = header.get("counts")
    if not isinstance(counts, dict) or not isinstance(counts.get("runs"), int):
        raise SuiteError(f"{path}: its header has no run count: the file is damaged; {_EXPORT_AGAIN}")
    return header


def _problem(entry: dict[str, Any]) -> str | None:
    """What is wrong with one entry (None if nothing): the checks an import relies on.

    Written by hand: the pinned stack has no schema library, and these are a dozen checks.
    """
    if not isinstance(entry.get("origin"), str) or not entry["origin"]:
        return "no origin"
    record = entry.get("record")
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        return "no record with a config"
    config = record["config"]
    for key, kind in IDENTITY.items():
        if not isinstance(config.get(key), kind) or isinstance(config.get(key), bool):
            return f"config.{key} is {config.get(key)!r}, not a {kind.__name__}"
    if record.get("status") not in STATUSES:
        return f"status {record.get('status')!r} is not one of {', '.join(STATUSES)}"
    for name in ("start_time", "heartbeat", "stop_time"):
        if record.get(name) is not None and not isinstance(record[name], dt.datetime):
            return f"{name} is not a date"
    if "_id" in record:
        return "the record carries a database id"
    metrics = entry.get("metrics")
    if not isinstance(metrics, list):
        return "no metrics list"
    names = set()
    for series in metrics:
        if not isinstance(series, dict) or not isinstance(series.get("name"), str):
            return "a metric series without a name"
        if series["name"] in names:
            return f"metric {series['name']} twice"
        names.add(series["name"])
        columns = [series.get(column) for column in ("steps", "values", "timestamps")]
        if not all(isinstance(column, list) for column in columns) or len({len(c) for c in columns}) != 1:
            return f"metric {series['name']}: steps, values and timestamps are not lists of one length"
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in columns[0]):
            return f"metric {series['name']}: a step is not a number"
        if not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in columns[1]):
            return f"metric {series['name']}: a value is not a number"
    for kind in ("artifacts", "sources"):
        files = entry.get(kind)
        if not isinstance(files, list):
            return f"no {kind} list"
        for item in files:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                return f"one of its {kind} has no name"
            if "data" in item and not isinstance(item["data"], bytes):
                return f"{kind[:-1]} {item['name']}: its data is not binary"
    return None


def open_runs_file(path: Path) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    """The file's checked header and an iterator of its entries, each checked as it is read; the
    iterator's end checks that the file holds as many runs as its header announces."""
    path = Path(path)
    lines = _lines(path)
    try:
        _, header = next(lines)
    except StopIteration:
        raise SuiteError(f"{path}: empty; {_EXPORT_AGAIN}") from None
    return _check_header(path, header), _entries(path, header, lines)


def _entries(path: Path, header: dict[str, Any], lines: Iterator[tuple[int, dict[str, Any]]]
             ) -> Iterator[dict[str, Any]]:
    count = 0
    for number, entry in lines:
        count += 1
        problem = _problem(entry)
        if problem:
            record = entry.get("record")
            key = record.get("config", {}).get("run_key") if isinstance(record, dict) and \
                isinstance(record.get("config"), dict) else None
            which = f" ({key})" if isinstance(key, str) else ""
            raise SuiteError(f"{path}: entry {count}{which} on line {number} is invalid: {problem}; the file was "
                             f"edited or written by other code: {_EXPORT_AGAIN}")
        yield entry
    if count != header["counts"]["runs"]:
        raise SuiteError(f"{path}: holds {count} of the {header['counts']['runs']} runs its header announces "
                         f"(truncated); copy the whole file again or {_EXPORT_AGAIN}")


def check_runs_file(path: Path) -> dict[str, Any]:
    """Read the whole file and check every entry; return its header (a SuiteError if anything is wrong)."""
    header, entries = open_runs_file(path)
    for _ in entries:
        pass
    return header
