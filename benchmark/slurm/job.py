"""What each array task runs: the function object submitit pickles, one run against the
database named in the job's environment."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from submitit.helpers import Checkpointable

from benchmark.database import MongoTarget
from benchmark.experiment import RunOutcome
from benchmark.launch import Job, run_in_worker
from benchmark.records import latest_record
from benchmark.registry import RunSpec

# The job reads the database URL from here: credentials stay out of files under results/.
URL_VARIABLE = "LATCO_JOB_MONGO_URL"

# Set in the job's process when submitit asks for a checkpoint (SIGUSR2) and requeues the job.
# A module-level event, not an attribute: the attribute would be pickled into the requeued call.
_REQUEUE_REQUESTED = threading.Event()


class RunFailed(Exception):
    """Raised in the job for a run that did not complete, so that Slurm's state says FAILED.

    Its message ends with the run's own traceback (from its record), so the end of the job's
    log, what ``status`` shows, is the run's error rather than submitit's frames.
    """

    def __init__(self, outcome: RunOutcome, trace: str = ""):
        message = f"{outcome.status}: {outcome.error}"
        if trace:
            message += f"\nthe run's traceback, from its record:\n{trace.rstrip()}"
        super().__init__(message)
        self.outcome = outcome


def _recorded_traceback(target: MongoTarget, record_key: str, config_hash: str) -> str:
    import pymongo.errors

    try:
        doc = latest_record(target, record_key, config_hash, fields=("fail_trace",))
    except pymongo.errors.PyMongoError:
        return ""
    return "".join((doc or {}).get("fail_trace") or [])


def _interrupt(signum: int, frame: Any) -> None:
    """SIGTERM (scancel, a requeue, the end of a preemption grace time) ends the run as
    INTERRUPTED, so its record says so and a later attempt resumes it."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the first one is enough
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name} from Slurm")


class SlurmRun(Checkpointable):
    """What each array task calls: one run, against the database named in its environment.

    Checkpointable: when Slurm signals a time limit or preemption (SIGUSR2), submitit calls
    :meth:`checkpoint` and requeues the same call; the run then continues from its own
    checkpoint in the run folder, since its record is unfinished.
    """

    def __init__(self, job: Job, db_name: str, threads: int, record_key: Callable[[RunSpec], str]):
        self.job = job
        self.db_name = db_name
        self.threads = threads
        self.record_key = record_key

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit calls this on SIGUSR2, just before it requeues the job."""
        _REQUEUE_REQUESTED.set()
        return super().checkpoint(*args, **kwargs)

    def __call__(self, spec: RunSpec, results_dir: str) -> RunOutcome:
        import submitit

        url = os.environ.get(URL_VARIABLE)
        if not url:
            raise RuntimeError(
                f"{URL_VARIABLE} is not in the job's environment: the cluster does not pass the "
                "submitting environment to jobs; remove any sbatch 'export' option limiting it"
            )
        # A requeued attempt must not leave the previous attempt's result for the launcher.
        submitit.JobEnvironment().paths.result_pickle.unlink(missing_ok=True)
        signal.signal(signal.SIGTERM, _interrupt)
        target = MongoTarget(url, self.db_name)
        outcome = run_in_worker(self.job, spec, target, results_dir, self.threads)
        if outcome.status == "INTERRUPTED" and _REQUEUE_REQUESTED.is_set():
            # The requeue's own SIGTERM overtook submitit's exit: leave no result (an error
            # result would end the launcher's wait) and let the requeued attempt resume the run.
            sys.exit(-1)
        if outcome.status == "INTERRUPTED":
            outcome = replace(outcome, error="interrupted by SIGTERM from Slurm (scancel, requeue or preemption)")
        if outcome.status != "COMPLETED":
            trace = _recorded_traceback(target, self.record_key(spec), spec.config_hash)
            raise RunFailed(outcome, trace if outcome.status == "FAILED" else "")
        return outcome


@contextlib.contextmanager
def url_in_environment(url: str) -> Iterator[None]:
    previous = os.environ.get(URL_VARIABLE)
    os.environ[URL_VARIABLE] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(URL_VARIABLE, None)
        else:
            os.environ[URL_VARIABLE] = previous


