"""Planner speed at paper sizes, on a world model with random weights.

    .venv/bin/python -m bench.planner_speed [--quick]

Prints milliseconds per LatCo Gauss-Newton iteration and per full plan (200 iterations,
extrapolated from timed iterations) for H = 30 and 50, feature 230, action 4, batch 1 and 4,
and per CEM iteration with 10,000 and 1,000 samples, each next to a FLOP estimate, for each
world-model ``precision`` asked for (float32 and mixed_bfloat16 by default).
The original implementation on this kind of machine: 130 ms per GN iteration at H = 30,
210 ms at H = 50; CEM 1.2 s per iteration with 10,000 samples at H = 30.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from bench.flops import block_tridiagonal_solve_flops, graph_flops


def rollout_flops(model, samples: int, horizon: int) -> float:
    """FLOPs of ``returns`` over ``samples`` action sequences of ``horizon`` steps (TensorFlow's count)."""
    import tensorflow as tf

    return graph_flops(model.returns, tf.TensorSpec([samples, model.feature_size]),
                       tf.TensorSpec([samples, horizon, model.action_size]))


def pair_flops(model) -> float:
    """FLOPs of one pair's analytic step Jacobian and its four model steps (TensorFlow's count)."""
    import tensorflow as tf

    specs = tf.TensorSpec([1, model.feature_size]), tf.TensorSpec([1, model.action_size])
    return graph_flops(model.step_jacobian, *specs) + 4 * graph_flops(model.step, *specs)


def _timed(function, repeats: int) -> float:
    function()  # trace and warm up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def latco_iteration(model, feature, horizon: int, batch: int, repeats: int) -> tuple[float, float]:
    """(seconds, FLOPs) of one Gauss-Newton iteration: the difference of 6- and 2-iteration plans."""
    from agents.planners.latco import LatCo
    from benchmark.config import default_settings

    few, many = 2, 6
    short, long = (LatCo(default_settings(LatCo.Settings, planning_horizon=horizon, optimization_steps=steps,
                                          n_parallel_plans=batch)) for steps in (few, many))
    t_short = _timed(lambda: short.plan(model, feature), repeats)
    t_long = _timed(lambda: long.plan(model, feature), repeats)
    d = model.feature_size + model.action_size
    m = d + 1
    # Per pair: the step Jacobian and model evaluations and one Gram product S^T S (2 F d^2);
    # then the block solve over the horizon + 1 plan entries.
    flops = batch * (horizon * (pair_flops(model) + 2 * (m - 5) * d * d)
                     + block_tridiagonal_solve_flops(horizon + 1, d))
    return (t_long - t_short) / (many - few), flops


def cem_iteration(model, feature, samples: int, horizon: int, repeats: int) -> tuple[float, float]:
    """(seconds, FLOPs) of one CEM iteration: the difference of 4- and 1-iteration plans, each the
    median of ``2 * repeats`` plans (one plan is seconds long, so a few noisy ones shift a
    difference of short medians by 10%)."""
    from agents.planners.cem import CEM
    from benchmark.config import default_settings

    few, many = 1, 4
    short, long = (CEM(default_settings(CEM.Settings, planning_horizon=horizon, optimization_steps=steps,
                                        cem_samples=samples, cem_elite_ratio=0.01)) for steps in (few, many))
    seconds = (_timed(lambda: long.plan(model, feature), 2 * repeats)
               - _timed(lambda: short.plan(model, feature), 2 * repeats)) / (many - few)
    return seconds, rollout_flops(model, samples, horizon)


def time_latco(model, feature, repeats: int) -> None:
    for horizon in (30, 50):
        for batch in (1, 4):
            per_iteration, flops = latco_iteration(model, feature, horizon, batch, repeats)
            print(f"LatCo H={horizon:2d} batch {batch}: {1000 * per_iteration:7.1f} ms per Gauss-Newton iteration, "
                  f"{200 * per_iteration:6.1f} s per 200-iteration plan  (~{flops / 1e9:.1f} GFLOP per iteration, "
                  f"{flops / per_iteration / 1e9:.1f} GFLOP/s)")


def time_cem(model, feature, repeats: int) -> None:
    for samples in (10_000, 1_000):
        per_iteration, flops = cem_iteration(model, feature, samples, 30, repeats)
        print(f"CEM H=30 {samples:6d} samples: {1000 * per_iteration:7.1f} ms per iteration  (~{flops / 1e9:.2f} GFLOP, "
              f"{flops / per_iteration / 1e9:.1f} GFLOP/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--planners", nargs="+", default=["latco", "cem"], choices=["latco", "cem"])
    parser.add_argument("--precision", nargs="+", default=["float32", "mixed_bfloat16"],
                        choices=["float32", "mixed_bfloat16"], help="the world model's config key 'precision'")
    args = parser.parse_args()
    import tensorflow as tf

    threads = os.cpu_count() or 1
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    from agents.world_model import RSSMLatentModel, WorldModel, WorldModelSettings
    from benchmark.registry import Registry

    paper = Registry.load().resolve_config("mw_reach", "latco", "paper")
    repeats = 2 if args.quick else 3
    for precision in args.precision:
        model = RSSMLatentModel(WorldModel(WorldModelSettings.from_config({**paper, "precision": precision}), 4))
        feature = tf.random.normal([1, model.feature_size])
        print(f"precision {precision}, threads {threads}; feature {model.feature_size}, action 4; "
              f"one imagination step and reward ~{rollout_flops(model, 1, 1) / 1e6:.2f} MFLOP")
        if "latco" in args.planners:
            time_latco(model, feature, repeats)
        if "cem" in args.planners:
            time_cem(model, feature, repeats)


if __name__ == "__main__":
    main()
