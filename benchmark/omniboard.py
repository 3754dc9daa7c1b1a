"""Serving Omniboard (the pinned npm package in web/omniboard) on the suite's database.

Omniboard binds every interface by default; a preload script makes it bind 127.0.0.1. It
exits if the database is down when it starts, so the database is pinged first. The URL is
handed over in the environment (MONGO_URI), never on the command line, where ``ps`` shows it.
Stopping this command by Ctrl-C or SIGTERM stops ``node`` too (``benchmark/processes.py``).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from benchmark.database import MongoTarget
from benchmark.errors import SuiteError
from benchmark.processes import die_with_parent

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "omniboard"
OMNIBOARD_BIN = WEB_DIR / "node_modules" / "omniboard" / "dist" / "start.js"
PRELOAD = WEB_DIR / "bind-localhost.js"


def omniboard_uri(target: MongoTarget) -> str:
    """The target's URL with the database name as its path, as Omniboard expects."""
    parts = urlsplit(target.url)
    return urlunsplit(parts._replace(path=f"/{target.db_name}"))


def omniboard_command(target: MongoTarget, port: int) -> tuple[list[str], dict[str, str]]:
    if not OMNIBOARD_BIN.exists():
        raise SuiteError(
            f"Omniboard is not installed ({OMNIBOARD_BIN} missing); run scripts/setup.sh"
        )
    env = {
        **os.environ,
        "MONGO_URI": omniboard_uri(target),
        "NODE_OPTIONS": f"--require {PRELOAD}",
        "OMNIBOARD_HOST": "127.0.0.1",
        "PORT": str(port),
    }
    return ["node", str(OMNIBOARD_BIN)], env


def serve_omniboard(target: MongoTarget, port: int) -> int:
    """Run Omniboard in the foreground until Ctrl-C or SIGTERM (which run_suite.py turns into
    KeyboardInterrupt); return its exit code. ``node`` also gets SIGTERM if this process dies."""
    target.ping()
    command, env = omniboard_command(target, port)
    print(f"Omniboard on http://127.0.0.1:{port}/sacred for {target.masked} (db {target.db_name}); Ctrl-C stops it",
          flush=True)
    process = subprocess.Popen(command, env=env, cwd=WEB_DIR, preexec_fn=die_with_parent)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return 0
