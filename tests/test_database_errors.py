"""Wrong credentials in a MongoDB URL, against a real SecantusDB server started with ``--auth``.

Every command that reads the database says in one line that authentication failed, without a
traceback and without printing the password.
"""

from __future__ import annotations

import pytest
from conftest import auth_server, run_cli

SECRET = "Wr0ngPassw0rd"


@pytest.fixture(scope="module")
def auth_url(tmp_path_factory):
    """The URL of a server that requires authentication, with a password it refuses."""
    with auth_server(tmp_path_factory.mktemp("authdb"), "suite", "right") as port:
        yield f"mongodb://suite:{SECRET}@127.0.0.1:{port}/?authSource=admin"


@pytest.mark.parametrize("command", [
    ("run", "--suite", "smoke", "--tasks", "pm_lottery", "--methods", "random"),
    ("status", "--suite", "smoke"),
    ("eval", "--suite", "smoke", "--tasks", "pm_lottery"),
    ("report", "--suite", "smoke"),
    ("run", "--suite", "smoke", "--tasks", "pm_lottery", "--dry-run"),
])
def test_wrong_credentials_are_reported_in_one_line_by_every_command(auth_url, command, tmp_path):
    result = run_cli(*command, "--mongo-url", auth_url, results=tmp_path)
    output = result.stdout + result.stderr
    assert "refused the credentials (authentication failed)" in output
    assert "mongodb://***:***@127.0.0.1:" in output
    assert SECRET not in output and "Traceback" not in output
    if "--dry-run" in command:  # the estimates still come, from the shipped runs' step rates
        assert result.returncode == 0 and "from the step rates of runs shipped in docs/runs/" in result.stdout
    else:
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "runs").exists()
