"""Shared fixtures: one real embedded MongoDB server (SecantusDB) for the whole session.

Each test that writes runs gets its own database name on that server, so tests never see
each other's runs; the CLI is driven as users drive it, in a subprocess.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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
