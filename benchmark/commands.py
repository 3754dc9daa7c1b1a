"""The subcommands of run_suite.py: argument handling and printing, nothing else.

Each ``command_<name>(args) -> exit code`` turns parsed arguments into calls of the
registry, the launchers, the database and the report generator.
"""

from __future__ import annotations

import json
import sys
from argparse import Namespace
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from benchmark.config import parse_cli_overrides
from benchmark.database import EmbeddedServer, resolve_target
from benchmark.errors import ConfigError
from benchmark.registry import KINDS, Registry, RunSpec

if TYPE_CHECKING:
    from benchmark.database import MongoTarget
    from benchmark.launch import LaunchReport
    from benchmark.slurm import SlurmOptions

# Wide when piped (logs, CI): run keys must never be wrapped or cut.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _split_overrides(args: Namespace) -> list[str]:
    """``--seeds 0 1 key=value`` lets the list swallow the override; hand it back."""
    overrides = list(args.overrides)
    for attribute in ("tasks", "methods", "seeds"):
        values = getattr(args, attribute, None) or []
        overrides += [v for v in values if "=" in v]
        setattr(args, attribute, [v for v in values if "=" not in v] or None)
    if args.seeds is not None:
        bad = [seed for seed in args.seeds if not seed.lstrip("-").isdigit()]
        if bad:
            raise ConfigError(f"--seeds: '{bad[0]}' is not an integer; write e.g. --seeds 0 1 2")
        args.seeds = [int(seed) for seed in args.seeds]
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


_SLURM_FLAGS = ("cluster", "partition", "time", "cpus", "mem", "gpus", "account", "sbatch")


def _slurm_options(args: Namespace) -> SlurmOptions | None:
    """The Slurm options of ``run`` and ``eval`` (None for the local launcher, which takes none)."""
    given = [f"--{name}" for name in _SLURM_FLAGS if getattr(args, name, None)]
    if args.launcher != "slurm":
        if given:
            raise ConfigError(f"{given[0]} applies to --launcher slurm only; add --launcher slurm or drop it")
        return None
    from benchmark.slurm import slurm_options

    return slurm_options(
        args.cluster, partition=args.partition, time=args.time, cpus=args.cpus, mem=args.mem,
        gpus=args.gpus, account=args.account, sbatch=args.sbatch, max_parallel=args.max_parallel,
    )


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
    options = _slurm_options(args)
    target = resolve_target(args.mongo_url, args.results)
    target.ping()
    if options is not None:
        from benchmark.slurm import check_database_reachable, live_jobs

        check_database_reachable(target, options)
    done = set() if args.force else completed_keys(specs, target)
    todo = [s for s in specs if (s.key, s.config_hash) not in done]
    live = live_jobs(todo, args.results) if options is not None else {}
    todo = [s for s in todo if s.key not in live]
    print(f"database: {target.masked} (db {target.db_name}); {len(specs)} runs in the grid, "
          f"{len(specs) - len(todo) - len(live)} already completed, {len(todo)} to run"
          + (f", {len(live)} already queued or running on Slurm (jobs {' '.join(sorted(live.values()))})"
             if live else ""))
    if options is None:
        with tqdm(total=len(todo), desc=f"suite {args.suite}", unit="run", file=sys.stdout) as bar:
            report = run_local(todo, target, args.results, args.max_parallel or 1, bar)
    else:
        report = _run_on_slurm(args, todo, target, options)
    completed = sum(o.status == "COMPLETED" for o in report.outcomes)
    print(f"{completed} completed, {len(report.failed)} failed, {len(specs) - len(todo) - len(live)} skipped")
    if options is None and todo:
        print(f"each run's own output: {args.results / 'logs'}/<run key>.log")
    for outcome in report.failed:
        print(f"  {outcome.status}: {outcome.key}: {outcome.error}", file=sys.stderr)
    return 1 if report.failed else 0


def _run_on_slurm(args: Namespace, todo: list[RunSpec], target: MongoTarget, options: SlurmOptions,
                  kind: str = "", **submission) -> LaunchReport:
    """Submit ``todo`` as one job array and wait for it; ``kind`` names the job book ("" for
    training) and ``submission`` goes on to ``submit_runs`` (an evaluation's job and record keys)."""
    from tqdm import tqdm

    from benchmark.launch import LaunchReport
    from benchmark.slurm import JobBook, submit_runs, wait_for_runs

    if not todo:
        return LaunchReport()
    runs = submit_runs(todo, target, args.results, options, kind=kind, **submission)
    array = runs[0].job_id.split("_")[0]
    print(f"slurm: submitted {len(runs)} runs as job {array} ({options.describe()}); "
          f"logs in {JobBook(args.results, args.suite, kind).folder}")
    try:
        with tqdm(total=len(runs), desc=f"{kind or 'suite'} {args.suite}", unit="run", file=sys.stdout) as bar:
            return wait_for_runs(runs, target, bar)
    except KeyboardInterrupt:
        print(f"stopped waiting: the jobs go on running on Slurm; follow them with `run_suite.py status "
              f"--suite {args.suite}`, stop them with `run_suite.py cancel --suite {args.suite}`", file=sys.stderr)
        raise


def command_eval(args: Namespace) -> int:
    from functools import partial

    from tqdm import tqdm

    from benchmark.evaluation import evaluation_key, execute_evaluation
    from benchmark.launch import run_local

    _, specs = _expand(args)
    options = _slurm_options(args)
    target = resolve_target(args.mongo_url, args.results)
    target.ping()
    job = partial(execute_evaluation, episodes=args.episodes)
    if options is None:
        with tqdm(total=len(specs), desc=f"eval {args.suite}", unit="run", file=sys.stdout) as bar:
            report = run_local(specs, target, args.results, args.max_parallel or 1, bar, job=job)
    else:
        from benchmark.slurm import EVALUATION_BOOK, check_database_reachable

        check_database_reachable(target, options)
        report = _run_on_slurm(args, specs, target, options, job=job, kind=EVALUATION_BOOK, record_key=evaluation_key)
    print(f"{len(specs) - len(report.failed)} evaluated, {len(report.failed)} failed")
    for outcome in report.failed:
        print(f"  {outcome.status}: {outcome.key}: {outcome.error}", file=sys.stderr)
    return 1 if report.failed else 0


def command_status(args: Namespace) -> int:
    from benchmark.slurm import EVALUATION_BOOK, slurm_status
    from benchmark.status import grid_status

    _, specs = _expand(args)
    target = resolve_target(args.mongo_url, args.results)
    rows = grid_status(specs, target)
    jobs = slurm_status(specs, args.results)
    table = Table(title=f"suite {args.suite} on {target.masked}")
    columns = ["run key", "status", "env steps", "progress", "train success", "train return", "run id"]
    if jobs:
        columns.insert(2, "slurm")
    for column in columns:
        table.add_column(column)
    for row in rows:
        cells = [str(row[c]) for c in ("key", "status", "steps", "progress", "success", "return", "run_id")]
        if jobs:
            job = jobs.get(row["key"])
            cells.insert(2, f"{job['state']} ({job['job_id']})" if job else "-")
        table.add_row(*cells)
    console.print(table)
    evaluations = slurm_status(specs, args.results, EVALUATION_BOOK)
    for job in evaluations.values():
        print(f"{job['record_key']}: Slurm job {job['job_id']} {job['state']}")
    for job in [*jobs.values(), *evaluations.values()]:
        if job["tail"]:
            print(f"{job['record_key']}: Slurm job {job['job_id']} {job['state']}; log {job['stderr']}; its last lines:")
            for line in job["tail"].splitlines()[-8:]:
                print(f"    {line}")
    return 0


def command_cancel(args: Namespace) -> int:
    from benchmark.slurm import cancel_runs

    _, specs = _expand(args)
    cancelled = cancel_runs(specs, args.results)
    if not cancelled:
        print(f"no queued or running Slurm job among the {len(specs)} selected runs of suite {args.suite}")
        return 0
    for key, job_id, state in cancelled:
        print(f"cancelled {key} (job {job_id}, was {state.lower()})")
    print(f"{len(cancelled)} jobs cancelled; run the suite again to resume them from their checkpoints")
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
