"""The state of a grid in the database: every record of the selected run keys, whatever config
it ran with.

A run started with overrides (``run ... steps=6000``) has another config hash than the suite's;
``status`` without those overrides still shows it, marked with its hash and the keys whose
values differ from the suite's config. A record imported from a runs file (``run_suite.py
import``, docs/runs.md) is marked ``imported``, and ``stale`` when its config hash is no longer
the suite's: the code or the registry changed since it ran, so ``run`` would run it again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from benchmark.database import MongoTarget
from benchmark.experiment import RUN_IDENTITY_KEYS
from benchmark.progress import progress_cell, time_cell
from benchmark.records import records_of
from benchmark.registry import RunSpec

# Sacred writes a heartbeat every 10 s; a RUNNING record silent for this long is dead.
STALE_AFTER = dt.timedelta(minutes=2)
NOT_STARTED = "not started"


def config_differences(recorded: dict[str, Any], suite_config: dict[str, Any]) -> list[str]:
    """``key=value`` of the recorded config's keys whose value is not the suite's."""
    ignored = set(RUN_IDENTITY_KEYS)
    return [f"{key}={recorded[key]}" for key in sorted(recorded)
            if key in suite_config and key not in ignored and recorded[key] != suite_config[key]]


def grid_status(specs: list[RunSpec], target: MongoTarget) -> list[dict[str, Any]]:
    """One row per record of each spec's run key (oldest first), or one ``not started`` row.

    Each row has the record's ``config_hash`` and ``config`` (``suite`` when the hash is the
    suite's, else the differing ``key=value`` pairs), status, env steps, progress, the largest
    shares of its wall time by phase over its last episodes (``time``) and last train metrics.
    """
    records: dict[str, list[dict]] = {}
    fields = ("config", "status", "result", "heartbeat", "info.progress", "imported", "meta.git_commit")
    for doc in records_of(target, [s.key for s in specs], fields=fields):
        records.setdefault(doc["config"]["run_key"], []).append(doc)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = []
    for spec in specs:
        for doc in records.get(spec.key) or [None]:
            if doc is None:
                rows.append({"key": spec.key, "status": NOT_STARTED, "config_hash": None, "config": "-",
                             "steps": "-", "progress": "-", "time": "-", "success": "-", "return": "-",
                             "run_id": "-"})
                continue
            status = doc["status"]
            if status == "RUNNING" and doc.get("heartbeat") and now - doc["heartbeat"] > STALE_AFTER:
                status = "PROBABLY_DEAD"
            result = doc.get("result") or {}
            config_hash = doc["config"]["config_hash"]
            rows.append({
                "key": spec.key,
                "status": status,
                "config_hash": config_hash,
                "config": config_cell(doc, spec),
                "steps": int(result.get("steps", 0)) if result else "-",
                "progress": progress_cell((doc.get("info") or {}).get("progress"), status == "RUNNING"),
                "time": time_cell((doc.get("info") or {}).get("progress")),
                "success": _fmt(result.get("train/success")),
                "return": _fmt(result.get("train/return")),
                "run_id": doc["_id"],
            })
    return rows


def config_cell(doc: dict[str, Any], spec: RunSpec) -> str:
    """``suite``, or the record's hash and differing keys; imported records say so, and say
    ``stale`` with the commit they ran at when their config is not the suite's any more."""
    config_hash = doc["config"]["config_hash"]
    imported = "imported" in doc
    if config_hash == spec.config_hash:
        return "suite (imported)" if imported else "suite"
    cell = " ".join([config_hash, *config_differences(doc["config"], spec.config)])
    if imported:
        commit = (doc.get("meta") or {}).get("git_commit") or "unknown"
        return f"stale (imported, ran at {commit}): {cell}"
    return cell


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}"
