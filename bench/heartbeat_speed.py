"""Cost of one Sacred heartbeat's metric writes on the embedded server, without and with the
metric-series index (``MongoTarget.ensure_indexes``).

    .venv/bin/python -m bench.heartbeat_speed [--runs 65] [--series 50] [--points 500]

Starts a temporary embedded server (SecantusDB), fills its metrics collection like a
claims-suite database (``--runs`` runs of ``--series`` series of ``--points`` points), then
times heartbeats as Sacred's MongoObserver sends them: one ``$push`` per series, found by
(run_id, name). Prints milliseconds per heartbeat before and after the index and their ratio,
both measured in this one process (compare the ratio, not the figures, across machines).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import time

from benchmark.database import MongoTarget, temporary_database


def fill_metrics(target: MongoTarget, runs: int, series: int, points: int) -> None:
    """``runs`` x ``series`` metric documents of ``points`` points each, in Sacred's layout."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    steps = list(range(0, points * 150, 150))
    for run_id in range(1, runs + 1):
        target.database().metrics.insert_many([
            {"run_id": run_id, "name": f"metric_{index}", "steps": steps,
             "values": [float(step % 7) for step in steps], "timestamps": [now] * points}
            for index in range(series)
        ])


def heartbeat_ms(target: MongoTarget, run_id: int, series: int, beats: int) -> float:
    """Median wall time of ``beats`` heartbeats of one run, each pushing one point per series."""
    metrics = target.database().metrics
    times = []
    for beat in range(beats):
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        started = time.perf_counter()
        for index in range(series):
            metrics.update_one({"run_id": run_id, "name": f"metric_{index}"},
                               {"$push": {"steps": {"$each": [10**6 + beat]}, "values": {"$each": [0.0]},
                                          "timestamps": {"$each": [now]}}}, upsert=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=65)
    parser.add_argument("--series", type=int, default=50)
    parser.add_argument("--points", type=int, default=500)
    parser.add_argument("--beats", type=int, default=5)
    args = parser.parse_args()
    with temporary_database("heartbeat_speed") as (target, _):
        fill_metrics(target, args.runs, args.series, args.points)
        without = heartbeat_ms(target, args.runs, args.series, args.beats)
        target.ensure_indexes()
        with_index = heartbeat_ms(target, args.runs, args.series, args.beats)
    print(f"metrics collection: {args.runs} runs x {args.series} series x {args.points} points")
    print(f"one heartbeat ({args.series} series updates), median of {args.beats}: "
          f"{without:.0f} ms without the index, {with_index:.0f} ms with it ({without / with_index:.0f}x)")


if __name__ == "__main__":
    main()
