"""Milliseconds per Gauss-Newton build + solve at LatCo paper sizes (float64, tf.function).

Run it alone: the machine's cores are shared, and the timings are compute-bound.

    .venv/bin/python -m bench.gauss_newton_speed [--repeats 7] [--threads N] [--dtype float32]

One line per (horizon, batch): the median time of one ``gauss_newton_step`` (normal equations
from per-pair Jacobians, then the block-tridiagonal Cholesky solve) after a warm-up call, the
floating-point operations that work takes, and the achieved GFLOP/s. The Jacobians are random:
the cost does not depend on their values, only on the sizes.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import tensorflow as tf

from agents.gauss_newton import build_normal_equations, gauss_newton_step, solve_block_tridiagonal
from bench.flops import block_tridiagonal_solve_flops

FEATURE, ACTION = 230, 4
STATE = FEATURE + ACTION  # d: one plan entry [f_t, a_t]
PAIR_RESIDUALS = FEATURE + ACTION + 1  # m: dynamics, action bounds, reward


def step_flops(batch: int, n: int, d: int, m: int, k: int) -> tuple[float, float]:
    """Floating-point operations (multiply and add counted separately) of (build, solve)."""
    pairs = n - 1
    # Three d x d Gram blocks per pair (Jc^T Jc, Jn^T Jn, Jn^T Jc), two gradients, first group.
    build = pairs * (3 * 2 * m * d * d + 2 * 2 * m * d) + 2 * k * d * d + 2 * k * d
    return batch * build, batch * block_tridiagonal_solve_flops(n, d)


def median_seconds(fn, args: tuple, repeats: int) -> float:
    """Median wall time of ``fn(*args)`` after one warm-up call (tracing, first allocation)."""
    result = fn(*args)
    if not all(np.all(np.isfinite(x.numpy())) for x in tf.nest.flatten(result)):
        raise RuntimeError("non-finite result")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.nest.map_structure(lambda x: x.numpy(), fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def measure(batch: int, n: int, repeats: int, dtype: tf.DType = tf.float64,
            seed: int = 0) -> tuple[float, float, float]:
    """Median seconds of (build + solve, build alone, solve alone) for ``batch`` plans."""
    rng = np.random.default_rng(seed)
    d, m, k = STATE, PAIR_RESIDUALS, FEATURE
    jac_current = tf.constant(rng.normal(size=(batch, n - 1, m, d)), dtype)
    jac_next = tf.constant(rng.normal(size=(batch, n - 1, m, d)), dtype)
    residuals = tf.constant(rng.normal(size=(batch, n - 1, m)), dtype)
    first_jac = tf.constant(1000.0 * np.eye(k, d)[None].repeat(batch, 0), dtype)  # the pin on f_1
    first_residual = tf.constant(rng.normal(size=(batch, k)), dtype)
    inputs = (jac_current, jac_next, residuals, 1e-3, first_jac, first_residual)

    step = tf.function(lambda *a: gauss_newton_step(*a, dtype=dtype))
    build = tf.function(build_normal_equations)
    solve = tf.function(solve_block_tridiagonal)
    blocks = build(*inputs)
    return (median_seconds(step, inputs, repeats), median_seconds(build, inputs, repeats),
            median_seconds(solve, blocks, repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--horizons", type=int, nargs="+", default=[30, 50])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = parser.parse_args()
    dtype = tf.as_dtype(args.dtype)
    # Intra-op threads do the GEMMs; the recursion is a chain, so one inter-op thread suffices.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    print(f"{args.dtype}, d = {STATE}, m = {PAIR_RESIDUALS}, first-state residual k = {FEATURE}, "
          f"{args.threads} threads, median of {args.repeats}")
    for horizon in args.horizons:
        n = horizon + 1
        for batch in args.batches:
            total, build, solve = measure(batch, n, args.repeats, dtype)
            build_flops, solve_flops = step_flops(batch, n, STATE, PAIR_RESIDUALS, FEATURE)
            flops = build_flops + solve_flops
            print(f"H = {horizon:3d} (N = {n:3d})  batch {batch}  build+solve {1000 * total:7.1f} ms  "
                  f"{flops / 1e9:5.2f} GFLOP  {flops / total / 1e9:5.1f} GFLOP/s  |  "
                  f"build {1000 * build:6.1f} ms ({build_flops / build / 1e9:4.1f} GFLOP/s)  "
                  f"solve {1000 * solve:6.1f} ms ({solve_flops / solve / 1e9:4.1f} GFLOP/s)")


if __name__ == "__main__":
    main()
