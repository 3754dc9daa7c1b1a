"""Running a grid on Slurm through submitit: one job array, one array task per run.

Each task runs the local workers' entry point (``launch.run_in_worker`` calling
``execute_run``), so a run behaves the same wherever it executes: one Sacred record per
(run key, config hash), continued from ``results/runs/<key>/checkpoint`` when an earlier
attempt was interrupted. What a cluster adds is handled here:

- resources per run (partition, time limit, CPUs, memory, GPUs, account, extra sbatch
  options) from a cluster profile ``benchmark/clusters/<name>.yaml`` and CLI flags;
- the database: jobs reach it by URL, which travels in the job's environment (sbatch exports
  the submitting one), never in the pickles under ``results/``; a loopback URL is refused
  unless every node of the partition is this machine;
- a job book, ``results/slurm/<suite>/jobs.json``, maps run keys to job ids and log files, so
  ``status`` shows Slurm's state and ``cancel`` finds the suite's jobs after the submitting
  command has gone;
- interruptions: ``scancel`` (SIGTERM) records the run INTERRUPTED; a time limit or a
  preemption signal (SIGUSR2, sent ``signal_delay`` before the limit) makes submitit requeue
  the job, which continues from the run's checkpoint; a run killed outright resumes when the
  suite is run again. None of these adds a second record.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import math
import os
import pickle
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from submitit.core.utils import FailedJobError
from submitit.helpers import Checkpointable

from benchmark.config import load_yaml_mapping
from benchmark.database import MongoTarget
from benchmark.errors import ConfigError
from benchmark.experiment import RunOutcome, execute_run
from benchmark.launch import Job, LaunchReport, note_outcome, run_in_worker
from benchmark.registry import RunSpec

CLUSTERS_DIR = Path(__file__).parent / "clusters"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The job reads the database URL from here: credentials stay out of files under results/.
URL_VARIABLE = "LATCO_JOB_MONGO_URL"
DEFAULT_TIME = "24:00:00"
# Time-limit requeues per run before submitit gives up (each continues from a checkpoint).
MAX_TIMEOUT_REQUEUES = 20
LOG_TAIL_LINES = 40
# How long the launcher waits for a job that neither squeue nor sacct knows before giving up.
UNKNOWN_PATIENCE_S = 600.0

# sacct's states after which a job never runs again; anything else may still change.
FINISHED_STATES = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
    "DEADLINE", "PREEMPTED", "REVOKED", "SPECIAL_EXIT",
})
# Options the launcher sets itself; --sbatch may not override them.
_MANAGED_SBATCH = frozenset({"array", "output", "error", "signal", "job-name", "open-mode", "wckey"})
_PROFILE_KEYS = frozenset({
    "description", "partition", "time", "cpus", "mem", "gpus", "account", "sbatch",
    "max_parallel", "allow_loopback_database",
})


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class SlurmOptions:
    """Resources of each run's job and how the suite's array is submitted.

    ``time`` and ``mem`` use Slurm's own formats (``90``, ``4:00:00``, ``2-00:00:00``;
    ``4G``, ``16000M``). ``max_parallel`` caps running array tasks (None: the cluster decides).
    ``allow_loopback_database`` says the nodes reach this machine's 127.0.0.1 some other way
    (a tunnel on each node); without it a loopback database needs all nodes to be this host.
    """

    partition: str | None = None
    time: str = DEFAULT_TIME
    cpus: int = 1
    mem: str | None = None
    gpus: int = 0
    account: str | None = None
    sbatch: dict[str, str | bool] = field(default_factory=dict)
    max_parallel: int | None = None
    allow_loopback_database: bool = False

    @property
    def time_min(self) -> int:
        return parse_time_minutes(self.time)

    def describe(self) -> str:
        """One line for the user: what each run's job asks for."""
        parts = [f"partition {self.partition or '(default)'}", f"{self.cpus} CPU{'s' if self.cpus > 1 else ''}"]
        parts += [f"{self.mem} memory"] if self.mem else []
        parts += [f"{self.gpus} GPU{'s' if self.gpus > 1 else ''}"] if self.gpus else []
        parts += [f"time limit {self.time}"]
        parts += [f"account {self.account}"] if self.account else []
        parts += [f"--{k}" if v is True else f"--{k}={v}" for k, v in sorted(self.sbatch.items())]
        return ", ".join(parts) + " per run"


def cluster_profile_names() -> list[str]:
    return sorted(path.stem for path in CLUSTERS_DIR.glob("*.yaml"))


def load_cluster_profile(name: str) -> dict[str, Any]:
    """A profile by name (``benchmark/clusters/<name>.yaml``) or by path to a YAML file."""
    path = Path(name)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = CLUSTERS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"unknown cluster profile '{name}'; known: {', '.join(cluster_profile_names())} "
            f"(or pass the path of a YAML file)"
        )
    data = load_yaml_mapping(path)
    unknown = sorted(set(data) - _PROFILE_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key '{unknown[0]}'; a cluster profile may hold: {', '.join(sorted(_PROFILE_KEYS))}"
        )
    if data.get("time") is not None:
        # YAML 1.1 reads an unquoted 1:30:00 as the base-60 integer 5400: take the text as written.
        data["time"] = yaml.load(path.read_text(), Loader=yaml.BaseLoader)["time"]
    if isinstance(data.get("mem"), int):
        data["mem"] = str(data["mem"])  # megabytes, as sbatch reads a bare number
    for key, kind in (("partition", str), ("mem", str), ("account", str), ("allow_loopback_database", bool)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise ConfigError(f"{path}: {key} must be a {kind.__name__}, got {data[key]!r}")
    return data


def slurm_options(
    profile: str | None = None,
    *,
    partition: str | None = None,
    time: str | None = None,
    cpus: int | None = None,
    mem: str | None = None,
    gpus: int | None = None,
    account: str | None = None,
    sbatch: Iterable[str] = (),
    max_parallel: int | None = None,
) -> SlurmOptions:
    """The options of a launch: the profile's values, each overridden by a flag given."""
    values = {k: v for k, v in (load_cluster_profile(profile) if profile else {}).items() if v is not None}
    values.pop("description", None)
    extra = parse_sbatch_options(values.pop("sbatch", None) or {})
    extra.update(parse_sbatch_options(list(sbatch)))
    flags = {"partition": partition, "time": time, "cpus": cpus, "mem": mem, "gpus": gpus,
             "account": account, "max_parallel": max_parallel}
    values.update({k: v for k, v in flags.items() if v is not None})
    if "time" in values:
        values["time"] = str(values["time"])
    options = SlurmOptions(**values, sbatch=extra)
    parse_time_minutes(options.time)  # a malformed time limit fails now, not at submission
    for name, low in (("cpus", 1), ("gpus", 0), ("max_parallel", 1)):
        value = getattr(options, name)
        if value is not None and (not isinstance(value, int) or value < low):
            raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
    return options


_TIME_PATTERN = re.compile(r"^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$")


def parse_time_minutes(text: str | int) -> int:
    """Slurm's time formats as whole minutes, rounded up: ``MM``, ``MM:SS``, ``HH:MM:SS``,
    ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS`` (submitit takes minutes)."""
    match = _TIME_PATTERN.match(str(text).strip())
    if not match:
        raise ConfigError(
            f"time limit '{text}' is not in Slurm's format; use minutes (90), HH:MM:SS (4:00:00) "
            "or D-HH:MM:SS (2-00:00:00)"
        )
    days, first, second, third = (int(g) if g is not None else None for g in match.groups())
    if days is None:
        hours, minutes, seconds = (first, second, third) if third is not None else (0, first, second or 0)
    else:
        hours, minutes, seconds = first, second or 0, third or 0
    total = math.ceil((days or 0) * 1440 + hours * 60 + minutes + seconds / 60)
    if total < 1:
        raise ConfigError(f"time limit '{text}' is shorter than one minute")
    return total


def parse_sbatch_options(items: Iterable[str] | dict[str, Any]) -> dict[str, str | bool]:
    """Extra sbatch options, ``KEY=VALUE`` or a bare ``KEY`` for a flag (``exclusive``)."""
    pairs = items.items() if isinstance(items, dict) else (
        (item.split("=", 1) if "=" in item else (item, True)) for item in items
    )
    options: dict[str, str | bool] = {}
    for key, value in pairs:
        key = str(key).strip().lstrip("-").replace("_", "-")
        if not re.fullmatch(r"[a-z][a-z0-9-]*", key):
            raise ConfigError(f"sbatch option '{key}' is not an sbatch long option name (e.g. qos=high)")
        if key in _MANAGED_SBATCH:
            raise ConfigError(f"sbatch option '{key}' is set by the launcher itself and cannot be overridden")
        options[key] = True if value is True else str(value)
    return options


# -------------------------------------------------------------------- the Slurm commands


def _require(program: str) -> None:
    if shutil.which(program) is None:
        raise ConfigError(
            f"Slurm's {program} is not on PATH: run on a machine of the cluster (a login node) "
            "or use --launcher local"
        )


def _slurm(command: list[str], check: bool = False) -> subprocess.CompletedProcess:
    """Run a Slurm client command; a hung controller counts as a failed command, not a hang."""
    _require(command[0])
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        result = subprocess.CompletedProcess(command, -1, "", f"{command[0]}: no answer within 120 s")
    if check and result.returncode != 0:
        message = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise ConfigError(f"{' '.join(command[:2])} failed: {message}")
    return result


def _array_ids(job_id: str) -> list[str]:
    """``12_[3-5,7%2]`` (how sacct shows array tasks that never started) as 12_3 ... 12_7."""
    match = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job_id)
    if not match:
        return [job_id]
    base, ranges = match.groups()
    ids = []
    for part in ranges.split("%")[0].split(","):
        low, _, high = part.partition("-")
        ids += [f"{base}_{i}" for i in range(int(low), int(high or low) + 1)]
    return ids


def job_states(job_ids: Iterable[str]) -> dict[str, str]:
    """Slurm's state of each job (``123``, or array task ``123_4``).

    squeue knows queued and running jobs; sacct (through slurmdbd) knows finished ones.
    UNKNOWN means neither does: just submitted, or purged from the cluster's history.
    """
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    states: dict[str, str] = {}
    queue = _slurm(["squeue", "--noheader", "--array", "--format=%i|%T", f"--jobs={','.join(ids)}"])
    for line in queue.stdout.splitlines():
        job_id, _, state = line.strip().partition("|")
        if state and state not in FINISHED_STATES:
            states[job_id] = state
    rest = [i for i in ids if i not in states]
    if rest:
        bases = sorted({i.split("_")[0] for i in rest})
        history = _slurm(["sacct", "--noheader", "--parsable2", "--allocations",
                          "--format=JobID,State", f"--jobs={','.join(bases)}"])
        exact: dict[str, str] = {}
        ranged: dict[str, str] = {}
        for line in history.stdout.splitlines():
            job_id, _, state = line.strip().partition("|")
            state = state.split(" ")[0]  # "CANCELLED by 0"
            if "[" in job_id:
                ranged.update(dict.fromkeys(_array_ids(job_id), state))
            elif job_id:
                exact[job_id] = state
        for job_id in rest:
            states[job_id] = exact.get(job_id) or ranged.get(job_id) or "UNKNOWN"
    return {i: states[i] for i in ids}


def cancel_jobs(job_ids: Iterable[str]) -> None:
    ids = sorted(set(job_ids))
    if ids:
        _slurm(["scancel", *ids], check=True)


# ----------------------------------------------------------------- database reachability


def partition_nodes(partition: str | None) -> list[tuple[str, str]]:
    """(node name, node address) of each node of ``partition`` (the default one if None)."""
    command = ["sinfo", "--noheader", "--Node", "--format=%N|%o|%P"]
    if partition:
        command.append(f"--partition={partition}")
    listing = _slurm(command, check=True)
    nodes = []
    for line in listing.stdout.splitlines():
        name, address, part = line.strip().split("|")
        if partition is None and not part.endswith("*"):
            continue
        nodes.append((name, address))
    return sorted(set(nodes))


def this_host_addresses() -> set[str]:
    """The addresses this machine answers to (besides loopback)."""
    addresses = set()
    for name in {socket.gethostname(), socket.getfqdn()}:
        with contextlib.suppress(OSError):
            addresses |= {info[4][0] for info in socket.getaddrinfo(name, None)}
    return addresses


def is_this_host(address: str, local_addresses: set[str]) -> bool:
    """True if every address ``address`` resolves to is loopback or one of this machine's."""
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(address, None)}
    except OSError:
        return False
    return bool(resolved) and all(
        ipaddress.ip_address(ip.split("%")[0]).is_loopback or ip in local_addresses for ip in resolved
    )


def remote_nodes(nodes: list[tuple[str, str]], local_addresses: set[str]) -> list[str]:
    """Names of the nodes that are not this machine (their jobs cannot reach its loopback)."""
    return [name for name, address in nodes if not is_this_host(address, local_addresses)]


def check_database_reachable(target: MongoTarget, options: SlurmOptions) -> None:
    """Refuse, in one line, a loopback database that the partition's nodes cannot reach.

    A database on 127.0.0.1 (the embedded server, or a URL naming loopback) is reachable from
    a job only when the job runs on this machine: allowed if every node of the partition is
    this host (a one-node cluster), or if the cluster profile says so explicitly.
    """
    if not target.is_loopback or options.allow_loopback_database:
        return
    nodes = partition_nodes(options.partition)
    where = f"partition '{options.partition}'" if options.partition else "the default partition"
    if not nodes:
        raise ConfigError(f"{where} has no nodes (sinfo lists none); pass an existing --partition")
    remote = remote_nodes(nodes, this_host_addresses())
    if remote:
        shown = ", ".join(remote[:5]) + (", ..." if len(remote) > 5 else "")
        raise ConfigError(
            f"the database {target.masked} is on this machine's loopback, which jobs on other nodes "
            f"of {where} ({shown}) cannot reach; pass --mongo-url of a MongoDB server the nodes "
            "reach (or set allow_loopback_database: true in the cluster profile if they reach "
            "this machine's loopback through a tunnel)"
        )


# ----------------------------------------------------------------------------- job book


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


def live_jobs(specs: list[RunSpec], results_dir: Path) -> dict[str, str]:
    """Run key -> job id of the runs (same config) whose job is still queued or running."""
    entries = _book_entries(specs, results_dir, same_config=True)
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
    writes, stderr log and, for a job that ended without completing, the log's tail. Runs never
    submitted to Slurm are absent.
    ``kind=EVALUATION_BOOK`` gives the runs' evaluation jobs instead of their training jobs."""
    entries = _book_entries(specs, results_dir, same_config=True, kind=kind)
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
                     "stderr": entry["stderr"],
                     "tail": log_tail(entry["stderr"]) if ended_badly else ""}
    return rows


# ------------------------------------------------------------------------------ the job


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
        doc = target.database().runs.find_one(
            {"config.run_key": record_key, "config.config_hash": config_hash}, {"fail_trace": 1},
            sort=[("_id", -1)],
        )
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
        if outcome.status == "INTERRUPTED":
            outcome = replace(outcome, error="interrupted by SIGTERM from Slurm (scancel, requeue or preemption)")
        if outcome.status != "COMPLETED":
            trace = _recorded_traceback(target, self.record_key(spec), spec.config_hash)
            raise RunFailed(outcome, trace if outcome.status == "FAILED" else "")
        return outcome


@contextlib.contextmanager
def _url_in_environment(url: str) -> Iterator[None]:
    previous = os.environ.get(URL_VARIABLE)
    os.environ[URL_VARIABLE] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(URL_VARIABLE, None)
        else:
            os.environ[URL_VARIABLE] = previous


# ------------------------------------------------------------------------ the launcher


def _executor(folder: Path, options: SlurmOptions, suite: str):
    import submitit

    _require("sbatch")
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
    with _url_in_environment(target.url):
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
        runs = target.database().runs
        doc = runs.find_one({"config.run_key": run.record_key, "config.config_hash": run.spec.config_hash},
                            {"_id": 1, "status": 1}, sort=[("_id", -1)])
        if doc is None or (doc.get("status") == "COMPLETED" and outcome.status != "COMPLETED"):
            return  # the job ended before its run had a record (or this is an older record)
        update: dict[str, Any] = {"info.slurm": {"job_id": run.job_id, "state": state, "stdout": str(run.stdout),
                                                 "stderr": str(run.stderr)}}
        if outcome.status != "COMPLETED":
            update["info.slurm_log_tail"] = log_tail(run.stderr)
        runs.update_one({"_id": doc["_id"]}, {"$set": update})
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



