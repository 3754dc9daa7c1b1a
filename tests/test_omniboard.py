"""Omniboard (the pinned npm package) serves the suite's runs, on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import ROOT, run_cli


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))
            address = sock.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def _get_json(url: str, timeout: float = 5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def test_omniboard_lists_the_suite_runs_on_loopback_only(database, results_dir):
    run = run_cli("run", "--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random", results=results_dir, db_name=database.db_name)
    assert run.returncode == 0, run.stderr[-2000:]
    port = _free_port()
    command = [sys.executable, str(ROOT / "run_suite.py"), "--results", str(results_dir), "omniboard", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, "LATCO_MONGO_DB": database.db_name},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        runs = None
        while runs is None:
            assert process.poll() is None, process.stdout.read()
            try:
                runs = _get_json(f"http://127.0.0.1:{port}/sacred/api/v1/Runs?select=config,status,omniboard")
            except OSError:
                assert time.monotonic() < deadline, "Omniboard did not answer within 90 s"
                time.sleep(0.5)
        assert [r["config"]["run_key"] for r in runs] == ["smoke/pm_lottery/random/seed0/smoke"]
        assert runs[0]["status"] == "COMPLETED"
        assert "pm_lottery" in runs[0]["omniboard"]["tags"]
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/sacred", timeout=5).read().decode()
        assert "<html" in page.lower()
        address = _non_loopback_address()
        if address is None:
            pytest.skip("no non-loopback address on this machine to check the binding against")
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://{address}:{port}/sacred/api/v1/Runs", timeout=3)
    finally:
        process.terminate()
        process.wait(timeout=30)
