"""Omniboard (the pinned npm package) serves the suite's runs, on 127.0.0.1 only, and shows
them in a real browser (Debian's chromium, driven by Playwright); SIGTERM stops it whole."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from conftest import ROOT, artifact_path, run_cli, session_processes

from benchmark.database import MongoTarget

SEED0, SEED1, SEED2 = (f"smoke/pm_lottery/random/seed{seed}/smoke" for seed in range(3))


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


@pytest.fixture(scope="module")
def board(server, results_dir, tmp_path_factory):
    """Two real smoke runs (one COMPLETED, one FAILED), a third imported from another database, and
    `run_suite.py omniboard` on them;
    at the end the command is stopped with SIGTERM, which must stop its ``node`` too."""
    database = MongoTarget(server.url, f"test_{uuid.uuid4().hex[:10]}")
    selection = ("run", "--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random", "--seeds")
    completed = run_cli(*selection, "0", results=results_dir, db_name=database.db_name)
    assert completed.returncode == 0, completed.stderr[-2000:]
    failed = run_cli(*selection, "1", "fail_at_step=60", results=results_dir, db_name=database.db_name)
    assert failed.returncode == 1, failed.stderr[-2000:]
    # Seed 2 made in another database, exported and imported here (docs/runs.md).
    elsewhere = f"test_{uuid.uuid4().hex[:10]}"
    assert run_cli(*selection, "2", results=results_dir, db_name=elsewhere).returncode == 0
    shipped = tmp_path_factory.mktemp("runs_file") / "seed2.jsonl.gz"
    exported = run_cli("export", *selection[1:], "2", "--out", str(shipped), results=results_dir, db_name=elsewhere)
    assert exported.returncode == 0, exported.stderr[-2000:]
    imported = run_cli("import", str(shipped), results=results_dir, db_name=database.db_name)
    assert imported.returncode == 0 and "1 imported" in imported.stdout, imported.stderr[-2000:]
    before = set(session_processes())
    port = _free_port()
    command = [sys.executable, str(ROOT / "run_suite.py"), "--results", str(results_dir), "omniboard", "--port", str(port)]
    log = tmp_path_factory.mktemp("omniboard") / "omniboard.log"
    with open(log, "w") as stream:  # a file, not a pipe nobody reads: node logs every request
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "LATCO_MONGO_DB": database.db_name},
                                   stdout=stream, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while True:
        assert process.poll() is None, log.read_text()
        try:
            _get_json(f"http://127.0.0.1:{port}/sacred/api/v1/Runs/count")
            break
        except OSError:
            assert time.monotonic() < deadline, "Omniboard did not answer within 90 s"
            time.sleep(0.5)
    started = {key: command for key, command in session_processes().items() if key not in before}
    assert any("omniboard/dist/start.js" in command for command in started.values()), started
    yield f"http://127.0.0.1:{port}", database
    process.terminate()  # SIGTERM, to the Python process only
    assert process.wait(timeout=30) == 0
    assert set(session_processes()) <= before, "Omniboard's node outlived run_suite.py omniboard"


def test_omniboard_lists_the_suite_runs_on_loopback_only(board):
    url, _ = board
    runs = _get_json(f"{url}/sacred/api/v1/Runs?select=config,status,omniboard")
    assert sorted((r["config"]["run_key"], r["status"]) for r in runs) == [
        (SEED0, "COMPLETED"), (SEED1, "FAILED"), (SEED2, "COMPLETED")]
    assert all("pm_lottery" in r["omniboard"]["tags"] for r in runs)
    page = urllib.request.urlopen(f"{url}/sacred", timeout=5).read().decode()
    assert "<html" in page.lower()
    address = _non_loopback_address()
    if address is None:
        pytest.skip("no non-loopback address on this machine to check the binding against")
    with pytest.raises(OSError):
        urllib.request.urlopen(url.replace("127.0.0.1", address) + "/sacred/api/v1/Runs", timeout=3)


def test_a_browser_shows_the_runs_their_tags_and_a_metric_plot(board):
    from playwright.sync_api import sync_playwright

    url, database = board
    chromium = shutil.which("chromium")
    assert chromium, "the Debian chromium package is missing; run scripts/setup.sh"
    records = {r["config"]["run_key"]: r for r in database.database().runs.find()}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1000})

            # The run list (a grid of divs, not a <table>): one row per run, with its status and tags.
            page.goto(f"{url}/sacred")
            page.get_by_text(SEED1, exact=True).wait_for(timeout=60_000)
            rows = {}
            for row in page.locator(".fixedDataTableRowLayout_rowWrapper").all()[1:]:  # [0]: the header
                cells = [cell.strip() for cell in row.inner_text().splitlines() if cell.strip()]
                [key] = [cell for cell in cells if cell.startswith("smoke/")]  # the Notes column
                rows[key] = cells
            page.screenshot(path=artifact_path("omniboard_runs.png"), full_page=True)
            assert set(rows) == {SEED0, SEED1, SEED2}
            for key, cells in rows.items():
                assert records[key]["status"] in cells
                assert set(records[key]["omniboard"]["tags"]) <= set(cells)
                assert str(records[key]["_id"]) in cells

            # A run's "Metrics Plot" tab: the train/* series, plotted at their environment steps; the
            # imported run's too, from the series the import re-pointed to its new id.
            for key in (SEED2, SEED0):
                run = records[key]
                page.goto(f"{url}/sacred?showDrillDownRunModal=true&runIdToExpand={run['_id']}")
                page.locator(".js-plotly-plot .legendtext").first.wait_for(timeout=60_000)
                legend = page.locator(".js-plotly-plot .legendtext").all_text_contents()
                page.screenshot(path=artifact_path(f"omniboard_run{run['_id']}_metrics.png"))
                metrics = {m["name"]: m for m in database.database().metrics.find({"run_id": run["_id"]})}
                assert {"train/return", "train/success", "train/length"} <= set(legend)
                assert set(legend) == set(metrics)
                traces = page.evaluate("() => document.querySelector('.js-plotly-plot').data"
                                       ".map(t => ({name: t.name, x: Array.from(t.x), y: Array.from(t.y)}))")
                plotted = {trace["name"]: trace for trace in traces}
                assert plotted["train/success"]["x"] == metrics["train/success"]["steps"] == [50, 100, 150, 200, 250, 300]
                assert plotted["train/return"]["y"] == pytest.approx(metrics["train/return"]["values"])

            # Its "Run Info" tab: the run's last progress report.
            modal = page.locator(".modal-dialog")
            modal.get_by_text("Run Info", exact=True).click()
            modal.get_by_text('"progress"').click()
            modal.get_by_text('"total"').wait_for()
            page.screenshot(path=artifact_path(f"omniboard_run{run['_id']}_info.png"))
            text = modal.inner_text()
            assert '"step":300' in text.replace(" ", "") and '"total":300' in text.replace(" ", "")
        finally:
            browser.close()
