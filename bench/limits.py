"""How far each phase of a run is from this machine's limit: FLOPs, achieved rate, peak.

    .venv/bin/python -m bench.limits [--threads 1] [--profiles mini paper]

For the three phases that take a run's time (docs/speed.md): the
world-model update, one CEM iteration (PlaNet's planner) and one LatCo Gauss-Newton iteration,
each at the sizes a profile gives sparse mw_reach, it prints the floating-point operations of
one call, its median time, the rate that implies and that rate as a share of this machine's
peak, measured in the same script as the best of a few 2,048 x 2,048 float32 matrix products
with the same threads. One thread by default: a `mini` run is pinned to one core with
``tf_threads: 1``. FLOPs are TensorFlow's count of the traced graph (bench/flops.py), plus a
formula for the Gauss-Newton solve, whose float64 linear algebra it does not count. What a
phase's time goes to beyond them (many small operations, memory traffic) is the gap to peak.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from rich.console import Console
from rich.table import Table

PEAK_SIZE = 2048
PROFILES = ("mini", "paper")


def matmul_peak(repeats: int = 5) -> float:
    """Best FLOP/s of a ``PEAK_SIZE``-square float32 matrix product (one compiled call each)."""
    import tensorflow as tf

    a = tf.random.normal([PEAK_SIZE, PEAK_SIZE])
    b = tf.random.normal([PEAK_SIZE, PEAK_SIZE])
    product = tf.function(lambda: tf.reduce_sum(a @ b))
    product().numpy()
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        product().numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * PEAK_SIZE**3 / best


def phase_costs(profile: str, repeats: int) -> list[tuple[str, str, float, float]]:
    """(phase, its size in words, seconds, FLOPs) of each phase at ``profile``'s mw_reach sizes."""
    import tensorflow as tf

    from agents.world_model import RSSMLatentModel
    from bench.planner_speed import cem_iteration, latco_iteration
    from bench.world_model_speed import update_cost
    from benchmark.registry import Registry

    registry = Registry.load()
    latco = registry.resolve_config("mw_reach", "latco", profile)
    planet = registry.resolve_config("mw_reach", "planet", profile)
    update = update_cost(latco, repeats)
    model = RSSMLatentModel(update.model)
    feature = tf.random.normal([1, model.feature_size])
    horizon, samples = latco["planning_horizon"], planet["cem_samples"]
    cem_seconds, cem_flops = cem_iteration(model, feature, samples, planet["planning_horizon"], repeats)
    gn_seconds, gn_flops = latco_iteration(model, feature, horizon, 1, repeats)
    batch = f"{latco['batch_size']} x {latco['batch_length']} images, cnn depth {latco['cnn_depth']}, deter {latco['deter_size']}"
    return [
        ("world-model update", batch, update.median_seconds, update.flops),
        ("CEM iteration", f"{samples} samples x H {planet['planning_horizon']}", cem_seconds, cem_flops),
        ("Gauss-Newton iteration", f"H {horizon}, feature {model.feature_size}, float64 solve", gn_seconds, gn_flops),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (a mini run uses 1)")
    parser.add_argument("--profiles", nargs="+", default=list(PROFILES), choices=PROFILES)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    peak = matmul_peak()
    table = Table(title=f"{args.threads} thread(s); peak = {peak / 1e9:.0f} GFLOP/s "
                        f"(float32 {PEAK_SIZE}^2 matrix product, same script)")
    for column in ("phase", "profile", "size", "GFLOP", "ms", "GFLOP/s", "of peak"):
        table.add_column(column, justify="left" if column in ("phase", "profile", "size") else "right")
    for profile in args.profiles:
        for phase, size, seconds, flops in phase_costs(profile, args.repeats):
            rate = flops / seconds
            table.add_row(phase, profile, size, f"{flops / 1e9:.2f}", f"{1000 * seconds:.1f}", f"{rate / 1e9:.1f}",
                          f"{rate / peak:.0%}")
    Console(width=130).print(table)
    print(f"load average {os.getloadavg()[0]:.2f} (other work on these cores lowers every figure: compare shares taken in one quiet run)")


if __name__ == "__main__":
    main()
