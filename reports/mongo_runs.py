"""Runs and their metrics from MongoDB, as pandas frames the report is computed from."""

from __future__ import annotations

import pandas as pd

from benchmark.database import MongoTarget

RUN_COLUMNS = ["run_id", "run_key", "suite", "task", "method", "seed", "profile", "status"]


def load_runs(target: MongoTarget, suite: str | None = None) -> pd.DataFrame:
    """One row per run record (all statuses, so failed runs can be listed, not dropped)."""
    query = {"config.run_key": {"$exists": True}}
    if suite:
        query["config.suite"] = suite
    fields = {f"config.{k}": 1 for k in ("run_key", "suite", "task", "method", "seed", "profile")}
    rows = [
        {"run_id": doc["_id"], "status": doc.get("status"), **{k: doc["config"].get(k) for k in RUN_COLUMNS[1:-1]}}
        for doc in target.database().runs.find(query, {**fields, "status": 1})
    ]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def load_metrics(target: MongoTarget, run_ids: list, names: list[str] | None = None) -> pd.DataFrame:
    """Tidy frame (run_id, metric, step, value) of the given runs' scalar metrics."""
    query: dict = {"run_id": {"$in": list(run_ids)}}
    if names:
        query["name"] = {"$in": names}
    frames = [
        pd.DataFrame({"run_id": doc["run_id"], "metric": doc["name"], "step": doc["steps"], "value": doc["values"]})
        for doc in target.database().metrics.find(query)
    ]
    if not frames:
        return pd.DataFrame(columns=["run_id", "metric", "step", "value"])
    return pd.concat(frames, ignore_index=True)
