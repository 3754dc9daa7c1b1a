#!/usr/bin/env python
"""LatCo Bench: the one command-line entry point of the suite.

    python run_suite.py list [--json]
    python run_suite.py run --suite smoke [--tasks ..] [--methods ..] [--seeds ..] [key=value ..]
    python run_suite.py run --suite paper --launcher slurm --cluster PROFILE [--partition P --time T ..]
    python run_suite.py status --suite smoke
    python run_suite.py cancel --suite paper [--tasks ..] [--methods ..] [--seeds ..]
    python run_suite.py report --suite smoke [--out DIR]
    python run_suite.py export --suite smoke [--tasks ..] [--methods ..] [--seeds ..] [--out FILE] [--artifacts]
    python run_suite.py import FILE [FILE ..]
    python run_suite.py eval --suite smoke [--episodes 10] [--launcher slurm --cluster PROFILE ..]
    python run_suite.py db start|stop|status
    python run_suite.py omniboard [--port 9000]
    python run_suite.py offline --task mw_hammer [--episodes 20]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchmark.errors import SuiteError

PROJECT_ROOT = Path(__file__).resolve().parent


def default_results_dir() -> Path:
    return Path(os.environ.get("LATCO_RESULTS_DIR", PROJECT_ROOT / "results"))


def _add_launcher(parser: argparse.ArgumentParser) -> None:
    """Where the runs execute (``run`` and ``eval`` alike): a local pool or Slurm."""
    parser.add_argument("--launcher", choices=("local", "slurm"), default="local")
    parser.add_argument("--max-parallel", type=int, default=None,
                        help="concurrent runs (local default 1; slurm: array task limit, default none)")
    slurm = parser.add_argument_group("slurm launcher (each overrides the cluster profile; docs/cluster.md)")
    slurm.add_argument("--cluster", metavar="PROFILE",
                       help="cluster profile: a name in benchmark/clusters (e.g. local-ci) or a YAML path")
    slurm.add_argument("--partition", help="Slurm partition (default: the profile's, else the cluster's)")
    slurm.add_argument("--time", help="time limit per run: minutes, HH:MM:SS or D-HH:MM:SS (default 24:00:00)")
    slurm.add_argument("--cpus", type=int, help="CPUs per run (default 1)")
    slurm.add_argument("--mem", help="memory per run, e.g. 4G (default: the partition's)")
    slurm.add_argument("--gpus", type=int, help="GPUs per run (default 0)")
    slurm.add_argument("--account", help="Slurm account to charge")
    slurm.add_argument("--sbatch", action="append", default=[], metavar="KEY[=VALUE]",
                       help="extra sbatch option, repeatable: --sbatch qos=high --sbatch exclusive")


def _add_selection(parser: argparse.ArgumentParser, suite_required: bool, overrides: bool = True) -> None:
    parser.add_argument("--suite", required=suite_required, default=None if suite_required else "smoke")
    parser.add_argument("--tasks", nargs="+", help="only these tasks of the suite")
    parser.add_argument("--methods", nargs="+", help="only these methods or ablations of the suite")
    parser.add_argument("--seeds", nargs="+", help="seeds (default: the suite's)")
    parser.add_argument("--profile", help="profile name (default: the suite's)")
    if overrides:
        parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    else:
        parser.set_defaults(overrides=[])


def _add_common(parser: argparse.ArgumentParser, default) -> None:
    """Options accepted before or after the subcommand (``default`` SUPPRESS after it)."""
    parser.add_argument("--results", type=Path, default=default, help="results folder (default: results/)")
    parser.add_argument(
        "--mongo-url", default=default,
        help="MongoDB URL (default: LATCO_MONGO_URL, else the embedded server under results/db)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="run_suite.py", description=__doc__.split("\n")[0])
    _add_common(parser, None)
    common = argparse.ArgumentParser(add_help=False)
    _add_common(common, argparse.SUPPRESS)
    subparsers = parser.add_subparsers(dest="command", required=True)

    class _Commands:
        """Every subcommand also accepts the common options after its name."""

        @staticmethod
        def add_parser(name: str, **kwargs) -> argparse.ArgumentParser:
            return subparsers.add_parser(name, parents=[common], **kwargs)

    commands = _Commands()

    listing = commands.add_parser("list", help="registry names")
    listing.add_argument("--json", action="store_true", help="one JSON object of name lists")

    run = commands.add_parser("run", help="run a suite's grid (skips runs already completed)")
    _add_selection(run, suite_required=True)
    _add_launcher(run)
    run.add_argument("--dry-run", action="store_true", help="print the expanded grid and exit")
    run.add_argument("--force", action="store_true", help="re-run runs that already completed")

    status = commands.add_parser("status", help="the grid's statuses from the database (and Slurm)")
    _add_selection(status, suite_required=False)

    cancel = commands.add_parser("cancel", help="cancel the suite's queued or running Slurm jobs")
    _add_selection(cancel, suite_required=True)

    report = commands.add_parser("report", help="tables and figures from the database")
    report.add_argument("--suite", default=None, help="only runs of this suite")
    report.add_argument("--out", type=Path, default=None, help="output folder (default: results/report/<suite>)")
    report.add_argument("--tasks", nargs="+", help="only these tasks")
    report.add_argument("--methods", nargs="+", help="only these methods or ablations")
    report.add_argument("--status", nargs="+", type=str.upper, metavar="STATUS",
                        help="only runs with these statuses: COMPLETED RUNNING INTERRUPTED FAILED ... (default: all)",
                        choices=("COMPLETED", "RUNNING", "INTERRUPTED", "FAILED", "QUEUED", "TIMEOUT"))
    report.add_argument("--bin-steps", type=float, default=30_000,
                        help="curve bin width in env steps (default 3e4, shrunk for short runs)")
    report.add_argument("--interval", choices=("std", "bootstrap"), default="std",
                        help="curve band: std (±1 std across seeds, the original's) or bootstrap (95%% CI)")
    report.add_argument("--references", type=Path, default=None,
                        help="published numbers YAML (default: benchmark/reference_numbers.yaml if present)")
    report.add_argument("--bootstrap-reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    report.add_argument("--last-episodes", type=int, default=10,
                        help="episodes averaged for a run's final score (default 10, as the original)")

    evaluate = commands.add_parser("eval", help="evaluate completed runs from their final checkpoints")
    _add_selection(evaluate, suite_required=True)
    evaluate.add_argument("--episodes", type=int, default=10, help="evaluation episodes per run")
    _add_launcher(evaluate)

    export = commands.add_parser("export", help="the selected runs' records and metrics as one file (docs/runs.md)")
    _add_selection(export, suite_required=True, overrides=False)
    export.add_argument("--out", type=Path, default=None,
                        help="the file to write (default: results/exports/<suite>.jsonl.gz)")
    export.add_argument("--no-output", action="store_true", help="leave out each run's captured output")
    export.add_argument("--artifacts", action="store_true", help="add the runs' artifacts and source files")
    export.add_argument("--completed-only", action="store_true",
                        help="only runs that completed (ship what finished while others still run)")

    importing = commands.add_parser("import", help="add the runs of export files to the database (docs/runs.md)")
    importing.add_argument("files", nargs="+", type=Path, metavar="FILE", help="files written by export")

    db = commands.add_parser("db", help="the embedded MongoDB server")
    db.add_argument("action", choices=("start", "stop", "status"))

    omniboard = commands.add_parser("omniboard", help="serve Omniboard on 127.0.0.1")
    omniboard.add_argument("--port", type=int, default=9000)

    offline = commands.add_parser("offline", help="generate offline episodes with MetaWorld's scripted experts")
    offline.add_argument("--task", required=True)
    offline.add_argument("--episodes", type=int, default=20)
    offline.add_argument("--noise", type=float, default=0.1, help="std of Gaussian action noise")
    offline.add_argument("--out", type=Path, default=None, help="default: the task's offline_dir")
    offline.add_argument("--profile", default="paper")
    offline.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.results = (args.results or default_results_dir()).resolve()
    from benchmark import commands
    from benchmark.processes import Terminated, interrupt_on_sigterm

    interrupt_on_sigterm()  # SIGTERM stops a command, and what it started, as Ctrl-C does

    handler = getattr(commands, f"command_{args.command}")
    try:
        return handler(args)
    except SuiteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        print("interrupted: re-run the same command to resume (completed runs are skipped)", file=sys.stderr)
        return 143 if isinstance(stop, Terminated) else 130
    except Exception as error:  # a database error past the first check (server gone, roles changed)
        from benchmark.database import database_error_message, mask_url

        message = database_error_message(error, mask_url(args.mongo_url or os.environ.get("LATCO_MONGO_URL", "")
                                                         or "the embedded server"))
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
