"""The state of a grid in the database: one row per run key, latest record first."""

from __future__ import annotations

import datetime as dt
from typing import Any

from benchmark.database import MongoTarget
from benchmark.progress import progress_cell
from benchmark.registry import RunSpec

# Sacred writes a heartbeat every 10 s; a RUNNING record silent for this long is dead.
STALE_AFTER = dt.timedelta(minutes=2)


def grid_status(specs: list[RunSpec], target: MongoTarget) -> list[dict[str, Any]]:
    """Status, env steps and last train metrics of each spec (``not started`` if absent)."""
    runs = target.database().runs
    latest: dict[str, dict] = {}
    cursor = runs.find(
        {"config.run_key": {"$in": [s.key for s in specs]}},
        {"config.run_key": 1, "config.config_hash": 1, "status": 1, "result": 1, "heartbeat": 1, "info.progress": 1},
    ).sort("_id", 1)
    for doc in cursor:
        latest[(doc["config"]["run_key"], doc["config"]["config_hash"])] = doc
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = []
    for spec in specs:
        doc = latest.get((spec.key, spec.config_hash))
        status = doc["status"] if doc else "not started"
        if status == "RUNNING" and doc.get("heartbeat") and now - doc["heartbeat"] > STALE_AFTER:
            status = "PROBABLY_DEAD"
        result = (doc or {}).get("result") or {}
        rows.append({
            "key": spec.key,
            "status": status,
            "steps": int(result.get("steps", 0)) if result else "-",
            "progress": progress_cell((doc or {}).get("info", {}).get("progress"), status == "RUNNING"),
            "success": _fmt(result.get("train/success")),
            "return": _fmt(result.get("train/return")),
            "run_id": doc["_id"] if doc else "-",
        })
    return rows


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3g}"
