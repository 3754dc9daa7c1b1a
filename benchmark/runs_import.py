"""Import: the runs of runs files into a database, each run all or nothing, none twice.

Which entries are written. A record is identified by its origin (``record_origin``), run key
and config hash. An entry whose record is already in the database is skipped if the record
there is as new or newer, and replaces it if the entry is newer: a later last sign of life
(heartbeat, stop or start time), then, at the same time, a finished status over an unfinished
one. Any other entry is a new record, so the runs of one suite from two databases merge. An
imported record gets the next integer id, as Sacred gives them, and keeps its origin, so a
record exported again from here is still recognised where it was born.

Every file is read and checked whole before anything is written (``benchmark/runs_file.py``).

How one run is written, without multi-document transactions (a standalone mongod has none):

1. reserve: insert a placeholder ``{_id: N, import_reservation: ...}`` at N = the largest id
   + 1. It has no config, so ``status``, ``report`` and ``run`` never see it, and Sacred's
   next run takes N + 1 rather than an id whose series are being written;
2. write the run's metric series (``run_id`` N) and its files (GridFS, ``artifact://runs/N/..``);
3. commit: replace the placeholder by the run's document, one single-document write (atomic):
   the run appears with every series and file at once;
4. if the entry replaces an older record of its origin, retire that record: turn its document
   into a placeholder (atomic, its id stays taken), delete its series and files, then the
   placeholder.

Stopped before 3 by Ctrl-C, SIGTERM or a database error, the import removes what it wrote
for that run: the database is as before. Killed (kill -9, power cut), it leaves a placeholder
with series nobody reads; the next import deletes them first (:func:`repair`: placeholders
whose process is gone or that are over an hour old, series and files of no document, and the
older of two records of one origin, left by a kill during 4). Runs committed before a stop
stay: importing the same files again completes the import. Omniboard, which lists every
document of ``runs``, shows a placeholder as an empty row while it lasts.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.database import MongoTarget, process_alive
from benchmark.records import last_activity, record_origin
from benchmark.runs_file import check_runs_file, open_runs_file

RESERVATION = "import_reservation"
RESERVATION_LIFETIME = dt.timedelta(hours=1)  # a reservation of another host older than this is dead
FINISHED = ("COMPLETED", "FAILED", "INTERRUPTED", "TIMEOUT")
_RUN_FILE = re.compile(r"^(?:artifact|source)://runs/(\d+)/")


@dataclass
class FileImport:
    """What importing one file did, run by run."""

    path: Path
    suite: str | None
    runs: int
    imported: int = 0
    replaced: int = 0
    present: int = 0
    older: int = 0
    beside: int = 0  # new records whose run key and config already had a record of another origin

    def describe(self) -> str:
        text = (f"{self.path}: {self.runs} runs of suite {self.suite}: {self.imported} imported, "
                f"{self.replaced} replaced an older record of the same origin, {self.present} already present, "
                f"{self.older} older than the record here (kept)")
        if self.beside:
            text += (f"; {self.beside} imported beside a record of the same run key and config from another "
                     "database (both kept; the report reads the latest)")
        return text


def recency(doc: dict[str, Any]) -> tuple[dt.datetime, bool]:
    """How new a record is: its last sign of life, then whether it finished."""
    return last_activity(doc), doc.get("status") in FINISHED


def _identity(doc: dict[str, Any], db_name: str) -> tuple[str, str, str]:
    return record_origin(doc, db_name), doc["config"]["run_key"], doc["config"]["config_hash"]


class _Store:
    """One database's runs, series and files, and the writes of the scheme above."""

    def __init__(self, target: MongoTarget):
        import gridfs

        self.db_name = target.db_name
        self.db = target.database()
        self.fs = gridfs.GridFS(self.db)

    def reserve(self) -> tuple[int, str]:
        """Step 1: the next free id, held by a placeholder; returns (id, token)."""
        import pymongo.errors

        token = uuid.uuid4().hex
        while True:
            last = self.db.runs.find_one({}, {"_id": 1}, sort=[("_id", -1)])
            run_id = last["_id"] + 1 if last else 1
            try:
                self.db.runs.insert_one({"_id": run_id, RESERVATION: self._reservation(token)})
                return run_id, token
            except pymongo.errors.DuplicateKeyError:
                continue  # another writer took it meanwhile, as in Sacred's own loop

    @staticmethod
    def _reservation(token: str) -> dict[str, Any]:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return {"token": token, "host": socket.gethostname(), "pid": os.getpid(), "since": now}

    def discard(self, run_id: int) -> None:
        """A placeholder's series and files, then the placeholder (the id stays taken until the end)."""
        self.db.metrics.delete_many({"run_id": run_id})
        for stored in self.db.fs.files.find({"filename": {"$regex": f"^(artifact|source)://runs/{run_id}/"}},
                                            {"_id": 1}):
            self.fs.delete(stored["_id"])
        self.db.runs.delete_one({"_id": run_id, RESERVATION: {"$exists": True}})

    def retire(self, run_id: int) -> None:
        """Step 4: a record replaced by a newer one disappears at once, its data after it."""
        self.db.runs.replace_one({"_id": run_id}, {RESERVATION: self._reservation(uuid.uuid4().hex)})
        self.discard(run_id)

    def write(self, entry: dict[str, Any], imported: dict[str, Any]) -> int:
        """Steps 1-3 for one entry; returns the new record's id."""
        run_id, token = self.reserve()
        try:
            doc = self._document(entry, run_id, imported)
            result = self.db.runs.replace_one({"_id": run_id, f"{RESERVATION}.token": token}, doc)
            if result.matched_count != 1:
                raise RuntimeError(f"the placeholder of run {run_id} was removed by another command")
        except BaseException:
            try:
                if self.db.runs.find_one({"_id": run_id, f"{RESERVATION}.token": token}, {"_id": 1}):
                    self.discard(run_id)
            except Exception:  # the database is gone: the next import repairs
                pass
            raise
        return run_id

    def _document(self, entry: dict[str, Any], run_id: int, imported: dict[str, Any]) -> dict[str, Any]:
        """Step 2, and the run's document pointing at what it wrote."""
        series = [{"run_id": run_id, **{key: s[key] for key in ("name", "steps", "values", "timestamps")}}
                  for s in entry["metrics"]]
        ids = self.db.metrics.insert_many(series).inserted_ids if series else []
        doc = {**entry["record"], "_id": run_id, "origin": entry["origin"], "imported": imported}
        doc["info"] = {**(doc.get("info") or {}),
                       "metrics": [{"name": s["name"], "id": str(i)} for s, i in zip(series, ids, strict=True)]}
        doc["artifacts"] = [{"name": item["name"], "file_id": self._put(item, f"artifact://runs/{run_id}/{item['name']}")}
                            for item in entry["artifacts"] if "data" in item]
        doc["experiment"] = {**(doc.get("experiment") or {}),
                             "sources": [[item["name"], self._put(item, f"source://runs/{run_id}/{item['name']}")]
                                         for item in entry["sources"] if "data" in item]}
        return doc

    def _put(self, item: dict[str, Any], filename: str) -> Any:
        return self.fs.put(item["data"], filename=filename, content_type=item.get("content_type"),
                           metadata=item.get("metadata"))

    def repair(self) -> int:
        """What killed imports left (see the module's docstring); returns how many things were removed."""
        removed = 0
        for placeholder in self.db.runs.find({RESERVATION: {"$exists": True}}):
            if not _holder_alive(placeholder[RESERVATION]):
                self.discard(placeholder["_id"])
                removed += 1
        # Series and files first, documents second: a run written meanwhile has its document
        # (or placeholder) before its first series, so it is among the documents read after.
        series_runs = self.db.metrics.distinct("run_id")
        files = [(f["_id"], _RUN_FILE.match(f["filename"] or "")) for f in
                 self.db.fs.files.find({"filename": {"$regex": "^(artifact|source)://runs/"}}, {"filename": 1})]
        documents = set(self.db.runs.distinct("_id"))
        orphans = [run_id for run_id in series_runs if run_id not in documents]
        if orphans:
            removed += self.db.metrics.delete_many({"run_id": {"$in": orphans}}).deleted_count
        for file_id, match in files:
            if match and int(match.group(1)) not in documents:
                self.fs.delete(file_id)
                removed += 1
        return removed

    def records(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """identity -> the newest record of it, retiring older duplicates (a kill during step 4)."""
        fields = {"origin": 1, "host.hostname": 1, "start_time": 1, "heartbeat": 1, "stop_time": 1, "status": 1,
                  "config.run_key": 1, "config.config_hash": 1}
        newest: dict[tuple[str, str, str], dict[str, Any]] = {}
        for doc in list(self.db.runs.find({"config.run_key": {"$exists": True}}, fields).sort("_id", 1)):
            identity = _identity(doc, self.db_name)
            kept = newest.get(identity)
            if kept is not None:
                older, doc = (kept, doc) if recency(kept) <= recency(doc) else (doc, kept)
                self.retire(older["_id"])
            newest[identity] = doc
        return newest


def _holder_alive(reservation: dict[str, Any]) -> bool:
    since = reservation.get("since")
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if not isinstance(since, dt.datetime) or now - since > RESERVATION_LIFETIME:
        return False
    if reservation.get("host") == socket.gethostname():
        return process_alive(int(reservation.get("pid", -1)))
    return True


def import_files(paths: Iterable[Path], target: MongoTarget, headers: list[dict[str, Any]] | None = None,
                 progress: Callable[[Iterable, int], Iterable] = lambda items, total: items) -> list[FileImport]:
    """Check every file whole (unless ``headers`` says it was: ``check_runs_file``'s answers),
    then import them in order; one :class:`FileImport` per file.

    ``progress(entries, total)`` wraps each file's entries (a tqdm bar in the command line).
    """
    paths = [Path(path) for path in paths]
    headers = headers if headers is not None else [check_runs_file(path) for path in paths]
    store = _Store(target)
    store.repair()
    known = store.records()
    cells: set[tuple[str, str]] = {(key, config_hash) for _, key, config_hash in known}
    summaries = []
    for path, header in zip(paths, headers, strict=True):
        summary = FileImport(path, header.get("suite"), header["counts"]["runs"])
        imported = {"file": path.name, "format_version": header["version"]}
        _, entries = open_runs_file(path)
        for entry in progress(entries, summary.runs):
            record = entry["record"]
            identity = (entry["origin"], record["config"]["run_key"], record["config"]["config_hash"])
            here = known.get(identity)
            if here is not None and recency(record) <= recency(here):
                if recency(record) == recency(here):
                    summary.present += 1
                else:
                    summary.older += 1
                continue
            summary.beside += here is None and identity[1:] in cells
            run_id = store.write(entry, imported)
            if here is not None:
                store.retire(here["_id"])
                summary.replaced += 1
            else:
                summary.imported += 1
            known[identity] = {"_id": run_id, **{key: record.get(key) for key in
                                                 ("status", "heartbeat", "stop_time", "start_time")}}
            cells.add(identity[1:])
        summaries.append(summary)
    return summaries
