"""World-model training speed: seconds per ``WorldModel.train_batch`` on random data.

    .venv/bin/python -m bench.world_model_speed [--repeats N] [--breakdown] [--skip-paper]

At paper sizes (batch 50 x 50 steps of 64x64 images, deter 200, stoch 30, cnn depth 32), at the
laptop-scale `mini` sizes and at smoke sizes, it prints the first call (tracing + graph optimisation + one step) apart from the
median of ``repeats`` later calls, with a FLOP estimate of one step and the rate it implies.
``--breakdown`` also times, at paper size, the forward loss alone, the convolutional part
(encoder + decoder, forward and backward) and the RSSM filtering loop (forward and backward),
to tell where a slow step spends its time.
``--precision`` picks the config key's values to time (both by default): mixed_bfloat16 runs
the products in bfloat16, about twice float32's rate on CPUs with AVX512-BF16.
Threads as the launcher sets them for one run per machine: intra-op = all cores, inter-op 1.
The original implementation on this machine: 2.8 s per paper-size step, 14 s for the first.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

ACTION_SIZE = 4


def random_batch(config: dict[str, Any], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A replay-like batch: image uint8 [B, L, 64, 64, 3], action [B, L, A], reward [B, L]."""
    shape = (config["batch_size"], config["batch_length"])
    return {
        "image": rng.integers(0, 256, (*shape, 64, 64, 3), dtype=np.uint8),
        "action": rng.uniform(-1, 1, (*shape, ACTION_SIZE)).astype(np.float32),
        "reward": rng.uniform(0, 1, shape).astype(np.float32),
    }


def forward_flops(model, batch: int, length: int) -> dict[str, float]:
    """Forward-pass FLOPs (2 x multiply-adds of kernels only) of one batch, by part.

    Convolutions count output positions x kernel size, transposed convolutions input
    positions x kernel size; shapes are found by running one zero image through the layers.
    """
    import tensorflow as tf

    images = batch * length
    x = tf.zeros([1, 64, 64, 3])
    encoder = 0.0
    for conv in model.encoder.convs:
        x = conv(x)
        encoder += 2.0 * np.prod(x.shape[1:3]) * np.prod(conv.kernel.shape)
    decoder = 2.0 * np.prod(model.decoder.dense.kernel.shape)
    x = tf.zeros([1, 1, 1, model.decoder.dense.kernel.shape[-1]])
    for deconv in model.decoder.deconvs:
        decoder += 2.0 * np.prod(x.shape[1:3]) * np.prod(deconv.kernel.shape)
        x = deconv(x)
    rssm = model.rssm
    dense = [rssm.img_in, rssm.img_out, rssm.img_dist, rssm.obs_out, rssm.obs_dist]
    rssm_step = sum(2.0 * np.prod(layer.kernel.shape) for layer in dense)
    rssm_step += sum(2.0 * np.prod(w.shape) for w in rssm.cell.weights if len(w.shape) == 2)
    head = sum(2.0 * np.prod(w.shape) for w in model.reward_head.weights if len(w.shape) == 2)
    return {"encoder": images * encoder, "decoder": images * decoder,
            "rssm": images * rssm_step, "reward head": images * head}


def timed(function: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(seconds of the first call, median seconds of ``repeats`` later calls)."""
    start = time.perf_counter()
    function()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return first, float(np.median(times))


class UpdateCost(NamedTuple):
    """One world-model update's cost, and the model it was measured on (the limit bench plans
    on it rather than building a second one)."""

    first_seconds: float  # the first ``train_batch``: tracing and first allocation
    median_seconds: float  # later ones
    flops: float  # one update, as TensorFlow counts its graph
    forward_flops_by_part: dict[str, float]  # the kernels' forward FLOPs
    model: Any  # agents.world_model.WorldModel


def update_cost(config: dict[str, Any], repeats: int) -> UpdateCost:
    """Time and count one update at ``config``'s sizes, on random images (cost does not depend on them)."""
    import tensorflow as tf

    from agents.world_model import WorldModel, WorldModelSettings
    from bench.flops import graph_flops

    model = WorldModel(WorldModelSettings.from_config(config), ACTION_SIZE)
    batch = random_batch(config, np.random.default_rng(0))
    first, median = timed(lambda: model.train_batch(batch), repeats)
    total = graph_flops(model.train_step_graph, {k: tf.convert_to_tensor(v) for k, v in batch.items()})
    return UpdateCost(first, median, total, forward_flops(model, config["batch_size"], config["batch_length"]), model)


def measure(name: str, config: dict[str, Any], repeats: int) -> None:
    first, median, total, flops, _ = update_cost(config, repeats)
    parts = ", ".join(f"{part} {value / 1e9:.3g}" for part, value in flops.items())
    print(f"{name:5s} batch {config['batch_size']} x {config['batch_length']}, deter {config['deter_size']}, "
          f"stoch {config['stoch_size']}, cnn {config['cnn_depth']}: first call {first:7.3f} s, "
          f"then {median:7.3f} s per step (median of {repeats})")
    print(f"      {total / 1e9:.1f} GFLOP per step (TensorFlow's count; kernels: {parts} GFLOP forward) -> "
          f"{total / median / 1e9:.1f} GFLOP/s")


def breakdown(config: dict[str, Any], repeats: int) -> None:
    """Where a paper-size step goes: forward only, conv part, RSSM loop (each fwd + bwd)."""
    import tensorflow as tf

    from agents.networks import preprocess
    from agents.world_model import WorldModel, WorldModelSettings

    model = WorldModel(WorldModelSettings.from_config(config), ACTION_SIZE)
    batch = {k: tf.convert_to_tensor(v) for k, v in random_batch(config, np.random.default_rng(0)).items()}
    b, length = config["batch_size"], config["batch_length"]
    feature = tf.random.normal([b, length, model.feature_size])
    embed = tf.random.normal([b, length, 32 * config["cnn_depth"]])

    @tf.function
    def forward():
        return model.losses_and_states(batch)[0]["model_loss"]

    @tf.function
    def conv_part():
        with tf.GradientTape() as tape:
            images = preprocess(batch["image"])
            loss = tf.reduce_mean(model.encoder(images)) + tf.reduce_mean(tf.square(model.decoder(feature) - images))
        variables = model.encoder.trainable_variables + model.decoder.trainable_variables
        return tape.gradient(loss, variables)

    @tf.function
    def rssm_part():
        with tf.GradientTape() as tape:
            post, prior = model.rssm.observe(embed, batch["action"])
            loss = tf.reduce_mean(post["stoch"]) + tf.reduce_mean(prior["mean"])
        return tape.gradient(loss, model.rssm.trainable_variables)

    for name, function in (("forward loss only", forward), ("encoder+decoder fwd+bwd", conv_part),
                           ("RSSM observe fwd+bwd", rssm_part)):
        first, median = timed(function, repeats)
        print(f"      {name:24s}: first call {first:7.3f} s, then {median:7.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after the first (paper size)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--breakdown", action="store_true", help="also time the parts of a paper-size step")
    parser.add_argument("--skip-paper", action="store_true", help="smoke size only (seconds instead of a minute)")
    parser.add_argument("--precision", nargs="+", default=["float32", "mixed_bfloat16"],
                        choices=["float32", "mixed_bfloat16"], help="the config key 'precision' to time")
    args = parser.parse_args()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from benchmark.registry import Registry

    registry = Registry.load()
    print(f"TensorFlow {tf.__version__}, {args.threads} intra-op threads, 1 inter-op thread, "
          f"load average before {os.getloadavg()[0]:.2f}")
    for precision in args.precision:
        print(f"precision {precision}")
        if not args.skip_paper:
            paper = {**registry.resolve_config("mw_reach", "latco", "paper"), "precision": precision}
            measure("paper", paper, args.repeats)
            if args.breakdown:
                breakdown(paper, args.repeats)
        for profile in ("mini", "smoke"):
            sized = {**registry.resolve_config("mw_reach", "latco", profile), "precision": precision}
            measure(profile, sized, max(5, args.repeats))
    print(f"load average after {os.getloadavg()[0]:.2f} (another process on these cores slows every figure)")


if __name__ == "__main__":
    main()
