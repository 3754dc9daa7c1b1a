"""The run records the suite looks up, written once: every query of the ``runs`` collection by
run key lives here.

A record is identified by ``config.run_key`` (a training run's key, or ``<key>/eval`` for its
evaluation) and ``config.config_hash``. Sacred gives records increasing integer ids, so the
latest attempt of a run is the one with the largest ``_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from benchmark.database import MongoTarget


def _projection(fields: Iterable[str]) -> dict[str, int]:
    """The fields asked for plus the record's identity (MongoDB refuses ``config`` beside
    ``config.run_key``, so the whole config covers both)."""
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


def records_of(target: MongoTarget, run_keys: Iterable[str], fields: Iterable[str] = ("status",),
               status: str | None = None) -> list[dict[str, Any]]:
    """Every record of these run keys, whatever its config hash, oldest first."""
    query: dict[str, Any] = {"config.run_key": {"$in": list(run_keys)}}
    if status is not None:
        query["status"] = status
    return list(target.database().runs.find(query, _projection(fields)).sort("_id", 1))


def completed_pairs(target: MongoTarget, run_keys: Iterable[str]) -> set[tuple[str, str]]:
    """(run key, config hash) of the records among ``run_keys`` that COMPLETED."""
    return {(d["config"]["run_key"], d["config"]["config_hash"])
            for d in records_of(target, run_keys, status="COMPLETED")}


def finished_runs_like(target: MongoTarget, task: str, method: str, profile: str) -> list[dict[str, Any]]:
    """Completed training records of a task/method/profile, with what a step rate needs: the
    steps they ran and their start and stop times."""
    query = {"config.task": task, "config.method": method, "config.profile": profile, "status": "COMPLETED",
             "config.evaluation_of": {"$exists": False}}
    fields = {"config.steps": 1, "result.steps": 1, "start_time": 1, "stop_time": 1}
    return list(target.database().runs.find(query, fields))
