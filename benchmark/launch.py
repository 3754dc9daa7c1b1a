"""Launching a grid of runs: skip what already completed, run the rest, report failures.

Two backends share one code path: each run executes ``run_in_worker`` (thread limits, then the
job, ``execute_run`` by default) in a process of its own, and each outcome is collected by
``note_outcome`` into a :class:`LaunchReport`. Locally the process is a spawned worker of a
pool here; on a cluster it is a Slurm job (``benchmark/slurm/``).

Locally every run gets its own process (spawned, one run per process) so TensorFlow's
memory and MuJoCo's GL contexts never leak between runs, and the machine's cores are shared
between ``max_parallel`` workers. The process pool is the standard library's: submitit's
LocalExecutor starts every job at once, with no concurrency limit.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.database import MongoTarget
from benchmark.experiment import RunOutcome, execute_run, run_directory
from benchmark.processes import Terminated, die_with_parent, interrupt_on_sigterm
from benchmark.progress import PROGRESS_FILE, ActiveRuns
from benchmark.registry import RunSpec


@dataclass
class LaunchReport:
    outcomes: list[RunOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[RunOutcome]:
        return [o for o in self.outcomes if o.status not in ("COMPLETED", "SKIPPED")]


def usable_cpus() -> int:
    """The CPUs this process may run on: under ``taskset``, a cpuset or a Slurm allocation that
    is fewer than ``os.cpu_count()``, and oversubscribing them slows every run down."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity API
        return os.cpu_count() or 1


def threads_per_worker(max_parallel: int) -> int:
    return max(1, usable_cpus() // max(1, max_parallel))


Job = Callable[[RunSpec, MongoTarget, Path], RunOutcome]


def run_in_worker(job: Job, spec: RunSpec, target: MongoTarget, results_dir: str, threads: int) -> RunOutcome:
    """Entry point of a worker process or Slurm job: fix thread counts before TensorFlow is
    imported (it reads them once, at import)."""
    threads = spec.config.get("tf_threads") or threads
    for variable in ("TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS"):
        os.environ[variable] = str(threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return job(spec, target, Path(results_dir))


def run_in_local_worker(job: Job, spec: RunSpec, target: MongoTarget, results_dir: str, threads: int) -> RunOutcome:
    """A local pool worker: like :func:`run_in_worker`, with the process's own output in a file.

    TensorFlow's C++ start-up messages and Sacred's log lines would otherwise bury the suite's
    progress bar; they go to ``results/logs/<run key>.log`` (how a run ended is reported
    through its outcome and its database record either way). SIGTERM ends the run as Ctrl-C
    does (INTERRUPTED), and so does the launcher's death (benchmark/processes.py).
    """
    die_with_parent()
    interrupt_on_sigterm()
    log = Path(results_dir) / "logs" / f"{spec.key}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as stream:
        os.dup2(stream.fileno(), 1)
        os.dup2(stream.fileno(), 2)
    return run_in_worker(job, spec, target, results_dir, threads)


def note_outcome(report: LaunchReport, outcome: RunOutcome, spec: RunSpec, progress=None) -> None:
    """Add one finished run to the report and advance the progress bar (a tqdm bar or None)."""
    report.outcomes.append(outcome)
    if progress is not None:
        progress.set_postfix_str(f"{outcome.status.lower()}: {spec.task}/{spec.method}")
        progress.update(1)


def run_local(
    specs: list[RunSpec],
    target: MongoTarget,
    results_dir: Path,
    max_parallel: int = 1,
    progress=None,
    job: Job = execute_run,
) -> LaunchReport:
    """Run ``job`` (training by default) for each spec in up to ``max_parallel`` spawned
    processes; ``progress`` is a tqdm bar. ``job`` must be picklable (a module-level function
    or a functools.partial of one)."""
    report = LaunchReport()
    context = multiprocessing.get_context("spawn")
    threads = threads_per_worker(max_parallel)
    active = ActiveRuns(progress, since=time.time()) if progress is not None else None
    with ProcessPoolExecutor(max_parallel, mp_context=context, max_tasks_per_child=1) as pool:
        # Submitted only as workers free up: a submitted call may already sit in the pool's
        # queue, where cancel() cannot reach it, so an interrupted suite would start the next run.
        waiting = list(specs)
        futures: dict = {}
        pending: set = set()
        try:
            while waiting or pending:
                while waiting and len(pending) < max_parallel:
                    spec = waiting.pop(0)
                    future = pool.submit(run_in_local_worker, job, spec, target, str(results_dir), threads)
                    futures[future] = spec
                    pending.add(future)
                # Wake every second to redraw the running runs' lines from their progress files.
                done, pending = wait(pending, timeout=1.0, return_when=FIRST_COMPLETED)
                if active is not None:
                    active.refresh({_label(futures[f]): run_directory(results_dir, futures[f]) / PROGRESS_FILE
                                    for f in pending})
                for future in done:
                    spec = futures[future]
                    try:
                        outcome = future.result()
                    except Exception as error:  # the worker process itself died (OOM, segfault)
                        outcome = RunOutcome(spec.key, "FAILED", None, f"worker died: {error}")
                    note_outcome(report, outcome, spec, progress)
        except KeyboardInterrupt as stop:
            if isinstance(stop, Terminated):
                # Ctrl-C reached the workers too; SIGTERM reached this process only.
                for worker in multiprocessing.active_children():
                    os.kill(worker.pid, signal.SIGTERM)
            raise
        finally:
            if active is not None:
                active.close()
    return report


def _label(spec: RunSpec) -> str:
    return f"{spec.task}/{spec.method}/seed{spec.seed}"
