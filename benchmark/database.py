"""Where runs are recorded: a MongoDB URL given by the user, or the embedded server.

Without ``--mongo-url`` / ``LATCO_MONGO_URL`` the suite starts (or reuses) a SecantusDB
server, a MongoDB wire-protocol server in Python, with its data under ``results/db`` and
bound to 127.0.0.1 only. With a URL it starts nothing. A URL may carry credentials: it is
kept out of configs and logs, and shown masked.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from benchmark.errors import DatabaseError

DEFAULT_DB_NAME = "latco_bench"
SERVER_SELECTION_TIMEOUT_MS = 2000
# MongoDB's error codes for a refused login and for a command that needs one.
_AUTHENTICATION_FAILED = 18
_UNAUTHORIZED = 13

# Sacred's MongoObserver finds each metric series by (run_id, name) at every heartbeat, and
# neither Sacred nor SecantusDB creates an index on that pair: without one, each of a run's ~50
# series updates per heartbeat scans every series of every run (measured 2026-12-08: the
# embedded server took 36% of a core beside two claims runs, 3% with the index).
METRIC_SERIES_INDEX = [("run_id", 1), ("name", 1)]

# One pymongo client per (process, URL, timeout): a client owns a connection pool and monitor
# threads, so one per call would leak both. Keyed by pid because a forked child must not reuse
# its parent's sockets.
_CLIENTS: dict[tuple[int, str, int], Any] = {}


def _close_clients() -> None:
    for key in [key for key in _CLIENTS if key[0] == os.getpid()]:
        _CLIENTS.pop(key).close()


atexit.register(_close_clients)


def database_error_message(error: BaseException, masked_url: str) -> str | None:
    """One line for a pymongo error, naming the cause (never the credentials); None if ``error``
    is not a pymongo error."""
    import pymongo.errors

    if not isinstance(error, pymongo.errors.PyMongoError):
        return None
    code = getattr(error, "code", None)
    if code == _AUTHENTICATION_FAILED:
        return (f"MongoDB at {masked_url} refused the credentials (authentication failed); check the user "
                "name, password and authSource in --mongo-url / LATCO_MONGO_URL")
    if code == _UNAUTHORIZED:
        return (f"MongoDB at {masked_url} requires authentication (the URL has no credentials it accepts); "
                "put user:password@ in --mongo-url / LATCO_MONGO_URL")
    if isinstance(error, pymongo.errors.OperationFailure):
        name = (error.details or {}).get("codeName", code)
        return f"MongoDB at {masked_url} refused an operation ({name}); check the user's roles on the database"
    return (f"MongoDB at {masked_url} is unreachable ({type(error).__name__}); start it with "
            "`python run_suite.py db start` or pass a reachable --mongo-url")


def mask_url(url: str) -> str:
    """The URL with its password (and user name) replaced by ``***``, safe to print."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    hosts = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***:***@{hosts}"))


@dataclass(frozen=True)
class MongoTarget:
    """A database the suite writes to: the URL (possibly secret) and the database name."""

    url: str
    db_name: str = DEFAULT_DB_NAME

    @property
    def masked(self) -> str:
        return mask_url(self.url)

    @property
    def is_loopback(self) -> bool:
        host = urlsplit(self.url).hostname or ""
        return host in ("127.0.0.1", "localhost", "::1")

    def client(self, timeout_ms: int = SERVER_SELECTION_TIMEOUT_MS):
        """This process's client of the URL (created on first use, closed at exit)."""
        import pymongo

        key = (os.getpid(), self.url, timeout_ms)
        if key not in _CLIENTS:
            _CLIENTS[key] = pymongo.MongoClient(
                self.url, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
            )
        return _CLIENTS[key]

    def database(self, timeout_ms: int = SERVER_SELECTION_TIMEOUT_MS):
        return self.client(timeout_ms)[self.db_name]

    def ensure_indexes(self) -> None:
        """Create the index the runs' heartbeats need, if missing (idempotent, cheap once made).

        An index is an optimisation only: a server that refuses it (a user without the
        createIndex role) or cannot be reached leaves the run to report that itself."""
        import pymongo.errors

        try:
            self.database().metrics.create_index(METRIC_SERIES_INDEX)
        except pymongo.errors.PyMongoError:
            pass

    def ping(self, timeout_ms: int = SERVER_SELECTION_TIMEOUT_MS) -> None:
        """Raise a one-line DatabaseError if the server does not answer in time or refuses the
        URL's credentials. Lists the runs collection, since a server may answer a ping unasked
        and refuse everything else."""
        import pymongo.errors

        try:
            database = self.database(timeout_ms)
            database.client.admin.command("ping")
            database.runs.find_one({}, {"_id": 1})
        except pymongo.errors.PyMongoError as error:
            raise DatabaseError(database_error_message(error, self.masked)) from None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (whoever owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedServer:
    """The suite's own SecantusDB server, one per results folder.

    Its pid and port live in ``<results>/db/server.json`` so every command (and every
    worker) finds the same server; a stale file (server gone) is simply replaced.
    """

    def __init__(self, results_dir: Path):
        self.data_dir = Path(results_dir) / "db"
        self.state_file = self.data_dir / "server.json"
        self.log_file = self.data_dir / "server.log"

    def _state(self) -> dict | None:
        try:
            state = json.loads(self.state_file.read_text())
        except (OSError, ValueError):
            return None
        return state if process_alive(state.get("pid", -1)) else None

    def target(self) -> MongoTarget | None:
        """The running server's target, or None if it is not running."""
        state = self._state()
        return MongoTarget(f"mongodb://127.0.0.1:{state['port']}/") if state else None

    def status(self) -> str:
        state = self._state()
        if not state:
            return f"embedded database: stopped (data in {self.data_dir})"
        return (
            f"embedded database: running, pid {state['pid']}, mongodb://127.0.0.1:{state['port']}/"
            f" (data in {self.data_dir})"
        )

    def start(self, timeout_s: float = 60.0) -> MongoTarget:
        """Start the server unless it already runs; return its target once it answers a ping."""
        existing = self.target()
        if existing is not None:
            existing.ping(timeout_ms=5000)
            return existing
        self.data_dir.mkdir(parents=True, exist_ok=True)
        port = _free_port()
        storage = self.data_dir / "wiredtiger"
        command = [
            str(Path(sys.executable).with_name("secantusd-py")),
            "--host", "127.0.0.1", "--port", str(port),
            "--storage-path", str(storage), "--sync-on-commit", "--log-level", "WARNING",
        ]
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.state_file.write_text(json.dumps({"pid": process.pid, "port": port}))
        target = MongoTarget(f"mongodb://127.0.0.1:{port}/")
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise DatabaseError(
                    f"embedded database exited at start (code {process.returncode}); see "
                    f"{self.log_file}"
                )
            try:
                target.ping(timeout_ms=1000)
                return target
            except DatabaseError:
                if time.monotonic() > deadline:
                    process.terminate()
                    raise DatabaseError(
                        f"embedded database did not answer within {timeout_s:.0f} s; see "
                        f"{self.log_file}"
                    ) from None
                time.sleep(0.3)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the server (SIGTERM, then SIGKILL); True if one was running."""
        state = self._state()
        if not state:
            self.state_file.unlink(missing_ok=True)
            return False
        os.kill(state["pid"], signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while process_alive(state["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
            _reap(state["pid"])
        if process_alive(state["pid"]):
            os.kill(state["pid"], signal.SIGKILL)
        self.state_file.unlink(missing_ok=True)
        return True


def _reap(pid: int) -> None:
    """Collect the exit status if the server is our own child, so it does not linger as a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def resolve_target(mongo_url: str | None, results_dir: Path, start: bool = True) -> MongoTarget:
    """The database for this invocation, checked to answer and accept its credentials: an
    explicit URL, or the embedded server (started unless ``start`` is False).

    ``LATCO_MONGO_URL`` is read when no URL is passed; ``LATCO_MONGO_DB`` names the database.
    """
    url = mongo_url or os.environ.get("LATCO_MONGO_URL")
    db_name = os.environ.get("LATCO_MONGO_DB", DEFAULT_DB_NAME)
    if url:
        target = MongoTarget(url, db_name)
        target.ping()
        return target
    server = EmbeddedServer(results_dir)
    target = server.start() if start else server.target()
    if target is None:
        raise DatabaseError(
            "the embedded database is not running; start it with `python run_suite.py db start`"
        )
    return MongoTarget(target.url, db_name)


@contextmanager
def temporary_database(db_name: str) -> Iterator[tuple[MongoTarget, Path]]:
    """An embedded server in a temporary folder, stopped and deleted on exit, so that a
    benchmark never touches results/; also yields the folder for the benchmark's scratch files."""
    with tempfile.TemporaryDirectory(prefix=f"{db_name}_") as folder:
        server = EmbeddedServer(Path(folder) / "results")
        try:
            yield MongoTarget(server.start().url, db_name), Path(folder)
        finally:
            server.stop()
