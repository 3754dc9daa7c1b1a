"""The subcommands of run_suite.py: argument handling and printing, nothing else.

Each ``command_<name>(args) -> exit code`` turns parsed arguments into calls of the
registry, the launchers, the database and the report generator.
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace

from rich.console import Console
from rich.table import Table

from benchmark.config import parse_cli_overrides
from benchmark.database import EmbeddedServer, resolve_target
from benchmark.errors import ConfigError
from benchmark.registry import KINDS, Registry, RunSpec

# Wide when piped (logs, CI): run keys must never be wrapped or cut.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _split_overrides(args: Namespace) -> list[str]:
    """``--tasks a b key=value`` lets the list swallow the override; hand it back."""
    overrides = list(args.overrides)
    for attribute in ("tasks", "methods"):
        values = getattr(args, attribute) or []
        overrides += [v for v in values if "=" in v]
        setattr(args, attribute, [v for v in values if "=" not in v] or None)
    return overrides


def _expand(args: Namespace) -> tuple[Registry, list[RunSpec]]:
    registry = Registry.load()
    overrides = parse_cli_overrides(_split_overrides(args))
    specs = registry.expand(args.suite, args.tasks, args.methods, args.seeds, args.profile, overrides)
    return registry, specs


def command_list(args: Namespace) -> int:
    registry = Registry.load()
    if args.json:
        print(json.dumps({kind: registry.names(kind) for kind in KINDS}))
        return 0
    for kind in KINDS:
        table = Table(title=kind, show_header=False, title_justify="left")
        for name in registry.names(kind):
            description = " ".join(str(registry.entries[kind][name].get("description", "")).split())
            table.add_row(name, description)
        console.print(table)
    return 0


def command_run(args: Namespace) -> int:
    from tqdm import tqdm

    from agents.registry import check_implemented
    from benchmark.launch import completed_keys, run_local

    _, specs = _expand(args)
    if args.dry_run:
        table = Table(title=f"suite {args.suite}: {len(specs)} runs")
        for column in ("run key", "agent", "steps", "config hash"):
            table.add_column(column)
        for spec in specs:
            table.add_row(spec.key, spec.config["agent"], str(spec.config["steps"]), spec.config_hash)
        console.print(table)
        return 0
    for spec in specs:
        check_implemented(spec.config["agent"], spec.method)
    if args.launcher == "slurm":
        raise ConfigError("--launcher slurm is not available in this checkout yet; use --launcher local")
    target = resolve_target(args.mongo_url, args.results)
    target.ping()
    done = set() if args.force else completed_keys(specs, target)
    todo = [s for s in specs if (s.key, s.config_hash) not in done]
    print(f"database: {target.masked} (db {target.db_name}); {len(specs)} runs in the grid, "
          f"{len(specs) - len(todo)} already completed, {len(todo)} to run")
    with tqdm(total=len(todo), desc=f"suite {args.suite}", unit="run", file=sys.stdout) as bar:
        report = run_local(todo, target, args.results, args.max_parallel, bar)
    completed = sum(o.status == "COMPLETED" for o in report.outcomes)
    print(f"{completed} completed, {len(report.failed)} failed, {len(specs) - len(todo)} skipped")
    for outcome in report.failed:
        print(f"  {outcome.status}: {outcome.key}: {outcome.error}", file=sys.stderr)
    return 1 if report.failed else 0


def command_eval(args: Namespace) -> int:
    from functools import partial

    from tqdm import tqdm

    from benchmark.evaluation import execute_evaluation
    from benchmark.launch import run_local

    _, specs = _expand(args)
    target = resolve_target(args.mongo_url, args.results)
    target.ping()
    job = partial(execute_evaluation, episodes=args.episodes)
    with tqdm(total=len(specs), desc=f"eval {args.suite}", unit="run", file=sys.stdout) as bar:
        report = run_local(specs, target, args.results, args.max_parallel, bar, job=job)
    print(f"{len(specs) - len(report.failed)} evaluated, {len(report.failed)} failed")
    for outcome in report.failed:
        print(f"  {outcome.status}: {outcome.key}: {outcome.error}", file=sys.stderr)
    return 1 if report.failed else 0


def command_status(args: Namespace) -> int:
    from benchmark.status import grid_status

    _, specs = _expand(args)
    target = resolve_target(args.mongo_url, args.results)
    rows = grid_status(specs, target)
    table = Table(title=f"suite {args.suite} on {target.masked}")
    for column in ("run key", "status", "env steps", "train success", "train return", "run id"):
        table.add_column(column)
    for row in rows:
        table.add_row(*[str(row[c]) for c in ("key", "status", "steps", "success", "return", "run_id")])
    console.print(table)
    return 0


def command_report(args: Namespace) -> int:
    from reports.generate import ReportOptions, write_report

    target = resolve_target(args.mongo_url, args.results)
    out = args.out or args.results / "report" / (args.suite or "all")
    options = ReportOptions(
        tasks=tuple(args.tasks) if args.tasks else None,
        methods=tuple(args.methods) if args.methods else None,
        statuses=tuple(args.status) if args.status else None,
        bin_steps=args.bin_steps, interval=args.interval, references=args.references,
        bootstrap_reps=args.bootstrap_reps, last_episodes=args.last_episodes,
    )
    summary = write_report(target, out, suite=args.suite, options=options)
    print(summary.message)
    print(f"report written: {summary.index} (HTML: {summary.index.with_suffix('.html')})")
    return 0


def command_db(args: Namespace) -> int:
    server = EmbeddedServer(args.results)
    if args.action == "start":
        target = server.start()
        print(f"embedded database running at {target.masked}")
    elif args.action == "stop":
        print("embedded database stopped" if server.stop() else "embedded database was not running")
    else:
        print(server.status())
    return 0


def command_omniboard(args: Namespace) -> int:
    from benchmark.omniboard import serve_omniboard

    target = resolve_target(args.mongo_url, args.results)
    return serve_omniboard(target, args.port)


def command_offline(args: Namespace) -> int:
    from pathlib import Path

    from envs.offline_data import generate_offline_episodes

    registry = Registry.load()
    config = registry.resolve_config(args.task, "random", args.profile, seed=args.seed)
    out = args.out or config["offline_dir"]
    if out is None:
        raise ConfigError(f"task '{args.task}' has no offline_dir; pass --out DIR")
    out = Path(out)
    if not out.is_absolute():
        out = Path(__file__).resolve().parent.parent / out
    summary = generate_offline_episodes(config, out, args.episodes, args.noise)
    print(f"wrote {summary['episodes']} episodes ({summary['successes']} successful) to {out}")
    return 0
