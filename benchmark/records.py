"""The run records the suite looks up, written once: every query of the ``runs`` collection by
run key lives here.

A record is identified by ``config.run_key`` (a training run's key, or ``<key>/eval`` for its
evaluation) and ``config.config_hash``. Sacred gives records increasing integer ids, so the
latest attempt of a run is the one with the largest ``_id``. Its ``origin`` (:func:`record_origin`)
says where it was born, and stays with it when it moves to another database (docs/runs.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from benchmark.database import MongoTarget


def record_origin(doc: dict[str, Any], db_name: str) -> str:
    """Where a record was born: ``<host>/<database>/<id>/<first start time, UTC, ms>``.

    A record made here stores it at its first insert (benchmark/experiment.py) and keeps it when
    the run resumes into the same record (a resume changes ``start_time``); an imported record
    keeps the origin of its export entry. A record older than origins gets the same string from
    its own fields, so exporting it twice gives one origin. ``db_name`` is the database the
    record lives in (only used when the record stores no origin).
    """
    if doc.get("origin"):
        return doc["origin"]
    host = (doc.get("host") or {}).get("hostname") or "unknown-host"
    start = doc.get("start_time")
    # BSON keeps milliseconds: truncate as it does, so the in-memory and the stored record agree.
    born = start.isoformat(timespec="milliseconds") if isinstance(start, dt.datetime) else "unstarted"
    return f"{host}/{db_name}/{doc['_id']}/{born}"


def last_activity(doc: dict[str, Any]) -> dt.datetime:
    """A record's last sign of life (heartbeat, stop or start time; UTC): which of two records is
    newer, wherever each was made (ids only order the records of one database)."""
    times = [doc[name] for name in ("heartbeat", "stop_time", "start_time") if isinstance(doc.get(name), dt.datetime)]
    return max((t.replace(tzinfo=None) for t in times), default=dt.datetime.min)


def _projection(fields: Iterable[str] | None) -> dict[str, int] | None:
    """The fields asked for plus the record's identity (MongoDB refuses ``config`` beside
    ``config.run_key``, so the whole config covers both); None (the whole record) for None."""
    if fields is None:
        return None
    fields = list(fields)
    identity = [] if "config" in fields else ["config.run_key", "config.config_hash"]
    return dict.fromkeys([*identity, *fields], 1)


def latest_record(
    target: MongoTarget, run_key: str, config_hash: str, fields: Iterable[str] = ("status",),
    status: str | None = None,
) -> dict[str, Any] | None:
    """The latest record of (run key, config hash), optionally only among those with ``status``."""
    query: dict[str, Any] = {"config.run_key": run_key, "config.config_hash": config_hash}
    if status is not None:
        query["status"] = status
    return target.database().runs.find_one(query, _projection(fields), sort=[("_id", -1)])


def records_of(target: MongoTarget, run_keys: Iterable[str], fields: Iterable[str] | None = ("status",),
               status: str | None = None) -> list[dict[str, Any]]:
    """Every record of these run keys, whatever its config hash, oldest first (``fields`` None:
    whole records)."""
    query: dict[str, Any] = {"config.run_key": {"$in": list(run_keys)}}
    if status is not None:
        query["status"] = status
    return list(target.database().runs.find(query, _projection(fields)).sort("_id", 1))


def completed_pairs(target: MongoTarget, run_keys: Iterable[str]) -> set[tuple[str, str]]:
    """(run key, config hash) of the records among ``run_keys`` that COMPLETED."""
    return {(d["config"]["run_key"], d["config"]["config_hash"])
            for d in records_of(target, run_keys, status="COMPLETED")}


def finished_runs_like(target: MongoTarget, profile: str, **config: str) -> list[dict[str, Any]]:
    """Completed training records of a profile whose config has the given values (``task=`` or
    ``env_family=``, with ``method=`` or ``agent=``), with what a step rate needs: the steps they
    ran and their start and stop times."""
    query = {"config.profile": profile, "status": "COMPLETED",
             "config.evaluation_of": {"$exists": False}, **{f"config.{key}": value for key, value in config.items()}}
    fields = {"config.steps": 1, "result.steps": 1, "start_time": 1, "stop_time": 1}
    return list(target.database().runs.find(query, fields))
