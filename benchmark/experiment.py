"""One run of the grid as a Sacred experiment observed by MongoDB.

The Sacred config is the resolved config plus the run's identity (suite, task, method,
profile, run_key, config_hash). The database URL is passed beside the config, never inside
it, so credentials never reach the run's record. Each run keeps one record per
(run key, config hash): running it again overwrites its earlier unfinished record instead of
adding a duplicate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import shutil
import subprocess
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.checkpoint import LoopState, find_checkpoint
from benchmark.database import MongoTarget
from benchmark.registry import RunSpec

RUN_IDENTITY_KEYS = ("suite", "task", "method", "profile", "run_key", "config_hash")


@dataclass(frozen=True)
class RunOutcome:
    """What a worker reports back to the launcher."""

    key: str
    status: str  # COMPLETED | FAILED | INTERRUPTED | SKIPPED
    run_id: Any = None
    error: str = ""


def sacred_config(spec: RunSpec) -> dict[str, Any]:
    return {
        **spec.config,
        "suite": spec.suite,
        "task": spec.task,
        "method": spec.method,
        "profile": spec.profile,
        "run_key": spec.key,
        "config_hash": spec.config_hash,
    }


def run_directory(results_dir: Path, spec: RunSpec) -> Path:
    """Where a run's episodes and checkpoints live: ``results/runs/<run key>``."""
    return Path(results_dir) / "runs" / spec.key


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``<run dir>.lock`` while a process trains the run, so a second command on this
    machine leaves it alone (:func:`is_run_locked`). A kernel lock rather than the record's
    heartbeat: it is released the instant its holder dies, even by kill -9."""
    path = Path(run_dir).with_name(Path(run_dir).name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def is_run_locked(run_dir: Path) -> bool:
    """Whether another live process on this machine holds the run's lock."""
    path = Path(run_dir).with_name(Path(run_dir).name + ".lock")
    if not path.exists():
        return False
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def failure_directory(results_dir: Path) -> Path:
    """Run records that could not reach MongoDB are pickled here by Sacred."""
    return Path(results_dir) / "failed_records"


def git_commit() -> str:
    """This checkout's short commit (read-only ``git rev-parse``), "unknown" outside a checkout."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
            cwd=Path(__file__).parent,
        ).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _observer(spec: RunSpec, target: MongoTarget, results_dir: Path, previous: Any, resume_step: int):
    """A MongoObserver that tags the run for Omniboard, reuses the run key's old record and
    gives the record its origin (``benchmark.records.record_origin``)."""
    from sacred.observers import MongoObserver

    from benchmark.records import record_origin

    class SuiteMongoObserver(MongoObserver):
        def insert(self) -> None:
            self.run_entry["omniboard"] = {"tags": spec.tags}
            if self.overwrite:
                # Replace, not $set: fields of the earlier attempt (fail_trace, result,
                # stop_time) must not survive into the new one. A record imported from another
                # database and run again here is this database's record now (its origin stays).
                for stale in ("fail_trace", "result", "stop_time", "imported"):
                    self.run_entry.pop(stale, None)
                self.runs.replace_one({"_id": self.run_entry["_id"]}, self.run_entry, upsert=True)
                return
            super().insert()
            self.run_entry["origin"] = record_origin(self.run_entry, target.db_name)
            self.runs.update_one({"_id": self.run_entry["_id"]}, {"$set": {"origin": self.run_entry["origin"]}})

    observer = SuiteMongoObserver(
        url=target.url,
        db_name=target.db_name,
        failure_dir=str(failure_directory(results_dir)),
        overwrite=previous,
        serverSelectionTimeoutMS=2000,
        connectTimeoutMS=2000,
    )
    if previous is not None:
        # Before Sacred gives the record this attempt's start time, which a computed origin reads.
        observer.overwrite["origin"] = record_origin(observer.overwrite, target.db_name)
        _truncate_metrics(observer.metrics, previous, resume_step)
    return observer


def _truncate_metrics(metrics, run_id: Any, last_step: int) -> None:
    """Drop the earlier attempt's points after ``last_step`` (all of them if it is -1).

    A run resumed from a checkpoint at step S logs every step after S again, so keeping
    those points would duplicate them. Per-plan optimisation curves (``opt/``) are indexed
    by iteration, not environment step, and are kept whole.
    """
    for doc in metrics.find({"run_id": run_id}):
        if doc["name"].startswith("opt/") and last_step >= 0:
            continue
        keep = [i for i, step in enumerate(doc["steps"]) if step <= last_step]
        if not keep:
            metrics.delete_one({"_id": doc["_id"]})
            continue
        metrics.update_one({"_id": doc["_id"]}, {"$set": {
            field: [doc[field][i] for i in keep] for field in ("steps", "values", "timestamps")
        }})


def _previous_record(spec: RunSpec, target: MongoTarget) -> tuple[Any, str | None]:
    """(_id, status) of this run's latest earlier record (same key and hash), or (None, None)."""
    import pymongo.errors

    from benchmark.records import latest_record

    try:
        doc = latest_record(target, spec.key, spec.config_hash)
    except pymongo.errors.PyMongoError:
        return None, None  # the observer reports the unreachable database itself
    return (doc["_id"], doc.get("status")) if doc else (None, None)


def execute_run(spec: RunSpec, target: MongoTarget, results_dir: Path) -> RunOutcome:
    """Run one grid cell as a Sacred run and report how it ended; never raises for a run error."""
    from sacred import Experiment
    from sacred.utils import apply_backspaces_and_linefeeds

    results_dir = Path(results_dir)
    experiment = Experiment(f"{spec.task}/{spec.method}", save_git_info=False)
    experiment.captured_out_filter = apply_backspaces_and_linefeeds
    experiment.add_config(sacred_config(spec))
    run_dir = run_directory(results_dir, spec)
    target.ensure_indexes()
    previous, status = _previous_record(spec, target)
    # Only an unfinished record of this database continues from the run folder's checkpoint:
    # a completed one re-run with --force, or a run folder written for another database,
    # starts afresh.
    resume = find_checkpoint(run_dir, spec.config_hash) if previous is not None and status != "COMPLETED" else None
    try:
        experiment.observers.append(_observer(spec, target, results_dir, previous, resume[1].step if resume else -1))
    except Exception as error:  # a wrong URL scheme, bad credentials format, ...
        return RunOutcome(spec.key, "FAILED", None, _one_line(error))

    @experiment.main
    def main(_run, _config):
        return _train(dict(_config), _run, run_dir, resume)

    meta = {"comment": spec.key, "git_commit": git_commit(), "host_pid": os.getpid()}
    try:
        with run_lock(run_dir):
            run = experiment.run(meta_info=meta, options={"--capture": "sys"})
    except KeyboardInterrupt:
        return RunOutcome(spec.key, "INTERRUPTED", None, "interrupted (Ctrl-C or SIGINT)")
    except Exception as error:
        return RunOutcome(spec.key, "FAILED", None, _describe_failure(error, results_dir))
    return RunOutcome(spec.key, run.status, run._id)


def _train(config: dict[str, Any], run, run_dir: Path, resume: tuple[Path, LoopState] | None) -> dict[str, float]:
    from agents.loop import LoopSettings, train_and_evaluate
    from agents.registry import build_agent
    from agents.timing import METRIC_PREFIX as TIME_PREFIX
    from agents.timing import TEARDOWN
    from benchmark.progress import PROGRESS_FILE, RunProgress
    from envs.isolated import IsolatedEnv

    config["offline_dir"] = _checked_offline_dir(config["offline_dir"], config["task"], config["offline_episodes"])
    if resume is None and run_dir.exists():
        shutil.rmtree(run_dir)  # no checkpoint of this config to resume from: start clean
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume is not None:
        run.info["resumed_from_step"] = resume[1].step
    # Separate processes: TensorFlow and software OpenGL cannot share one (envs/isolated.py).
    train_env = IsolatedEnv(config)
    eval_env = IsolatedEnv(config, seed=config["seed"] + 10_000)

    def log(name: str, value: float, step: int) -> None:
        run.log_scalar(name, value, step)

    # log also takes the per-iteration optimisation curves of sampled plans (planners only)
    agent = build_agent(config, train_env.action_space.shape[0], curve_logger=log)
    start = resume[1] if resume is not None else LoopState()
    progress = RunProgress(config["steps"], run_dir / PROGRESS_FILE, run.info, start.step, start.episodes)
    try:
        # Sacred sends metrics only at heartbeats (every 10 s); a checkpoint must not claim
        # steps whose metrics are still buffered, so it forces one (private, stable since 0.7).
        # time/setup counts from the record's start_time, so the time/* metrics add up to its wall time.
        result = train_and_evaluate(LoopSettings.from_config(config), agent, train_env, eval_env, run_dir, log, resume,
                                    flush=run._emit_heartbeat, artifact=_artifact_writer(run, run_dir),
                                    progress=progress, started_at=run.start_time.replace(tzinfo=dt.UTC).timestamp())
    finally:
        train_env.close()
        eval_env.close()
    _attach_last_episode(run, run_dir)
    # Since the loop's last time points: its last progress record, closing the environments, the filmstrip.
    teardown = sum(agent.clock.take().values())
    log(f"{TIME_PREFIX}{TEARDOWN}", teardown, int(result["steps"]))
    return result


def _artifact_writer(run, run_dir: Path):
    """A callback storing frames [T, H, W, 3] as an animated GIF artifact of the run."""

    def write(name: str, frames) -> None:
        import imageio.v3 as imageio

        path = run_dir / "videos" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        imageio.imwrite(path, frames, duration=100, loop=0)
        run.add_artifact(str(path), name=name)

    return write


def _attach_last_episode(run, run_dir: Path) -> None:
    """Store a filmstrip of the last training episode as the run's artifact."""
    from envs.episodes import load_episode
    from reports.filmstrip import write_filmstrip

    files = sorted((run_dir / "episodes").glob("*.npz"))
    episode = load_episode(files[-1]) if files else None
    if episode is not None:
        run.add_artifact(str(write_filmstrip(episode["image"], run_dir / "last_episode.png")))


def _checked_offline_dir(offline_dir: str | None, task: str, episodes: int) -> str | None:
    """The offline folder as an absolute path, generated first if it holds no episodes.

    Relative paths are relative to the project. Generation (MetaWorld's scripted experts,
    `run_suite.py offline`) runs in a child process, since rendering must stay out of a
    process that will import TensorFlow, and under a file lock, so parallel seeds of one task
    generate the data once.
    """
    if offline_dir is None:
        return None
    import fcntl
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    path = Path(offline_dir) if Path(offline_dir).is_absolute() else root / offline_dir
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not any(path.glob("*.npz")):
            command = [sys.executable, str(root / "run_suite.py"), "offline", "--task", task,
                       "--episodes", str(episodes), "--out", str(path)]
            generated = subprocess.run(command, capture_output=True, text=True)
            if generated.returncode != 0 or not any(path.glob("*.npz")):
                tail = (generated.stderr.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"could not generate offline episodes in {path}: {tail}; "
                                   f"run `python run_suite.py offline --task {task}` to see why")
    return str(path)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def _describe_failure(error: BaseException, results_dir: Path) -> str:
    import pymongo.errors

    if isinstance(error, pymongo.errors.PyMongoError):
        return (
            f"database unreachable during the run ({type(error).__name__}); its record was kept "
            f"in {failure_directory(results_dir)}; restart the database and re-run the same "
            "command"
        )
    last = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" at {Path(last.filename).name}:{last.lineno}" if last else ""
    return _one_line(error) + where
