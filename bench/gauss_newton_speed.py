"""Milliseconds per Gauss-Newton build + solve at LatCo paper sizes (float64, tf.function).

    .venv/bin/python -m bench.gauss_newton_speed [--repeats 7] [--threads N]

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

from agents.gauss_newton import gauss_newton_step

FEATURE, ACTION = 230, 4
STATE = FEATURE + ACTION  # d: one plan entry [f_t, a_t]
PAIR_RESIDUALS = FEATURE + ACTION + 1  # m: dynamics, action bounds, reward


def step_flops(batch: int, n: int, d: int, m: int, k: int) -> float:
    """Floating-point operations (multiply and add counted separately) of one build + solve."""
    pairs = n - 1
    build = pairs * (3 * 2 * m * d * d + 2 * 2 * m * d) + 2 * k * d * d + 2 * k * d
    cholesky = n * d**3 / 3
    factor = pairs * (d * d * (d + 1) + 2 * d * d * (d + 1))  # C^{-1}[B^T, b'], then W^T [W, y]
    back = 2 * d * d + pairs * (2 * d * d + d * d)  # last block, then matvec + triangular solve
    return batch * (build + cholesky + factor + back)


def measure(batch: int, n: int, repeats: int, seed: int = 0) -> float:
    """Median seconds of one float64 build + solve for ``batch`` plans of length ``n``."""
    rng = np.random.default_rng(seed)
    d, m, k = STATE, PAIR_RESIDUALS, FEATURE
    jac_current = tf.constant(rng.normal(size=(batch, n - 1, m, d)))
    jac_next = tf.constant(rng.normal(size=(batch, n - 1, m, d)))
    residuals = tf.constant(rng.normal(size=(batch, n - 1, m)))
    first_jac = tf.constant(1000.0 * np.eye(k, d)[None].repeat(batch, 0))
    first_residual = tf.constant(rng.normal(size=(batch, k)))
    step = tf.function(gauss_newton_step)
    args = (jac_current, jac_next, residuals, 1e-3, first_jac, first_residual)
    delta = step(*args).numpy()  # warm-up: trace and first run
    if not np.all(np.isfinite(delta)):
        raise RuntimeError("non-finite step")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step(*args).numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--horizons", type=int, nargs="+", default=[30, 50])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    # Intra-op threads do the GEMMs; the recursion is a chain, so one inter-op thread suffices.
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    print(f"float64, d = {STATE}, m = {PAIR_RESIDUALS}, first-state residual k = {FEATURE}, "
          f"{args.threads} threads, median of {args.repeats}")
    for horizon in args.horizons:
        n = horizon + 1
        for batch in args.batches:
            seconds = measure(batch, n, args.repeats)
            flops = step_flops(batch, n, STATE, PAIR_RESIDUALS, FEATURE)
            print(f"H = {horizon:3d} (N = {n:3d})  batch {batch}  {1000 * seconds:8.1f} ms  "
                  f"{flops / 1e9:6.2f} GFLOP  {flops / seconds / 1e9:6.1f} GFLOP/s  "
                  f"({1000 * seconds / batch:6.1f} ms per plan)")


if __name__ == "__main__":
    main()
