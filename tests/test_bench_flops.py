"""The FLOP counts the benchmarks divide by measured times (bench/flops.py, docs/speed.md, the limit table)."""

import numpy as np
import tensorflow as tf

from bench.flops import graph_flops


def test_a_matrix_product_counts_two_operations_per_multiply_add():
    spec = tf.TensorSpec([64, 32]), tf.TensorSpec([32, 16])
    assert graph_flops(lambda a, b: a @ b, *spec) == 2 * 64 * 32 * 16


def test_a_rollout_counts_every_step_and_at_least_its_kernels():
    from agents.world_model import RSSMLatentModel, WorldModel, WorldModelSettings
    from bench.planner_speed import rollout_flops
    from benchmark.registry import Registry

    config = Registry.load().resolve_config("pm_reach", "planet", "smoke")
    world_model = WorldModel(WorldModelSettings.from_config(config), 2)
    model = RSSMLatentModel(world_model)
    rssm = world_model.rssm
    dense = [rssm.img_in.kernel, rssm.cell.kernel, rssm.cell.recurrent, rssm.img_out.kernel,
             rssm.img_dist.kernel[:, : rssm.stoch_size]] + [w for w in world_model.reward_head.weights if len(w.shape) == 2]
    kernels = sum(2 * np.prod(w.shape) for w in dense)  # one row, one step
    one_step = rollout_flops(model, 10, 1)
    assert kernels * 10 <= one_step < 1.2 * kernels * 10  # the elementwise work is a few percent
    assert rollout_flops(model, 10, 7) == 7 * one_step  # the Python loop is unrolled: every step counted
