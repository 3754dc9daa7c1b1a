"""The job book, ``results/slurm/<suite>/jobs.json``: which Slurm job runs which run key, so
that ``status``, ``cancel`` and a second launch find a suite's jobs after the submitting
command has gone."""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmark.errors import ConfigError
from benchmark.registry import RunSpec
from benchmark.slurm.scheduler import FINISHED_STATES, cancel_jobs, job_states

LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class SubmittedRun:
    """One run's array task and where its files are."""

    spec: RunSpec
    job_id: str
    stdout: Path
    stderr: Path
    result: Path  # submitit's result pickle: ("success", RunOutcome) or ("error", traceback)
    record_key: str  # run key of the record the job writes: spec.key, or an evaluation's key


class JobBook:
    """``results/slurm/<suite>/jobs.json``: the latest Slurm job of each run key of a suite.

    submitit keeps its pickles and the jobs' logs in the same folder; the book is what lets
    ``status`` and ``cancel`` find a run's job after the submitting command has gone.
    Evaluations of a suite keep their own book, ``results/slurm/<suite>/eval``, so that an
    evaluation job never takes the place of its training run's job.
    """

    def __init__(self, results_dir: Path, suite: str, kind: str = ""):
        self.folder = Path(results_dir) / "slurm" / suite / kind
        self.path = self.folder / "jobs.json"

    def entries(self) -> dict[str, dict[str, Any]]:
        try:
            return json.loads(self.path.read_text())["runs"]
        except (OSError, ValueError, KeyError):
            return {}

    def add(self, runs: list[SubmittedRun], db_name: str) -> None:
        """Record new submissions; a lock keeps two launches of one suite from losing entries."""
        self.folder.mkdir(parents=True, exist_ok=True)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with open(self.folder / "jobs.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self.entries()
            for run in runs:
                entries[run.spec.key] = {
                    "job_id": run.job_id, "record_key": run.record_key, "config_hash": run.spec.config_hash,
                    "db_name": db_name,
                    "stdout": str(run.stdout), "stderr": str(run.stderr), "result": str(run.result),
                    "submitted": now,
                }
            staging = self.path.with_suffix(".json.new")
            staging.write_text(json.dumps({"runs": entries}, indent=1, sort_keys=True))
            staging.replace(self.path)


EVALUATION_BOOK = "eval"  # the ``kind`` of evaluation jobs' book


def _book_entries(specs: list[RunSpec], results_dir: Path, same_config: bool, kind: str = "") -> dict[str, dict[str, Any]]:
    """The book's entry of each spec that has one (and, if ``same_config``, the same hash)."""
    found: dict[str, dict[str, Any]] = {}
    books: dict[str, dict[str, dict[str, Any]]] = {}
    for spec in specs:
        if spec.suite not in books:
            books[spec.suite] = JobBook(results_dir, spec.suite, kind).entries()
        entry = books[spec.suite].get(spec.key)
        if entry and (not same_config or entry["config_hash"] == spec.config_hash):
            found[spec.key] = entry
    return found


def live_jobs(specs: list[RunSpec], results_dir: Path, kind: str = "") -> dict[str, str]:
    """Run key -> job id of the runs (same config) whose job is still queued or running, in the
    book of ``kind`` (training's, or ``EVALUATION_BOOK``)."""
    entries = _book_entries(specs, results_dir, same_config=True, kind=kind)
    if not entries:
        return {}
    states = job_states(e["job_id"] for e in entries.values())
    return {key: e["job_id"] for key, e in entries.items()
            if states[e["job_id"]] not in FINISHED_STATES | {"UNKNOWN"}}


def cancel_runs(specs: list[RunSpec], results_dir: Path) -> list[tuple[str, str, str]]:
    """Cancel the queued or running jobs of these runs' keys (whatever their config), training
    and evaluation alike; (record key, job id, state before) of each cancelled one."""
    chosen = []
    for kind in ("", EVALUATION_BOOK):
        entries = _book_entries(specs, results_dir, same_config=False, kind=kind)
        if not entries:
            continue
        states = job_states(e["job_id"] for e in entries.values())
        chosen += [(e.get("record_key", key), e["job_id"], states[e["job_id"]])
                   for key, e in entries.items() if states[e["job_id"]] not in FINISHED_STATES | {"UNKNOWN"}]
    cancel_jobs(job_id for _, job_id, _ in chosen)
    return chosen


def log_tail(path: Path | str, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a job's log ('' if it has none yet)."""
    try:
        with open(path, "rb") as stream:
            stream.seek(0, os.SEEK_END)
            stream.seek(max(0, stream.tell() - 64 * 1024))
            text = stream.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def slurm_status(specs: list[RunSpec], results_dir: Path, kind: str = "") -> dict[str, dict[str, str]]:
    """The Slurm side of ``status``: run key -> job id, state, the key of the record the job
    writes, the config hash it runs, stderr log and, for a job that ended without completing, the
    log's tail. Runs never submitted to Slurm are absent; a job of another config (started with
    overrides) is included, as ``status`` shows every config of a run key.
    ``kind=EVALUATION_BOOK`` gives the runs' evaluation jobs instead of their training jobs."""
    entries = _book_entries(specs, results_dir, same_config=False, kind=kind)
    if not entries:
        return {}
    try:
        states = job_states(e["job_id"] for e in entries.values())
    except ConfigError:  # looking from a machine without Slurm
        states = {e["job_id"]: "?" for e in entries.values()}
    rows = {}
    for key, entry in entries.items():
        state = states[entry["job_id"]]
        ended_badly = state in FINISHED_STATES and state != "COMPLETED"
        rows[key] = {"job_id": entry["job_id"], "state": state, "record_key": entry.get("record_key", key),
                     "config_hash": entry["config_hash"], "stderr": entry["stderr"],
                     "tail": log_tail(entry["stderr"]) if ended_badly else ""}
    return rows

