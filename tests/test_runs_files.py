"""Runs as portable data: ``export`` and ``import`` of real Sacred runs between real databases
(docs/runs.md). Two databases hold real smoke runs, seeds 0 and 1 in one and seed 2 in the
other, as two machines would; each test imports their exports into a fresh database."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, auth_server, run_cli

from benchmark.database import MongoTarget, mask_url
from reports.mongo_runs import load_runs

SELECTION = ("--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random")
KEYS = [f"smoke/pm_lottery/random/seed{seed}/smoke" for seed in range(3)]
TABLE_SUFFIXES = (".md", ".tex", ".csv")


@pytest.fixture(scope="module")
def machines(server, results_dir, tmp_path_factory) -> dict:
    """Database ``first`` with seeds 0 and 1, ``second`` with seed 2, and an export of each."""
    first, second = (MongoTarget(server.url, f"test_{uuid.uuid4().hex[:10]}") for _ in range(2))
    folder = tmp_path_factory.mktemp("exports")
    files = {}
    for name, target, seeds in (("first", first, ("0", "1")), ("second", second, ("2",))):
        ran = run_cli("run", *SELECTION, "--seeds", *seeds, "--max-parallel", "2", results=results_dir,
                      db_name=target.db_name)
        assert ran.returncode == 0, ran.stderr[-2000:]
        files[name] = folder / f"{name}.jsonl.gz"
        exported = run_cli("export", *SELECTION, "--seeds", *seeds, "--out", str(files[name]), results=results_dir,
                           db_name=target.db_name)
        assert exported.returncode == 0, exported.stderr[-2000:]
    return {"first": first, "second": second, "files": files, "results": results_dir}


def _import(machines: dict, database: MongoTarget, *files: Path, **kwargs) -> subprocess.CompletedProcess:
    return run_cli("import", *map(str, files), results=machines["results"], db_name=database.db_name, **kwargs)


def _counts(target: MongoTarget) -> dict[str, int]:
    db = target.database()
    return {name: db[name].count_documents({}) for name in ("runs", "metrics", "fs.files")}


def _report_tables(machines: dict, target: MongoTarget, out: Path) -> dict[str, bytes]:
    """Every table file of ``report --suite smoke`` (the index, with its date and database, aside)."""
    report = run_cli("report", "--suite", "smoke", "--out", str(out), "--bootstrap-reps", "50",
                     results=machines["results"], db_name=target.db_name)
    assert report.returncode == 0, report.stderr[-2000:]
    return {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix in TABLE_SUFFIXES and p.stem != "index"}


def _rewritten(source: Path, out: Path, change) -> Path:
    """A copy of a runs file with its decoded lines (header first) passed through ``change``."""
    lines = [json.loads(line) for line in gzip.decompress(source.read_bytes()).splitlines()]
    out.write_bytes(gzip.compress(b"".join(json.dumps(line).encode() + b"\n" for line in change(lines))))
    return out


def test_round_trip_reproduces_every_report_table_byte_for_byte(machines, database, tmp_path):
    imported = _import(machines, database, machines["files"]["first"])
    assert imported.returncode == 0, imported.stderr[-2000:]
    original = _report_tables(machines, machines["first"], tmp_path / "original")
    again = _report_tables(machines, database, tmp_path / "imported")
    assert {"final_return.md", "final_return.tex", "lottery_choices.md", "runs.csv"} <= set(original)
    assert again == original


def test_importing_a_file_twice_changes_nothing(machines, database):
    first = _import(machines, database, machines["files"]["first"])
    assert first.returncode == 0 and "2 imported" in first.stdout, first.stdout + first.stderr
    after_first = _counts(database)
    second = _import(machines, database, machines["files"]["first"])
    assert second.returncode == 0, second.stderr
    assert "0 imported" in second.stdout and "2 already present" in second.stdout
    assert _counts(database) == after_first
    assert after_first["runs"] == 2 and after_first["metrics"] == _counts(machines["first"])["metrics"]


def test_a_file_imported_back_into_its_own_database_changes_nothing(machines):
    before = _counts(machines["first"])
    back = _import(machines, machines["first"], machines["files"]["first"])
    assert back.returncode == 0 and "2 already present" in back.stdout, back.stdout + back.stderr
    assert _counts(machines["first"]) == before


def test_exporting_the_same_database_twice_gives_identical_bytes(machines, tmp_path):
    again = tmp_path / "again.jsonl.gz"
    exported = run_cli("export", *SELECTION, "--seeds", "0", "1", "--out", str(again), results=machines["results"],
                       db_name=machines["first"].db_name)
    assert exported.returncode == 0, exported.stderr
    assert again.read_bytes() == machines["files"]["first"].read_bytes()


def _cut_in_half(source: Path, out: Path) -> Path:
    data = source.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


BAD_FILES = {
    "cut in half": (_cut_in_half, "truncated or damaged"),
    "newer format version": (lambda source, out: _rewritten(source, out, lambda lines: [
        {**lines[0], "version": 99}, *lines[1:]]), "format version 99 is newer than this code reads (up to 1)"),
    "not an export": (lambda source, out: _rewritten(source, out, lambda lines: [{"hello": 1}]),
                      "not a LatCo Bench runs file"),
    "an entry without origin": (lambda source, out: _rewritten(source, out, lambda lines: [
        lines[0], lines[1], {key: value for key, value in lines[2].items() if key != "origin"}]),
        "on line 3 is invalid: no origin"),
    "a run missing": (lambda source, out: _rewritten(source, out, lambda lines: lines[:2]),
                      "holds 1 of the 2 runs its header announces (truncated)"),
}


@pytest.mark.parametrize("damage", list(BAD_FILES))
def test_a_bad_file_is_refused_in_one_line_and_imports_nothing(machines, database, tmp_path, damage):
    make, message = BAD_FILES[damage]
    bad = make(machines["files"]["first"], tmp_path / "bad.jsonl.gz")
    # The good file first on the command line: nothing is written unless every file is whole.
    refused = _import(machines, database, machines["files"]["second"], bad)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.count("\n") == 1 and message in refused.stderr, refused.stderr
    assert str(bad) in refused.stderr and "Traceback" not in refused.stderr
    assert _counts(database) == {"runs": 0, "metrics": 0, "fs.files": 0}


def test_two_partial_exports_merge_into_one_report_with_all_seeds(machines, database, tmp_path):
    merged = _import(machines, database, machines["files"]["first"], machines["files"]["second"])
    assert merged.returncode == 0, merged.stderr[-2000:]
    status = run_cli("status", *SELECTION, "--seeds", "0", "1", "2", results=machines["results"],
                     db_name=database.db_name)
    assert [line.split("│")[2].strip() for line in status.stdout.splitlines() if "smoke/pm_lottery" in line] \
        == ["COMPLETED"] * 3
    tables = _report_tables(machines, database, tmp_path / "merged")
    assert "| Random | " in tables["lottery_choices.md"].decode()
    assert tables["lottery_choices.md"].decode().rstrip().splitlines()[4].endswith("| 3 |")  # seeds column
    assert "Seeds per cell: 3." in tables["final_return.md"].decode()


def test_an_empty_selection_exits_1_and_writes_no_file(machines, tmp_path):
    out = tmp_path / "none.jsonl.gz"
    empty = run_cli("export", *SELECTION, "--seeds", "7", "--out", str(out), results=machines["results"],
                    db_name=machines["first"].db_name)
    assert empty.returncode == 1
    assert empty.stderr.count("\n") == 1 and "nothing exported, no file written" in empty.stderr
    assert list(tmp_path.iterdir()) == []


def test_completed_only_ships_what_finished_while_a_run_is_still_going(machines, database, tmp_path):
    imported = _import(machines, database, machines["files"]["first"])
    assert imported.returncode == 0, imported.stderr
    database.database().runs.update_one({"config.run_key": KEYS[1]}, {"$set": {"status": "RUNNING"}})
    out = tmp_path / "finished.jsonl.gz"
    exported = run_cli("export", *SELECTION, "--seeds", "0", "1", "--completed-only", "--out", str(out),
                       results=machines["results"], db_name=database.db_name)
    assert exported.returncode == 0 and "exported 1 runs" in exported.stdout, exported.stdout + exported.stderr
    header, *entries = [json.loads(line) for line in gzip.decompress(out.read_bytes()).splitlines()]
    assert header["statuses"] == {"COMPLETED": 1} and header["selection"]["completed_only"] is True
    assert [entry["record"]["config"]["run_key"] for entry in entries] == [KEYS[0]]


def test_credentials_never_reach_the_file(machines, tmp_path):
    """Imported into a server that needs a password, then exported from it: the URL's password is
    in no output and not in the file, even when a run's captured output printed the whole URL."""
    secret = "S3cretPassw0rd"
    with auth_server(tmp_path / "authdb", "suite", secret) as port:
        url = f"mongodb://suite:{secret}@127.0.0.1:{port}/?authSource=admin"
        target = MongoTarget(url, "authdb")
        imported = run_cli("import", str(machines["files"]["first"]), "--mongo-url", url,
                           results=tmp_path / "results", db_name="authdb")
        assert imported.returncode == 0, imported.stderr[-2000:]
        target.database().runs.update_one({}, {"$set": {"captured_out": f"connecting to {url}\n"}})
        out = tmp_path / "auth.jsonl.gz"
        exported = run_cli("export", *SELECTION, "--seeds", "0", "1", "--out", str(out), "--mongo-url", url,
                           results=tmp_path / "results", db_name="authdb")
        assert exported.returncode == 0, exported.stderr[-2000:]
        target.client().close()
    text = gzip.decompress(out.read_bytes()).decode()
    assert secret not in text and secret not in imported.stdout + imported.stderr + exported.stdout + exported.stderr
    assert f"connecting to {mask_url(url)}" in text


def test_a_completed_imported_run_is_not_run_again(machines, database):
    assert _import(machines, database, machines["files"]["first"]).returncode == 0
    again = run_cli("run", *SELECTION, "--seeds", "0", "1", results=machines["results"], db_name=database.db_name)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "2 runs in the grid, 2 already completed, 0 to run" in again.stdout
    assert _counts(database)["runs"] == 2


def _table_row(table: str, key: str) -> str:
    """The row of ``key`` in a rich table, its wrapped cells' continuation lines joined to it."""
    lines = table.splitlines()
    [start] = [i for i, line in enumerate(lines) if key in line]
    row = [lines[start]]
    for line in lines[start + 1:]:
        cells = line.split("│")
        if len(cells) < 3 or cells[1].strip():  # a border, or the next row
            break
        row.append(line)
    return " ".join(row)


def test_status_marks_an_imported_run_stale_when_the_suite_config_changed(machines, database):
    assert _import(machines, database, machines["files"]["first"]).returncode == 0
    current = run_cli("status", *SELECTION, "--seeds", "0", results=machines["results"], db_name=database.db_name)
    assert "suite (imported)" in current.stdout
    # An override stands for a code change: the suite's config (and hash) is not the one the run had.
    changed = run_cli("status", *SELECTION, "--seeds", "0", "steps=350", results=machines["results"],
                      db_name=database.db_name)
    row = _table_row(changed.stdout, KEYS[0])
    commit = database.database().runs.find_one({"config.run_key": KEYS[0]})["meta"]["git_commit"]
    assert f"stale (imported, ran at {commit})" in row and "steps=300" in row
    assert "stale (imported): a record imported from a runs file" in changed.stdout


def test_an_older_imported_record_does_not_hide_a_newer_local_one_from_the_report(machines, database):
    """The imported record gets the newest id; the report still reads the record that ran last."""
    local = run_cli("run", *SELECTION, "--seeds", "0", "steps=350", results=machines["results"],
                    db_name=database.db_name)
    assert local.returncode == 0, local.stderr[-2000:]
    assert _import(machines, database, machines["files"]["first"]).returncode == 0
    runs = load_runs(database, "smoke")
    current = runs[~runs["superseded"]].set_index("run_key")
    assert current.loc[KEYS[0], "budget_steps"] == 350
    assert current.loc[KEYS[0], "run_id"] < runs["run_id"].max()


def test_an_import_killed_inside_a_run_leaves_it_invisible_and_the_next_import_completes_it(machines, database):
    # A real process, killed with SIGKILL after writing a run's series and files, before its document.
    crash = (f"import os, signal, sys; sys.path.insert(0, {str(ROOT)!r})\n"
             "from benchmark.database import MongoTarget\n"
             "from benchmark.runs_file import open_runs_file\n"
             "from benchmark.runs_import import _Store\n"
             f"store = _Store(MongoTarget({database.url!r}, {database.db_name!r}))\n"
             f"_, entries = open_runs_file({str(machines['files']['first'])!r})\n"
             "run_id, token = store.reserve()\n"
             "store._document(next(entries), run_id, {})\n"
             "os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert _counts(database)["metrics"] > 0  # the run's series were written
    assert load_runs(database, "smoke").empty  # ... but no run is visible
    status = run_cli("status", *SELECTION, results=machines["results"], db_name=database.db_name)
    assert "COMPLETED" not in status.stdout

    completed = _import(machines, database, machines["files"]["first"])
    assert completed.returncode == 0 and "2 imported" in completed.stdout, completed.stdout + completed.stderr
    assert _counts(database) == {**_counts(machines["first"]), "fs.files": 0}  # no file: exported without artifacts
    assert database.database().runs.count_documents({"import_reservation": {"$exists": True}}) == 0


SHIPPED = sorted((ROOT / "docs" / "runs").glob("*.jsonl.gz"))


def test_the_main_jobs_runs_are_shipped():
    assert {path.name for path in SHIPPED} >= {"smoke.jsonl.gz", "learn_demo.jsonl.gz"}


@pytest.mark.parametrize("shipped", SHIPPED, ids=[path.name for path in SHIPPED])
def test_a_shipped_runs_file_imports_into_a_fresh_database_and_reports(shipped, results_dir, database, tmp_path):
    header = json.loads(gzip.open(shipped).readline())
    imported = run_cli("import", str(shipped), results=results_dir, db_name=database.db_name)
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert f"{header['counts']['runs']} imported" in imported.stdout, imported.stdout
    assert _counts(database)["runs"] == header["counts"]["runs"]
    out = tmp_path / "report"
    report = run_cli("report", "--suite", header["suite"], "--out", str(out), "--bootstrap-reps", "50",
                     results=results_dir, db_name=database.db_name)
    assert report.returncode == 0, report.stderr[-2000:]
    runs = (out / "runs.csv").read_text().strip().splitlines()
    assert len(runs) - 1 == header["counts"]["runs"]  # one row per shipped run, under the column names
    assert (out / "index.md").exists() and any(out.glob("*.png"))


def test_the_shipped_claims_runs_redraw_the_claims_table_readme_shows(results_dir, database, tmp_path):
    """README's claims table is what the shipped runs give on a fresh database, nothing else."""
    imported = run_cli("import", str(ROOT / "docs" / "runs" / "claims.jsonl.gz"), results=results_dir,
                       db_name=database.db_name)
    assert imported.returncode == 0, imported.stderr[-2000:]
    out = tmp_path / "claims"
    report = run_cli("report", "--suite", "claims", "--out", str(out), results=results_dir, db_name=database.db_name)
    assert report.returncode == 0, report.stderr[-2000:]
    shipped = ROOT / "docs" / "results" / "claims"
    assert (out / "claims.csv").read_text() == (shipped / "claims.csv").read_text()
    table = [line for line in (out / "claims.md").read_text().splitlines() if re.match(r"\| Claim \d", line)]
    readme = (ROOT / "README.md").read_text().splitlines()
    assert len(table) == 7 and all(row in readme for row in table)
