"""Real Sacred runs of the random agent on real environments, recorded in a real MongoDB server."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time

import gridfs
from conftest import ROOT, auth_server, run_cli

from benchmark.database import MongoTarget, mask_url
from benchmark.experiment import execute_run
from benchmark.registry import Registry


def _runs(target: MongoTarget) -> list[dict]:
    return list(target.database().runs.find({}, sort=[("_id", 1)]))


def test_smoke_suite_completes_records_metrics_artifacts_and_resumes(server, database, results_dir, tmp_path):
    result = run_cli("run", "--suite", "smoke", "--methods", "random", "--max-parallel", "2",
                     results=results_dir, db_name=database.db_name)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = _runs(database)
    assert sorted(r["config"]["run_key"] for r in runs) == [
        "smoke/dmc_reacher/random/seed0/smoke",
        "smoke/mw_reach/random/seed0/smoke",
        "smoke/pm_lottery/random/seed0/smoke",
    ]
    assert {r["status"] for r in runs} == {"COMPLETED"}
    for run in runs:
        assert run["omniboard"]["tags"][:3] == ["smoke", run["config"]["task"], "random"]
        assert len(run["config"]["config_hash"]) == 16
        assert run["result"]["steps"] >= 300

    # Metrics read back at the environment steps they belong to.
    pm = next(r for r in runs if r["config"]["task"] == "pm_lottery")
    success = database.database().metrics.find_one({"run_id": pm["_id"], "name": "train/success"})
    assert success["steps"] == [50, 100, 150, 200, 250, 300]  # 50-step episodes, 300 steps
    assert set(success["values"]) <= {0.0, 1.0}
    choices = database.database().metrics.find_one({"run_id": pm["_id"], "name": "train/choose_none"})
    assert len(choices["values"]) == 6
    # Heartbeats find each series through an index, not a scan of every run's series.
    indexes = database.database().metrics.index_information()
    assert any(index["key"] == [("run_id", 1), ("name", 1)] for index in indexes.values()), indexes

    # The artifact is the filmstrip on disk, byte for byte.
    [artifact] = pm["artifacts"]
    stored = gridfs.GridFS(database.database()).get(artifact["file_id"]).read()
    on_disk = (results_dir / "runs" / pm["config"]["run_key"] / "last_episode.png").read_bytes()
    assert stored == on_disk and stored[:8] == b"\x89PNG\r\n\x1a\n"

    # Running the same command again skips what completed, adding no record.
    again = run_cli("run", "--suite", "smoke", "--methods", "random", results=results_dir, db_name=database.db_name)
    assert again.returncode == 0, again.stderr
    assert "3 already completed, 0 to run" in again.stdout
    assert len(_runs(database)) == 3

    status = run_cli("status", "--suite", "smoke", "--methods", "random", results=results_dir, db_name=database.db_name)
    assert status.returncode == 0 and status.stdout.count("COMPLETED") == 3

    out = tmp_path / "report"
    report = run_cli("report", "--suite", "smoke", "--out", str(out), results=results_dir, db_name=database.db_name)
    assert report.returncode == 0, report.stderr
    index = (out / "index.md").read_text()
    assert "| pm_lottery | random | 0 ± 0 | 1 |" in index or "| pm_lottery | random |" in index
    assert (out / "success_vs_steps.png").read_bytes()[:4] == b"\x89PNG"


def test_failed_run_is_recorded_with_its_traceback_and_rerun_replaces_it(database, results_dir):
    args = ("run", "--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random", "fail_at_step=60")
    first = run_cli(*args, results=results_dir, db_name=database.db_name)
    assert first.returncode == 1
    assert "FAILED: smoke/pm_lottery/random/seed0/smoke" in first.stderr
    assert "fail_at_step=60 reached" in first.stderr
    [run] = _runs(database)
    assert run["status"] == "FAILED"
    assert any("DeliberateFailure" in line for line in run["fail_trace"])
    metric = database.database().metrics.find_one({"run_id": run["_id"], "name": "train/success"})
    assert metric is None or max(metric["steps"]) <= 60

    second = run_cli(*args, results=results_dir, db_name=database.db_name)
    assert second.returncode == 1
    assert len(_runs(database)) == 1, "a re-run must replace its unfinished record, not duplicate it"


def test_sigint_marks_the_run_interrupted(database, results_dir):
    env = {**os.environ, "LATCO_MONGO_DB": database.db_name}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run_suite.py"), "--results", str(results_dir), "run", "--suite", "smoke",
         "--tasks", "pm_lottery", "--methods", "random", "steps=200000", "time_limit=200"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        # As a terminal's foreground job: a shell starts background jobs (a test session run with
        # `&` or nohup) with SIGINT ignored, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Start-up (TensorFlow, environment processes) takes ~20 s on an idle machine and minutes
    # on a loaded one: the bound is generous so that the test measures the interrupt, not the load.
    deadline = time.monotonic() + 300
    try:
        while not database.database().metrics.find_one({"name": "train/success"}):
            assert time.monotonic() < deadline and process.poll() is None, "the run never started logging"
            time.sleep(0.5)
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=120)
    finally:
        if process.poll() is None:  # a failed wait above: leave no process behind
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    [run] = _runs(database)
    assert run["status"] == "INTERRUPTED"
    assert process.returncode in (1, 130)


def test_database_down_fails_the_run_clearly_and_keeps_its_record(tmp_path):
    spec = Registry.load().expand("smoke", tasks=["pm_lottery"])[0]
    dead = MongoTarget("mongodb://127.0.0.1:9/")
    outcome = execute_run(spec, dead, tmp_path)
    assert outcome.status == "FAILED"
    assert "database unreachable" in outcome.error and "failed_records" in outcome.error
    [record] = list((tmp_path / "failed_records").glob("*.pickle"))
    with open(record, "rb") as stream:
        entry = pickle.load(stream)
    assert entry["config"]["run_key"] == spec.key and entry["status"] == "FAILED"


def test_a_password_in_the_url_is_never_stored_or_printed(tmp_path):
    secret = "S3cretPassw0rd"
    with auth_server(tmp_path / "authdb", "suite", secret) as port:
        url = f"mongodb://suite:{secret}@127.0.0.1:{port}/?authSource=admin"
        target = MongoTarget(url, "authdb")
        results = tmp_path / "results"
        runs = [run_cli("run", "--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random", "--mongo-url", url,
                        results=results, db_name="authdb"),
                run_cli("status", "--suite", "smoke", "--mongo-url", url, results=results, db_name="authdb")]
        for result in runs:
            assert result.returncode == 0, result.stderr[-2000:]
            assert secret not in result.stdout + result.stderr
        assert mask_url(url) in runs[0].stdout
        db = target.database()
        [run] = list(db.runs.find())
        assert run["status"] == "COMPLETED"
        for collection in db.list_collection_names():
            for document in db[collection].find():
                assert secret not in repr(document), f"password stored in {collection}"
        for path in results.rglob("*"):
            if path.is_file() and path.suffix in ("", ".json", ".log", ".txt", ".md"):
                assert secret.encode() not in path.read_bytes(), path
