"""A running run reports its progress in the terminal, its log and its record; SIGTERM stops
it and everything it started."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import threading
import time

from conftest import ROOT, run_cli, session_processes
from tqdm import tqdm

from benchmark.progress import ActiveRuns, describe, read_progress
from benchmark.registry import Registry

KEY = "smoke/pm_lottery/random/seed0/smoke"
STEPS = 200_000


def _wait_for(condition, what: str, process: subprocess.Popen, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert process.poll() is None, f"the command ended (code {process.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.3)
    return value


def test_a_running_run_shows_progress_everywhere_and_sigterm_stops_all_of_it(database, results_dir):
    before = set(session_processes())
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run_suite.py"), "--results", str(results_dir), "run", "--suite", "smoke",
         "--tasks", "pm_lottery", "--methods", "random", "--seeds", "0", "1", f"steps={STEPS}", "time_limit=200"],
        cwd=ROOT, env={**os.environ, "LATCO_MONGO_DB": database.db_name},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: process.stdout.read1(4096), b"")))
    reader.start()
    try:
        # The terminal: a line for the running run under the suite's bar, with step/total and ETA.
        line = re.compile(rf"pm_lottery/random/seed0: step (\d+)/{STEPS} \(\d+%\), \d+ episodes, .*ETA \d+:\d\d:\d\d")
        shown = _wait_for(lambda: line.search(b"".join(chunks).decode(errors="replace")), "progress line", process)
        assert int(shown.group(1)) > 0
        # The run's log: periodic, time-stamped lines.
        log = results_dir / "logs" / f"{KEY}.log"
        logged = _wait_for(lambda: log.exists() and re.findall(rf"\] progress: step (\d+)/{STEPS}", log.read_text()),
                           "progress line in the log", process)
        assert [int(step) for step in logged] == sorted(int(step) for step in logged)
        # The Sacred record: info.progress, sent with the heartbeat (every 10 s).
        runs = database.database().runs
        def recorded():
            progress = (runs.find_one({"config.run_key": KEY}) or {}).get("info", {}).get("progress")
            return progress if progress and progress["step"] > 0 else None

        record = _wait_for(recorded, "info.progress past step 0 in the record", process, timeout=60)
        assert record["total"] == STEPS and record["step"] < STEPS and record["steps_per_s"] > 0
        # `status` shows it from the database (as it does for runs on Slurm).
        status = run_cli("status", "--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random",
                         f"steps={STEPS}", "time_limit=200", results=results_dir, db_name=database.db_name)
        assert re.search(rf"RUNNING .* \d+/{STEPS}, ETA \d+:\d\d:\d\d", status.stdout), status.stdout
        # A second command on the same grid leaves the run to the process training it.
        again = run_cli("run", "--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random", "--seeds", "0",
                        f"steps={STEPS}", "time_limit=200", results=results_dir, db_name=database.db_name)
        assert again.returncode == 0, again.stderr
        assert "0 to run, 1 being trained by another command right now" in again.stdout, again.stdout
    finally:
        process.terminate()  # SIGTERM to the launcher only, not to its process group
        code = process.wait(timeout=120)
        reader.join()
    assert code == 143, b"".join(chunks).decode(errors="replace")[-2000:]
    [run] = database.database().runs.find({"config.run_key": KEY})
    assert run["status"] == "INTERRUPTED"
    # The queued second seed never started: stopping a suite stops it, not just its current run.
    assert database.database().runs.count_documents({}) == 1
    # Its workers and their environment processes ended with it.
    assert set(session_processes()) <= before, session_processes()

    # The file the launcher polls renders as the terminal showed it, and only for this launch.
    path = results_dir / "runs" / KEY / "progress.json"
    saved = read_progress(path)
    assert saved["step"] == run["info"]["progress"]["step"] and saved["episodes"] >= 1
    assert describe(saved).startswith(f"step {saved['step']}/{STEPS} (") and "ETA" in describe(saved)
    assert read_progress(path, since=saved["started"] + 1) is None
    bar = tqdm(total=1, file=io.StringIO())
    lines = ActiveRuns(bar, since=saved["started"])
    lines.refresh({"pm_lottery/random/seed0": path})
    assert f"pm_lottery/random/seed0: {describe(saved)}" in bar.fp.getvalue()
    lines.close()
    bar.close()


def test_an_environment_process_ends_when_its_parent_is_killed():
    config = Registry.load().resolve_config("pm_lottery", "random", "smoke")
    script = ("import sys, time; from envs.isolated import IsolatedEnv; "
              f"env = IsolatedEnv({dict(config)!r}); print(env._process.pid, flush=True); time.sleep(600)")
    parent = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    parent.kill()  # SIGKILL: no handler runs in the parent
    parent.wait()
    deadline = time.monotonic() + 30
    while child in {pid for pid, _ in session_processes()}:
        assert time.monotonic() < deadline, "the environment process outlived its killed parent"
        time.sleep(0.1)
