"""Shared fixtures: one real embedded MongoDB server (SecantusDB) for the whole session.

Each test that writes runs gets its own database name on that server, so tests never see
each other's runs; the CLI is driven as users drive it, in a subprocess. Every test also
fails if it leaves a process running (``no_process_left_behind``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Every process this session starts inherits this variable, however deep and even when its
# parent dies and it is re-parented; other sessions on the machine carry another value.
SESSION_MARK = "LATCO_TEST_SESSION"
os.environ[SESSION_MARK] = uuid.uuid4().hex

# Files a person may want to look at after the tests (e.g. the browser's screenshots); CI
# can set LATCO_TEST_ARTIFACTS to a folder it keeps. Listed at the end of the session.
ARTIFACTS_DIR = Path(os.environ.get("LATCO_TEST_ARTIFACTS", ROOT / "results" / "test-artifacts"))
_saved_artifacts: list[Path] = []


def artifact_path(name: str) -> str:
    """Where a test saves the artifact ``name`` (the folder is created)."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    _saved_artifacts.append(ARTIFACTS_DIR / name)
    return str(ARTIFACTS_DIR / name)


def pytest_terminal_summary(terminalreporter) -> None:
    saved = [path for path in _saved_artifacts if path.exists()]
    if saved:
        terminalreporter.write_line(f"test artifacts in {ARTIFACTS_DIR}: {', '.join(p.name for p in saved)}")

from benchmark.database import EmbeddedServer, MongoTarget  # noqa: E402


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("results")


@pytest.fixture(scope="session")
def server(results_dir):
    embedded = EmbeddedServer(results_dir)
    target = embedded.start()
    yield target
    embedded.stop()


@pytest.fixture
def database(server) -> MongoTarget:
    """A fresh, empty database on the session's server."""
    return MongoTarget(server.url, f"test_{uuid.uuid4().hex[:10]}")


def run_cli(*args: str, results: Path, db_name: str | None = None, timeout: float = 900,
            extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """``python run_suite.py --results <results> <args>`` as a user would type it."""
    env = {**os.environ, **(extra_env or {})}
    env.pop("LATCO_MONGO_URL", None)
    if db_name:
        env["LATCO_MONGO_DB"] = db_name
    return subprocess.run(
        [sys.executable, str(ROOT / "run_suite.py"), "--results", str(results), *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )


@contextlib.contextmanager
def auth_server(folder: Path, user: str, password: str) -> Iterator[int]:
    """A SecantusDB server that requires SCRAM authentication, with one root user; yields its
    port. The user is created on a plain start, then the server restarts with ``--auth``."""
    server = EmbeddedServer(folder)
    plain = server.start()
    plain.client().admin.command("createUser", user, pwd=password, roles=["root"])
    server.stop()
    port = int(plain.url.rsplit(":", 1)[1].strip("/"))
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("secantusd-py")), "--host", "127.0.0.1", "--port", str(port),
         "--storage-path", str(server.data_dir / "wiredtiger"), "--sync-on-commit", "--auth"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        target = MongoTarget(f"mongodb://{user}:{password}@127.0.0.1:{port}/?authSource=admin")
        deadline = time.monotonic() + 30
        while True:
            try:
                target.ping(timeout_ms=500)
                break
            except Exception:
                assert time.monotonic() < deadline, "the --auth server did not start"
                time.sleep(0.3)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
def session_processes() -> dict[tuple[int, int], str]:
    """{(pid, start time): command line} of the live processes started from this session."""
    mark = f"{SESSION_MARK}={os.environ[SESSION_MARK]}".encode()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark not in Path(entry.path, "environ").read_bytes().split(b"\0"):
                continue
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            command = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if fields[0] not in ("Z", "X"):  # zombies have ended; their parent just has not reaped them
            found[(int(entry.name), int(fields[19]))] = command.strip()
    return found


def _session_database_pid(results_dir: Path) -> int | None:
    try:
        return json.loads((results_dir / "db" / "server.json").read_text())["pid"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(scope="session", autouse=True)
def multiprocessing_resource_tracker() -> None:
    """Python's multiprocessing starts one resource-tracker process per interpreter, the first
    time a test's run creates a semaphore in this process, and it ends with the interpreter.
    Started here, before any test, it belongs to the session rather than to whichever test
    happens to be first, which :func:`no_process_left_behind` would otherwise blame."""
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()


@pytest.fixture(autouse=True)
def no_process_left_behind(results_dir):
    """Fail the test if a process it started (Omniboard, a worker, an environment, a database
    server...) is still running 10 s after it ended; the leftovers are killed so that the next
    test is not blamed. The session's own database server is meant to live on."""
    before = set(session_processes())
    yield
    deadline = time.monotonic() + 10
    while True:
        database = _session_database_pid(results_dir)
        left = {key: command for key, command in session_processes().items()
                if key not in before and key[0] != database}
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for pid, _ in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        pytest.fail("the test left processes running (killed now): "
                    + "; ".join(f"pid {pid}: {command[:160]}" for (pid, _), command in left.items()))


SMOKE_RUNS = ROOT / "docs" / "runs" / "smoke.jsonl.gz"  # the shipped smoke runs (docs/runs.md)


def copy_registry(folder: Path) -> Path:
    """A copy of the project's registry files (YAML, no code) at ``folder / "benchmark"``, for a
    test to edit and load with ``Registry.load(root)``."""
    root = folder / "benchmark"
    shutil.copytree(ROOT / "benchmark", root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return root


def registry_with_smoke_claims(folder: Path):
    """A copy of the project's registry in ``folder`` whose smoke suite declares a success claim
    and a lottery claim, so that the shipped smoke runs exercise the claims report."""
    from benchmark.registry import Registry

    root = copy_registry(folder)
    smoke = root / "suites" / "smoke.yaml"
    smoke.write_text(smoke.read_text() + "claims:\n"
                     "  - {name: Claim A, text: LatCo beats the shooting planners., method: latco,\n"
                     "     against: [planet, shooting_gd], tasks: [mw_reach]}\n"
                     "  - {name: Claim B, text: PLatCo is safer., method: platco, against: [latco],\n"
                     "     tasks: [pm_lottery], score: safe_choice}\n")
    return Registry.load(root)
