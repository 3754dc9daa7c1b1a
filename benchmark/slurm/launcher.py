"""Submitting a grid as one job array and waiting for it: the Slurm counterpart of
``launch.run_local``."""

from __future__ import annotations

import pickle
import re
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from submitit.core.utils import FailedJobError

from benchmark.database import MongoTarget
from benchmark.errors import ConfigError
from benchmark.experiment import RunOutcome, execute_run
from benchmark.launch import Job, LaunchReport, note_outcome
from benchmark.records import latest_record
from benchmark.registry import RunSpec
from benchmark.slurm.book import JobBook, SubmittedRun, log_tail
from benchmark.slurm.job import SlurmRun, url_in_environment
from benchmark.slurm.options import SlurmOptions
from benchmark.slurm.scheduler import FINISHED_STATES, job_states, require

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
# Time-limit requeues per run before submitit gives up (each continues from a checkpoint).
MAX_TIMEOUT_REQUEUES = 20
# How long the launcher waits for a job that neither squeue nor sacct knows before giving up.
UNKNOWN_PATIENCE_S = 600.0


def _executor(folder: Path, options: SlurmOptions, suite: str):
    import submitit

    require("sbatch")
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm", slurm_max_num_timeout=MAX_TIMEOUT_REQUEUES)
    minutes = options.time_min
    parameters: dict[str, Any] = {
        "name": f"latco-{suite}",
        "timeout_min": minutes,
        "cpus_per_task": options.cpus,
        # The job imports benchmark/ wherever sbatch starts it.
        "slurm_setup": [f"export PYTHONPATH={shlex.quote(str(PROJECT_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}}"],
        # SIGUSR2 this long before the limit: 90 s, less for short limits.
        "slurm_signal_delay_s": min(90, max(10, minutes * 6)),
        "slurm_additional_parameters": dict(options.sbatch),
    }
    optional = {"gpus_per_node": options.gpus or None, "slurm_partition": options.partition,
                "slurm_mem": options.mem, "slurm_account": options.account,
                "slurm_array_parallelism": options.max_parallel}
    parameters.update({k: v for k, v in optional.items() if v is not None})
    executor.update_parameters(**parameters)
    return executor


def _training_key(spec: RunSpec) -> str:
    return spec.key


def submit_runs(
    specs: list[RunSpec], target: MongoTarget, results_dir: Path, options: SlurmOptions, job: Job = execute_run,
    kind: str = "", record_key: Callable[[RunSpec], str] = _training_key,
) -> list[SubmittedRun]:
    """Submit ``specs`` (one suite) as one job array and record it in the suite's job book.

    ``job`` is what each task runs (training by default); an evaluation passes its own job,
    ``kind="eval"`` for a book of its own, and ``record_key``, the key of the record it writes.
    """
    if not specs:
        return []
    suites = {spec.suite for spec in specs}
    if len(suites) != 1:
        raise ConfigError(f"one submission holds runs of one suite, got {sorted(suites)}")
    book = JobBook(results_dir, specs[0].suite, kind)
    executor = _executor(book.folder, options, "-".join(filter(None, (specs[0].suite, kind))))
    runner = SlurmRun(job, target.db_name, options.cpus, record_key)
    with url_in_environment(target.url):
        try:
            jobs = executor.map_array(runner, specs, [str(results_dir)] * len(specs))
        except (FailedJobError, subprocess.CalledProcessError) as error:
            detail = str(error).strip().splitlines() or ["no message"]
            raise ConfigError(f"sbatch refused the jobs: {detail[-1]}") from None
    runs = [SubmittedRun(spec, j.job_id, j.paths.stdout, j.paths.stderr, j.paths.result_pickle, record_key(spec))
            for spec, j in zip(specs, jobs, strict=True)]
    book.add(runs, target.db_name)
    return runs


def _read_result(path: Path) -> tuple[str, Any] | None:
    try:
        with open(path, "rb") as stream:
            return pickle.load(stream)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None


def _failure_from_traceback(key: str, text: str) -> RunOutcome:
    """The outcome carried by a job's RunFailed (or its last traceback line otherwise)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        match = re.search(r"RunFailed: ([A-Z_]+): (.*)$", line)
        if match:
            return RunOutcome(key, match.group(1), None, match.group(2))
    return RunOutcome(key, "FAILED", None, lines[-1] if lines else "the job failed without a traceback")


# What a job ending in each of these states means for its run, and what to do about it.
_ENDINGS = {
    "CANCELLED": "its Slurm job was cancelled",
    "TIMEOUT": "its Slurm job reached the time limit too often to be requeued; raise --time",
    "OUT_OF_MEMORY": "its Slurm job ran out of memory; raise --mem",
    "NODE_FAIL": "the node of its Slurm job failed",
    "BOOT_FAIL": "the node of its Slurm job failed to boot",
    "PREEMPTED": "its Slurm job was preempted and not requeued",
    "DEADLINE": "its Slurm job missed its deadline",
    "LOST": "Slurm lost track of its job (neither squeue nor sacct knows it); check the log",
}


def finished_outcome(run: SubmittedRun, state: str) -> RunOutcome:
    """How a run ended, from its job's result (if it wrote one) and Slurm's final state."""
    result = _read_result(run.result)
    if result is not None and result[0] == "success":
        outcome = result[1]
    elif result is not None:
        outcome = _failure_from_traceback(run.record_key, str(result[1]))
    else:
        outcome = RunOutcome(run.record_key, state, None, f"Slurm job ended {state} before the run reported back")
    if outcome.status == "COMPLETED":
        return outcome
    if state in _ENDINGS:  # says more than the run's own INTERRUPTED or FAILED
        outcome = replace(outcome, status=state, error=f"{_ENDINGS[state]}; running the suite again resumes "
                          "it from its last checkpoint")
    return replace(outcome, error=f"{outcome.error} (job {run.job_id}, log {run.stderr})")


def annotate_record(target: MongoTarget, run: SubmittedRun, state: str, outcome: RunOutcome) -> None:
    """Store the job's id, state and log path in the run's record, and for a run that did not
    complete the tail of its log (``info.slurm_log_tail``), where Omniboard and reports see it."""
    import pymongo.errors

    try:
        doc = latest_record(target, run.record_key, run.spec.config_hash)
        if doc is None or (doc.get("status") == "COMPLETED" and outcome.status != "COMPLETED"):
            return  # the job ended before its run had a record (or this is an older record)
        update: dict[str, Any] = {"info.slurm": {"job_id": run.job_id, "state": state, "stdout": str(run.stdout),
                                                 "stderr": str(run.stderr)}}
        if outcome.status != "COMPLETED":
            update["info.slurm_log_tail"] = log_tail(run.stderr)
        target.database().runs.update_one({"_id": doc["_id"]}, {"$set": update})
    except pymongo.errors.PyMongoError:
        pass  # the outcome printed by the launcher still carries the log's path


def wait_for_runs(runs: list[SubmittedRun], target: MongoTarget, progress=None, poll_s: float = 2.0) -> LaunchReport:
    """Poll Slurm until every job has finished; collect each run's outcome.

    A job counts as finished only once Slurm says so (not when its result file appears), so
    that a requeued job (time limit, preemption) is waited for until its last attempt ends.
    """
    report = LaunchReport()
    waiting = {run.job_id: run for run in runs}
    unknown_since: dict[str, float] = {}
    while waiting:
        states = job_states(waiting)
        for job_id, state in states.items():
            if state == "UNKNOWN":
                # Neither squeue nor sacct knows it (accounting down or purged): give up after a while.
                if time.monotonic() - unknown_since.setdefault(job_id, time.monotonic()) > UNKNOWN_PATIENCE_S:
                    states[job_id] = state = "LOST"
            else:
                unknown_since.pop(job_id, None)
            if state in FINISHED_STATES or state == "LOST":
                run = waiting.pop(job_id)
                outcome = finished_outcome(run, state)
                annotate_record(target, run, state, outcome)
                note_outcome(report, outcome, run.spec, progress)
        if waiting:
            if progress is not None:
                counts: dict[str, int] = {}
                for job_id in waiting:
                    counts[states[job_id].lower()] = counts.get(states[job_id].lower(), 0) + 1
                progress.set_postfix_str(", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
            time.sleep(poll_s)
    return report


