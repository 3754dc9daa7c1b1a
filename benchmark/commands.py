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

    from agents.errors import AgentConfigError
    from agents.registry import check_implemented
    from benchmark.launch import run_local
    from benchmark.planning import TRAINING, plan_launch

    _, specs = _expand(args)
    options = _slurm_options(args)
    if args.dry_run:
        return _print_dry_run(args, specs, options)
    for spec in specs:
        try:
            check_implemented(spec.config["agent"], spec.method)
        except AgentConfigError as error:
            raise ConfigError(str(error)) from None
    target = resolve_target(args.mongo_url, args.results)
    if options is not None:
        from benchmark.slurm import check_database_reachable

        check_database_reachable(target, options)
    plan = plan_launch(specs, target, args.results, TRAINING, on_slurm=options is not None, force=args.force)
    print(f"database: {target.masked} (db {target.db_name}); {plan.describe()}")
    if options is None:
        with tqdm(total=len(plan.todo), desc=f"suite {args.suite}", unit="run", file=sys.stdout) as bar:
            report = run_local(plan.todo, target, args.results, args.max_parallel or 1, bar)
    else:
        report = _run_on_slurm(args, plan.todo, target, options)
    completed = sum(o.status == "COMPLETED" for o in report.outcomes)
    print(f"{completed} completed, {len(report.failed)} failed, {len(plan.skipped) + len(plan.live)} skipped")
    if options is None and plan.todo:
        print(f"each run's own output: {args.results / 'logs'}/<run key>.log")
    for outcome in report.failed:
        print(f"  {outcome.status}: {outcome.key}: {outcome.error}", file=sys.stderr)
    return 1 if report.failed else 0


def _print_dry_run(args: Namespace, specs: list[RunSpec], options: SlurmOptions | None) -> int:
    """The grid with each run's estimated wall time and the grid's total resource hours.

    Step rates come from the database when one is reachable without starting anything (the
    embedded server is not started for a dry run)."""
    from benchmark.errors import DatabaseError
    from benchmark.estimates import FIGURES_PATH, estimate_runs, format_duration, format_hours
    from benchmark.launch import threads_per_worker

    try:
        target = resolve_target(args.mongo_url, args.results, start=False)
    except DatabaseError as error:  # no earlier runs to learn from: the figures still answer
        print(f"note: no step rates from the database: {error}")
        target = None
    estimates = estimate_runs(specs, target)
    table = Table(title=f"suite {args.suite}: {len(specs)} runs")
    for column in ("run key", "agent", "steps", "config hash", "est. wall time", "estimated from"):
        table.add_column(column)
    for spec, estimate in zip(specs, estimates, strict=True):
        table.add_row(spec.key, spec.config["agent"], str(spec.config["steps"]), spec.config_hash,
                      format_duration(estimate.seconds), estimate.source)
    console.print(table)
    hours = sum(e.seconds for e in estimates) / 3600
    cpus = options.cpus if options is not None else threads_per_worker(args.max_parallel or 1)
    gpus = options.gpus if options is not None else 0
    cost = f"{format_hours(hours * gpus)} GPU-hours ({gpus} GPU{'s' if gpus > 1 else ''} per run)" if gpus else \
        f"{format_hours(hours * cpus)} CPU-hours ({cpus} CPU{'s' if cpus > 1 else ''} per run)"
    from_db = sum(e.source.startswith("database") for e in estimates)
    from_shipped = sum(e.source.startswith("shipped") for e in estimates)
    from_figures = len(estimates) - from_db - from_shipped
    sources = [f"{from_db} from the step rates of earlier runs in {target.masked}" if from_db else "",
               f"{from_shipped} from the step rates of runs shipped in docs/runs/" if from_shipped else "",
               f"{from_figures} from benchmark figures ({FIGURES_PATH.name})" if from_figures else ""]
    print(f"estimated total: {format_hours(hours)} run-hours, {cost}; estimates: {', '.join(filter(None, sources))}")
    return 0


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
    from benchmark.planning import EVALUATION, plan_launch

    _, specs = _expand(args)
    options = _slurm_options(args)
    target = resolve_target(args.mongo_url, args.results)
    if options is not None:
        from benchmark.slurm import check_database_reachable

        check_database_reachable(target, options)
    plan = plan_launch(specs, target, args.results, EVALUATION, on_slurm=options is not None)
    print(f"database: {target.masked} (db {target.db_name}); {plan.describe()}")
    for spec in plan.skipped:
        print(f"  not evaluated: {spec.key}: no completed training run with this config; run it first",
              file=sys.stderr)
    job = partial(execute_evaluation, episodes=args.episodes)
    if options is None:
        with tqdm(total=len(plan.todo), desc=f"eval {args.suite}", unit="run", file=sys.stdout) as bar:
            report = run_local(plan.todo, target, args.results, args.max_parallel or 1, bar, job=job)
    else:
        from benchmark.slurm import EVALUATION_BOOK

        report = _run_on_slurm(args, plan.todo, target, options, job=job, kind=EVALUATION_BOOK,
                               record_key=evaluation_key)
    evaluated = sum(o.status == "COMPLETED" for o in report.outcomes)
    print(f"{evaluated} evaluated, {len(report.failed)} failed, {len(plan.skipped)} not trained, "
          f"{len(plan.live)} already queued or running")
    for outcome in report.failed:
        print(f"  {outcome.status}: {outcome.key}: {outcome.error}", file=sys.stderr)
    return 1 if report.failed or plan.skipped else 0


def command_status(args: Namespace) -> int:
    from benchmark.progress import RATE_WINDOW_EPISODES
    from benchmark.slurm import EVALUATION_BOOK, slurm_status
    from benchmark.status import grid_status

    _, specs = _expand(args)
    target = resolve_target(args.mongo_url, args.results)
    rows = grid_status(specs, target)
    jobs = slurm_status(specs, args.results)
    table = Table(title=f"suite {args.suite} on {target.masked}")
    columns = ["run key", "status", "config", "env steps", "progress", f"time (last {RATE_WINDOW_EPISODES} episodes)",
               "train success", "train return", "run id"]
    if jobs:
        columns.insert(2, "slurm")
    for column in columns:
        table.add_column(column)
    for row in rows:
        cells = [str(row[c]) for c in ("key", "status", "config", "steps", "progress", "time", "success", "return",
                                       "run_id")]
        if jobs:
            job = jobs.get(row["key"])
            # A job belongs to the row of its config (or to the run key's row before any record).
            mine = job is not None and row["config_hash"] in (None, job["config_hash"])
            cells.insert(2, f"{job['state']} ({job['job_id']})" if mine else "-")
        table.add_row(*cells)
    console.print(table)
    print("config: 'suite' = the suite's config; otherwise the record's config hash and the keys it "
          "ran with that differ from the suite's")
    if any(row["config"].startswith("stale") for row in rows):
        print("stale (imported): a record imported from a runs file whose config is no longer the suite's (the code "
              "or the registry changed since it ran); `run` runs it again, or check out the commit it ran at")
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


def command_export(args: Namespace) -> int:
    from tqdm import tqdm

    from benchmark.runs_export import export_runs

    _, specs = _expand(args)
    target = resolve_target(args.mongo_url, args.results)
    out = args.out or args.results / "exports" / f"{args.suite}.jsonl.gz"
    selection = {"suite": args.suite, "tasks": args.tasks, "methods": args.methods, "seeds": args.seeds,
                 "profile": specs[0].profile if specs else args.profile, "completed_only": args.completed_only}
    summary = export_runs(target, specs, selection, out, output=not args.no_output, artifacts=args.artifacts,
                          progress=lambda docs: tqdm(docs, desc="export", unit="run", file=sys.stderr, disable=None),
                          completed_only=args.completed_only)
    if summary is None:
        print(f"no records of the {len(specs)} selected run keys of suite {args.suite} in database "
              f"{target.db_name} at {target.masked}: nothing exported, no file written; check the selection "
              f"with `run_suite.py status --suite {args.suite}`", file=sys.stderr)
        return 1
    counts = summary.counts
    print(f"exported {counts['runs']} runs of suite {args.suite} ({counts['metric_series']} metric series, "
          f"{counts['metric_points']} points, {counts['artifacts']} artifacts) to {summary.path} "
          f"({summary.size / 1024:.1f} KB)")
    return 0


def command_import(args: Namespace) -> int:
    from tqdm import tqdm

    from benchmark.runs_file import check_runs_file
    from benchmark.runs_import import import_files

    headers = [check_runs_file(path) for path in args.files]  # a bad file is named before the database is asked
    target = resolve_target(args.mongo_url, args.results)
    summaries = import_files(args.files, target, headers, progress=lambda entries, total: tqdm(
        entries, total=total, desc="import", unit="run", file=sys.stderr, disable=None))
    print(f"database: {target.masked} (db {target.db_name})")
    for summary in summaries:
        print(summary.describe())
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
