"""Floating-point operations of a compiled function, as TensorFlow's graph profiler counts them.

The benchmarks divide these by measured times to say how far a phase is from the machine's
peak. Counting from the traced graph (every matrix product, convolution and its gradients,
and the elementwise work, which hand formulas over the kernels miss: 35% of the analytic step
Jacobian at `mini`) keeps the figures right when a network changes. Loops must be unrolled in
Python to be counted whole: the profiler counts a graph loop's body once.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf
from tensorflow.python.profiler import model_analyzer, option_builder


def graph_flops(function: Callable, *specs: tf.TensorSpec | dict) -> float:
    """FLOPs of one call of ``function`` on inputs of ``specs`` (TensorSpecs or tensors)."""
    compiled = function if hasattr(function, "get_concrete_function") else tf.function(function)
    graph = compiled.get_concrete_function(*specs).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return float(model_analyzer.profile(graph, options=options).total_float_ops)


def block_tridiagonal_solve_flops(blocks: int, width: int) -> float:
    """FLOPs of one block-tridiagonal Cholesky solve (agents/gauss_newton.py), by hand.

    The solve runs in float64 linear algebra the profiler does not count, hence a formula.
    Per block: the Cholesky factor (width^3 / 3); per link to the next block: the triangular
    solve for W = C^-1 B^T (width^3), the Schur update W^T W (2 width^3) and the right-hand
    side's forward and backward matrix-vector work (6 width^2).
    """
    links = blocks - 1
    return blocks * width**3 / 3 + links * (3 * width**3 + 6 * width**2) + 2 * width**2
