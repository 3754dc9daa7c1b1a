"""Runs and their metrics from MongoDB (Sacred's MongoObserver format), as pandas frames.

Everything the report computes starts from two frames: one row per run record and one tidy
frame of metric points (run key, metric, step, value). Reading is the only side effect here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from benchmark.database import MongoTarget
from benchmark.records import last_activity
from reports.presentation import family_of

# Sacred writes a heartbeat every 10 s; the status command uses the same threshold.
STALE_AFTER = dt.timedelta(minutes=2)
STATUSES = ("COMPLETED", "RUNNING", "INTERRUPTED", "FAILED", "QUEUED", "TIMEOUT")
# Statuses whose curves stop early but are still real data: included and marked.
INCOMPLETE = ("RUNNING", "INTERRUPTED", "TIMEOUT")
IDENTITY = ("run_key", "suite", "task", "method", "seed", "profile", "config_hash", "env_family", "steps",
            "score_metric")
RUN_COLUMNS = [
    "run_id", "run_key", "suite", "task", "method", "seed", "profile", "config_hash", "env_family",
    "family", "score_metric", "budget_steps", "status", "stale", "fail_reason", "git_commit", "wall_minutes",
    "superseded",
]
METRIC_COLUMNS = ["run_id", "run_key", "metric", "step", "value"]


@dataclass(frozen=True)
class Selection:
    """Which run records a report covers; ``None`` means no restriction."""

    suite: str | None = None
    tasks: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None

    def query(self) -> dict:
        # Evaluation runs (`run_suite.py eval`) are linked to a training run, not seeds of their own.
        query: dict = {"config.run_key": {"$exists": True}, "config.evaluation_of": {"$exists": False}}
        if self.suite:
            query["config.suite"] = self.suite
        if self.tasks:
            query["config.task"] = {"$in": list(self.tasks)}
        if self.methods:
            query["config.method"] = {"$in": list(self.methods)}
        if self.statuses:
            query["status"] = {"$in": list(self.statuses)}
        return query


@dataclass
class RunData:
    """The selected runs (``runs``, every record) and the points of the current ones (``metrics``)."""

    runs: pd.DataFrame
    metrics: pd.DataFrame

    @property
    def current(self) -> pd.DataFrame:
        """One record per run key: the newest; older records (another config hash) are superseded."""
        return self.runs[~self.runs["superseded"]]


def _fail_reason(trace: object) -> str:
    """The last non-empty line of Sacred's ``fail_trace`` (a list of lines), i.e. the exception."""
    if not trace:
        return ""
    lines = trace if isinstance(trace, list) else str(trace).splitlines()
    text = [line.strip() for chunk in lines for line in str(chunk).splitlines() if line.strip()]
    return text[-1] if text else ""


def _wall_minutes(doc: dict) -> float:
    """Minutes from the record's start to its stop (or last heartbeat); NaN if unknown.

    A resumed run keeps its record and start time, so this includes the time it was down.
    """
    start, end = doc.get("start_time"), doc.get("stop_time") or doc.get("heartbeat")
    if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime):
        return float("nan")
    return (end - start).total_seconds() / 60.0


def runs_frame(docs: Iterable[dict], now: dt.datetime | None = None) -> pd.DataFrame:
    """One row per Sacred run document; marks stale RUNNING records and superseded ones (every
    record of a run key but the one active last)."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    docs = list(docs)
    rows = []
    for doc in docs:
        config = doc.get("config") or {}
        heartbeat = doc.get("heartbeat")
        status = doc.get("status") or "UNKNOWN"
        task = str(config.get("task"))
        rows.append({
            "run_id": doc["_id"],
            **{key: config.get(key) for key in IDENTITY if key != "steps"},
            "family": family_of(task, config.get("env_family")),
            "budget_steps": config.get("steps"),
            "status": status,
            "stale": bool(status == "RUNNING" and isinstance(heartbeat, dt.datetime)
                          and now - heartbeat.replace(tzinfo=None) > STALE_AFTER),
            "fail_reason": _fail_reason(doc.get("fail_trace")),
            "git_commit": (doc.get("meta") or {}).get("git_commit", ""),
            "wall_minutes": _wall_minutes(doc),
        })
    frame = pd.DataFrame(rows, columns=[c for c in RUN_COLUMNS if c != "superseded"])
    frame["latest"] = [last_activity(doc) for doc in docs]
    frame = frame.sort_values("run_id", kind="stable").reset_index(drop=True)
    # The current record of a run key is the one active last, ids breaking ties: a record imported
    # from another database has the newest id here however old it is (docs/runs.md).
    latest_first = frame.sort_values(["latest", "run_id"], kind="stable")
    frame["superseded"] = latest_first.duplicated("run_key", keep="last").sort_index()
    return frame.drop(columns="latest")


def load_runs(target: MongoTarget, selection: Selection | str | None = None) -> pd.DataFrame:
    """Every selected run record, whatever its status, so failed runs can be listed, not dropped.

    ``selection`` may be a suite name (the older call form).
    """
    if not isinstance(selection, Selection):
        selection = Selection(suite=selection)
    fields = {f"config.{key}": 1 for key in IDENTITY}
    fields.update({"status": 1, "heartbeat": 1, "start_time": 1, "stop_time": 1, "fail_trace": 1,
                   "meta.git_commit": 1})
    return runs_frame(target.database().runs.find(selection.query(), fields))


def _empty_metrics() -> pd.DataFrame:
    return pd.DataFrame({"run_id": pd.Series(dtype="int64"), "metric": pd.Series(dtype=object),
                         "step": pd.Series(dtype=float), "value": pd.Series(dtype=float)})


def load_metrics(target: MongoTarget, run_ids: Iterable, names: Iterable[str] | None = None) -> pd.DataFrame:
    """Tidy frame (run_id, metric, step, value) of the given runs' scalar metrics.

    One query for all runs; arrays are concatenated once (hundreds of runs stay fast).
    """
    run_ids = list(run_ids)
    if not run_ids:
        return _empty_metrics()
    query: dict = {"run_id": {"$in": run_ids}}
    if names:
        query["name"] = {"$in": list(names)}
    ids, metric_names, steps, values = [], [], [], []
    for doc in target.database().metrics.find(query, {"run_id": 1, "name": 1, "steps": 1, "values": 1}):
        count = min(len(doc.get("steps") or []), len(doc.get("values") or []))
        if count == 0:
            continue
        ids.append(np.full(count, doc["run_id"]))
        metric_names.append(np.full(count, doc["name"], dtype=object))
        steps.append(np.asarray(doc["steps"][:count], dtype=float))
        values.append(np.asarray([np.nan if v is None else v for v in doc["values"][:count]], dtype=float))
    if not ids:
        return _empty_metrics()
    return pd.DataFrame({
        "run_id": np.concatenate(ids),
        "metric": np.concatenate(metric_names),
        "step": np.concatenate(steps),
        "value": np.concatenate(values),
    })


def load_run_data(target: MongoTarget, selection: Selection) -> RunData:
    """Runs and the metrics of their current records, with each run's last logged step.

    ``last_step`` (the largest step of any ``train/`` or ``eval/`` point) shows how far an
    unfinished or failed run got.
    """
    runs = load_runs(target, selection)
    current = runs[~runs["superseded"]]
    metrics = load_metrics(target, current["run_id"].tolist())
    keys = dict(zip(current["run_id"], current["run_key"], strict=True))
    metrics.insert(1, "run_key", metrics["run_id"].map(keys))
    metrics = metrics[METRIC_COLUMNS]
    episodic = metrics[metrics["metric"].str.match(r"(train|eval)/")] if len(metrics) else metrics
    last = episodic.groupby("run_id")["step"].max()
    runs["last_step"] = runs["run_id"].map(last)
    return RunData(runs=runs, metrics=metrics)
