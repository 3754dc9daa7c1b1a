"""The Slurm client commands (squeue, sacct, scancel, sinfo) and what the launcher asks of
them: job states, cancellation, and whether the partition's nodes reach the database."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import shutil
import socket
import subprocess
from collections.abc import Iterable

from benchmark.database import MongoTarget
from benchmark.errors import ConfigError
from benchmark.slurm.options import SlurmOptions

# sacct's states after which a job never runs again; anything else may still change.
FINISHED_STATES = frozenset({
    "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL",
    "DEADLINE", "PREEMPTED", "REVOKED", "SPECIAL_EXIT",
})


def require(program: str) -> None:
    """Fail in one line, before anything is submitted, where Slurm's clients are not installed."""
    if shutil.which(program) is None:
        raise ConfigError(
            f"Slurm's {program} is not on PATH: run on a machine of the cluster (a login node) "
            "or use --launcher local"
        )


def _slurm(command: list[str], check: bool = False) -> subprocess.CompletedProcess:
    """Run a Slurm client command; a hung controller counts as a failed command, not a hang."""
    require(command[0])
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

