"""The Slurm launcher against a real one-node Slurm (slurmctld, slurmd, slurmdbd on loopback).

The session fixture starts the cluster with scripts/slurm-single-node.sh (it installs the
Debian packages itself), so CI tests the cluster path for real. Only where Slurm cannot be
installed (no root, no apt) are these tests skipped, with the script's reason; an installed
Slurm that the script cannot start is a failure. Runs are submitted the
way users submit them, through ``run_suite.py run --launcher slurm --cluster local-ci``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from benchmark.database import MongoTarget
from benchmark.errors import ConfigError
from benchmark.slurm import (
    SlurmOptions,
    check_database_reachable,
    parse_time_minutes,
    remote_nodes,
    slurm_options,
    this_host_addresses,
)
from benchmark.slurm import scheduler as slurm_module

START = ROOT / "scripts" / "slurm-single-node.sh"
STOP = ROOT / "scripts" / "slurm-single-node-stop.sh"
SLURM = ("--launcher", "slurm", "--cluster", "local-ci")
# A run long enough to be caught mid-training: random actions, 3000 steps in ~20 s.
LONG_RUN = ("--suite", "smoke", "--tasks", "pm_lottery", "steps=3000", "checkpoint_every=300",
            "eval_every=100000", "--methods", "random")
LONG_KEY = "smoke/pm_lottery/random/seed0/smoke"


def _cluster_answers() -> bool:
    try:
        return subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30).stdout.count("UP") > 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A running one-node cluster; stopped at the end only if this session started it."""
    was_running = _cluster_answers()
    log = tmp_path_factory.mktemp("slurm") / "start.log"
    try:
        with open(log, "w") as stream:  # a file, not a pipe: the daemons outlive the script
            code = subprocess.run([str(START)], stdout=stream, stderr=subprocess.STDOUT, timeout=900).returncode
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"Slurm is absent: {START.name} could not run ({error})")
    if code != 0:
        last = (log.read_text().strip().splitlines() or ["no output"])[-1]
        if shutil.which("slurmctld") is None:  # could not be installed here (no root, no apt)
            pytest.skip(f"Slurm is absent: {START.name} could not install it ({last})")
        pytest.fail(f"Slurm is installed but {START.name} could not start it: {last} (log: {log})")
    yield
    if not was_running:
        subprocess.run([str(STOP)], capture_output=True, timeout=120)


def _cli(*args: str, results: Path, database: MongoTarget, timeout: float = 600) -> subprocess.CompletedProcess:
    return run_cli(*args, "--mongo-url", database.url, results=results, db_name=database.db_name, timeout=timeout)


def _runs(database: MongoTarget) -> list[dict]:
    return list(database.database().runs.find({}, sort=[("_id", 1)]))


def _job_of(results: Path, key: str) -> str:
    return json.loads((results / "slurm" / "smoke" / "jobs.json").read_text())["runs"][key]["job_id"]


def _start_long_run(results: Path, database: MongoTarget) -> subprocess.Popen:
    """The long run submitted in the background; returns once it checkpointed step >= 600."""
    env = {**os.environ, "LATCO_MONGO_DB": database.db_name}
    env.pop("LATCO_MONGO_URL", None)
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "run_suite.py"), "--results", str(results), "run", *LONG_RUN, *SLURM,
         "--mongo-url", database.url],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    state = results / "runs" / LONG_KEY / "checkpoint" / "state.json"
    deadline = time.monotonic() + 180
    while True:
        try:
            if json.loads(state.read_text())["step"] >= 600:
                return process
        except (OSError, ValueError):
            pass  # not written yet, or being replaced by the next checkpoint
        assert process.poll() is None, f"the launcher ended early: {process.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "the run never reached its second checkpoint"
        time.sleep(0.2)


def _assert_resumed_whole(database: MongoTarget, interrupted_id) -> None:
    """One record, completed, continued from a checkpoint, every step logged exactly once."""
    [run] = _runs(database)
    assert run["_id"] == interrupted_id and run["status"] == "COMPLETED"
    assert run["info"]["resumed_from_step"] >= 600
    steps = database.database().metrics.find_one({"run_id": run["_id"], "name": "train/success"})["steps"]
    assert steps == list(range(50, 3001, 50))


# ------------------------------------------------------------------ without a cluster


def test_cli_flags_override_the_cluster_profile():
    options = slurm_options("local-ci", time="45", cpus=2, sbatch=["comment=x", "exclusive"])
    assert (options.partition, options.mem, options.cpus, options.time_min) == ("debug", "3G", 2, 45)
    assert options.sbatch == {"comment": "x", "exclusive": True}
    assert slurm_options(None).time_min == 24 * 60
    with pytest.raises(ConfigError, match="unknown cluster profile 'nosuch'.*local-ci"):
        slurm_options("nosuch")
    with pytest.raises(ConfigError, match="set by the launcher"):
        slurm_options(None, sbatch=["output=/tmp/x"])


@pytest.mark.parametrize("text, minutes", [("90", 90), ("1:30", 2), ("4:00:00", 240), ("2-00", 2880),
                                           ("1-02:03", 1563), ("0:0:20", 1)])
def test_time_limits_in_slurm_formats_become_whole_minutes(text, minutes):
    assert parse_time_minutes(text) == minutes


def test_a_malformed_time_limit_is_refused_with_the_accepted_formats():
    with pytest.raises(ConfigError, match="HH:MM:SS"):
        slurm_options(None, time="two hours")


def test_a_loopback_database_is_refused_when_a_node_of_the_partition_is_another_machine(monkeypatch):
    local = this_host_addresses()
    assert remote_nodes([("localhost", "localhost"), ("self", "127.0.0.1")], local) == []
    assert remote_nodes([("localhost", "localhost"), ("gpu7", "192.0.2.7")], local) == ["gpu7"]

    monkeypatch.setattr(slurm_module, "partition_nodes", lambda partition: [("gpu7", "192.0.2.7")])
    loopback = MongoTarget("mongodb://u:secret@127.0.0.1:27017/")
    with pytest.raises(ConfigError) as refused:
        check_database_reachable(loopback, SlurmOptions(partition="gpu"))
    message = str(refused.value)
    assert "\n" not in message and "partition 'gpu' (gpu7)" in message and "--mongo-url" in message
    assert "secret" not in message
    check_database_reachable(loopback, SlurmOptions(partition="gpu", allow_loopback_database=True))
    check_database_reachable(MongoTarget("mongodb://db.cluster:27017/"), SlurmOptions(partition="gpu"))


# ---------------------------------------------------------------------- on the cluster


def test_the_grid_runs_as_a_job_array_with_the_requested_resources_and_completes(slurm, database, tmp_path):
    grid = ("--suite", "smoke", "--tasks", "pm_lottery", "dmc_reacher", "--methods", "random", "latco",
            "--seeds", "0", "1")
    result = _cli("run", *grid, *SLURM, "--time", "20", "--sbatch", "comment=latco-test",
                  results=tmp_path, database=database)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"logs in {tmp_path / 'slurm' / 'smoke'}" in result.stdout
    assert "8 completed, 0 failed" in result.stdout

    runs = _runs(database)
    assert sorted(r["config"]["run_key"] for r in runs) == sorted(
        f"smoke/{task}/{method}/seed{seed}/smoke"
        for task in ("pm_lottery", "dmc_reacher") for method in ("random", "latco") for seed in (0, 1)
    )
    assert {r["status"] for r in runs} == {"COMPLETED"}
    jobs = {r["info"]["slurm"]["job_id"] for r in runs}
    arrays = {job.split("_")[0] for job in jobs}
    assert len(jobs) == 8 and len(arrays) == 1, jobs
    assert all(Path(r["info"]["slurm"]["stderr"]).is_file() for r in runs)

    # The flags and the profile reached Slurm: --time 20 overrides the profile's 00:30:00.
    [array] = arrays
    accounting = subprocess.run(["sacct", "--noheader", "--parsable2", "--allocations", f"--jobs={array}",
                                 "--format=JobID,State,Partition,Timelimit,ReqCPUS,ReqMem"],
                                capture_output=True, text=True, check=True).stdout.split()
    assert len(accounting) == 8
    assert {tuple(line.split("|")[1:]) for line in accounting} == {("COMPLETED", "debug", "00:20:00", "1", "3G")}
    assert "#SBATCH --comment=latco-test" in (tmp_path / "slurm" / "smoke" / f"{array}_submission.sh").read_text()
    # The URL travels in the jobs' environment, never in the files of the results folder.
    for path in (p for p in (tmp_path / "slurm").rglob("*") if p.is_file()):
        assert database.url.encode() not in path.read_bytes(), path

    status = _cli("status", *grid, results=tmp_path, database=database)
    assert status.returncode == 0, status.stderr
    assert status.stdout.count(f"COMPLETED ({array}_") == 8

    again = _cli("run", *grid, *SLURM, results=tmp_path, database=database)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "8 already completed, 0 to run" in again.stdout and "submitted" not in again.stdout
    assert len(_runs(database)) == 8

    # Evaluations run on the cluster too, as records of their own linked to their training run.
    training_jobs = json.loads((tmp_path / "slurm" / "smoke" / "jobs.json").read_text())
    chosen = ("--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random", "latco", "--seeds", "0")
    evaluation = _cli("eval", *chosen, "--episodes", "1", *SLURM, results=tmp_path, database=database)
    assert evaluation.returncode == 0, evaluation.stderr[-3000:]
    assert f"logs in {tmp_path / 'slurm' / 'smoke' / 'eval'}" in evaluation.stdout
    assert "2 evaluated, 0 failed" in evaluation.stdout
    trained = {r["config"]["run_key"]: r for r in _runs(database)}
    evaluations = list(database.database().runs.find({"config.run_key": {"$regex": "/eval$"}}))
    assert sorted(r["config"]["run_key"] for r in evaluations) == [
        f"smoke/pm_lottery/{method}/seed0/smoke/eval" for method in ("latco", "random")]
    for record in evaluations:
        assert record["status"] == "COMPLETED"
        assert record["config"]["evaluation_of"] == trained[record["config"]["run_key"][: -len("/eval")]]["_id"]
        assert record["info"]["slurm"]["job_id"].split("_")[0] not in arrays
    assert json.loads((tmp_path / "slurm" / "smoke" / "jobs.json").read_text()) == training_jobs
    status = _cli("status", *chosen, results=tmp_path, database=database)
    assert status.returncode == 0, status.stderr
    for method in ("random", "latco"):
        assert re.search(rf"smoke/pm_lottery/{method}/seed0/smoke/eval: Slurm job \d+_\d+ COMPLETED", status.stdout)
    assert status.stdout.count(f"COMPLETED ({array}_") == 2  # the training jobs, still in the table


def test_a_failing_run_is_reported_failed_with_its_traceback_and_log_tail(slurm, database, tmp_path):
    selection = ("--suite", "smoke", "--tasks", "pm_lottery", "fail_at_step=60", "--methods", "random")
    result = _cli("run", *selection, *SLURM, results=tmp_path, database=database)
    assert result.returncode == 1
    assert "FAILED: smoke/pm_lottery/random/seed0/smoke: DeliberateFailure: fail_at_step=60 reached" in result.stderr
    assert f"log {tmp_path / 'slurm' / 'smoke'}" in result.stderr

    [run] = _runs(database)
    assert run["status"] == "FAILED"
    assert any("DeliberateFailure" in line for line in run["fail_trace"])
    assert run["info"]["slurm"]["state"] == "FAILED"
    assert "agents.loop.DeliberateFailure: fail_at_step=60 reached" in run["info"]["slurm_log_tail"]

    status = _cli("status", *selection, results=tmp_path, database=database)
    assert status.returncode == 0, status.stderr
    assert f"FAILED ({run['info']['slurm']['job_id']})" in status.stdout
    tail = status.stdout.split("its last lines:", 1)[1]
    assert "agents.loop.DeliberateFailure: fail_at_step=60 reached" in tail


def test_a_cancelled_run_shows_cancelled_and_resumes_from_its_checkpoint_when_run_again(slurm, database, tmp_path):
    launcher = _start_long_run(tmp_path, database)
    cancel = _cli("cancel", "--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random",
                  results=tmp_path, database=database)
    assert cancel.returncode == 0, cancel.stderr
    assert f"cancelled {LONG_KEY} (job {_job_of(tmp_path, LONG_KEY)}, was running)" in cancel.stdout
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 1
    assert f"CANCELLED: {LONG_KEY}: its Slurm job was cancelled" in stderr

    [cancelled] = _runs(database)
    assert cancelled["status"] == "INTERRUPTED"
    assert cancelled["info"]["slurm"]["state"] == "CANCELLED"
    status = _cli("status", *LONG_RUN, results=tmp_path, database=database)
    assert "INTERRUPTED" in status.stdout and f"CANCELLED ({_job_of(tmp_path, LONG_KEY)})" in status.stdout
    nothing = _cli("cancel", "--suite", "smoke", "--tasks", "pm_lottery", results=tmp_path, database=database)
    assert "no queued or running Slurm job" in nothing.stdout

    again = _cli("run", *LONG_RUN, *SLURM, results=tmp_path, database=database)
    assert again.returncode == 0, again.stderr[-2000:]
    _assert_resumed_whole(database, cancelled["_id"])


def test_a_preempted_job_requeues_itself_and_its_run_continues_from_the_checkpoint(slurm, database, tmp_path):
    launcher = _start_long_run(tmp_path, database)
    job = _job_of(tmp_path, LONG_KEY)
    # SIGUSR2 is what Slurm sends before a time limit or a preemption (submitit's --signal).
    subprocess.run(["scancel", "--signal=USR2", job], check=True, capture_output=True)
    # Slurm holds a requeued job for about two minutes; let it start again at once.
    deadline = time.monotonic() + 60
    while subprocess.run(["squeue", "--noheader", "--format=%T", f"--jobs={job}"],
                         capture_output=True, text=True).stdout.strip() != "PENDING":
        assert time.monotonic() < deadline, "the job was not requeued"
        time.sleep(0.2)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=True, capture_output=True)

    stdout, stderr = launcher.communicate(timeout=180)
    assert launcher.returncode == 0, stderr[-2000:]
    assert "1 completed, 0 failed" in stdout
    history = subprocess.run(["sacct", "--noheader", "--parsable2", "--allocations", "--duplicates",
                              f"--jobs={job}", "--format=State"], capture_output=True, text=True).stdout.split()
    assert history == ["REQUEUED", "COMPLETED"]
    run = _runs(database)[0]
    _assert_resumed_whole(database, run["_id"])


def test_a_partition_without_nodes_is_refused_before_anything_is_submitted(slurm, database, tmp_path):
    result = _cli("run", "--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random", *SLURM,
                  "--partition", "nosuch", results=tmp_path, database=database)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: partition 'nosuch' has no nodes (sinfo lists none); pass an existing --partition"
    assert not (tmp_path / "slurm").exists() and _runs(database) == []


def test_a_second_eval_leaves_the_queued_evaluations_alone_and_cancel_still_finds_them(slurm, database, tmp_path):
    selection = ("--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random")
    trained = _cli("run", *selection, results=tmp_path, database=database)  # locally: quicker
    assert trained.returncode == 0, trained.stderr[-2000:]
    env = {**os.environ, "LATCO_MONGO_DB": database.db_name}
    env.pop("LATCO_MONGO_URL", None)
    # Held by Slurm, the first evaluation stays queued for as long as the test needs.
    first = subprocess.Popen(
        [sys.executable, str(ROOT / "run_suite.py"), "--results", str(tmp_path), "eval", *selection, "--episodes", "1",
         *SLURM, "--sbatch", "hold", "--mongo-url", database.url],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    book = tmp_path / "slurm" / "smoke" / "eval" / "jobs.json"
    deadline = time.monotonic() + 120
    while not book.exists():
        assert first.poll() is None, f"the first eval ended early: {first.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, "the first eval never submitted its job"
        time.sleep(0.2)
    entries = json.loads(book.read_text())["runs"]
    job = entries["smoke/pm_lottery/random/seed0/smoke"]["job_id"]

    second = _cli("eval", *selection, "--episodes", "1", *SLURM, results=tmp_path, database=database)
    assert second.returncode == 0, second.stderr[-2000:]
    assert f"0 to evaluate, 1 already queued or running on Slurm (jobs {job})" in second.stdout
    assert "submitted" not in second.stdout
    assert json.loads(book.read_text())["runs"] == entries  # the job id is still the book's

    cancel = _cli("cancel", *selection, results=tmp_path, database=database)
    assert f"cancelled smoke/pm_lottery/random/seed0/smoke/eval (job {job}, was pending)" in cancel.stdout
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == 1 and "its Slurm job was cancelled" in stderr
    assert database.database().runs.count_documents({"config.run_key": {"$regex": "/eval$"}}) == 0
