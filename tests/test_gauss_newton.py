"""The block-tridiagonal Gauss-Newton solver against dense numpy linear algebra.

Every reference here is assembled densely in numpy from the same per-pair Jacobians, so the
tests check both the block bookkeeping (which block goes where) and the numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from agents.gauss_newton import build_normal_equations, gauss_newton_step, solve_block_tridiagonal


def dense_jacobian(jac_current: np.ndarray, jac_next: np.ndarray, first_jac: np.ndarray | None = None) -> np.ndarray:
    """[B, rows, N d]: first-state group (if any) then pair t at block columns t and t+1."""
    batch, pairs, m, d = jac_current.shape
    n = pairs + 1
    k = 0 if first_jac is None else first_jac.shape[1]
    jac = np.zeros((batch, k + pairs * m, n * d))
    if first_jac is not None:
        jac[:, :k, :d] = first_jac
    for t in range(pairs):
        rows = slice(k + t * m, k + (t + 1) * m)
        jac[:, rows, t * d:(t + 1) * d] = jac_current[:, t]
        jac[:, rows, (t + 1) * d:(t + 2) * d] = jac_next[:, t]
    return jac


def dense_from_blocks(diag: np.ndarray, lower: np.ndarray) -> np.ndarray:
    batch, n, d, _ = diag.shape
    dense = np.zeros((batch, n * d, n * d))
    for t in range(n):
        dense[:, t * d:(t + 1) * d, t * d:(t + 1) * d] = diag[:, t]
    for t in range(n - 1):
        dense[:, (t + 1) * d:(t + 2) * d, t * d:(t + 1) * d] = lower[:, t]
        dense[:, t * d:(t + 1) * d, (t + 1) * d:(t + 2) * d] = np.swapaxes(lower[:, t], -1, -2)
    return dense


def blocks_from_dense(dense: np.ndarray, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    diag = np.stack([dense[:, t * d:(t + 1) * d, t * d:(t + 1) * d] for t in range(n)], axis=1)
    lower = np.zeros((dense.shape[0], n - 1, d, d))
    for t in range(n - 1):
        lower[:, t] = dense[:, (t + 1) * d:(t + 2) * d, t * d:(t + 1) * d]
    return diag, lower


def random_pair_problem(rng: np.random.Generator, batch: int, n: int, m: int, d: int, k: int | None):
    jac_current = rng.normal(size=(batch, n - 1, m, d))
    jac_next = rng.normal(size=(batch, n - 1, m, d))
    residuals = rng.normal(size=(batch, n - 1, m))
    first_jac = None if k is None else rng.normal(size=(batch, k, d))
    first_residual = None if k is None else rng.normal(size=(batch, k))
    return jac_current, jac_next, residuals, first_jac, first_residual


def random_block_tridiagonal(rng: np.random.Generator, batch: int, n: int, d: int):
    """A well-conditioned SPD block-tridiagonal matrix (Gram matrix of a bidiagonal J, + I)."""
    jac_current, jac_next, _, first_jac, _ = random_pair_problem(rng, batch, n, d + 2, d, d)
    jac = dense_jacobian(jac_current, jac_next, first_jac)
    dense = np.swapaxes(jac, -1, -2) @ jac + np.eye(n * d)
    diag, lower = blocks_from_dense(dense, n, d)
    return dense, diag, lower, rng.normal(size=(batch, n, d))


@pytest.mark.parametrize("batch,n,d", [(1, 1, 3), (3, 1, 5), (1, 2, 1), (2, 2, 4), (4, 7, 6), (2, 12, 3)])
def test_solver_matches_dense_solve(batch, n, d):
    rng = np.random.default_rng(100 * n + d)
    dense, diag, lower, rhs = random_block_tridiagonal(rng, batch, n, d)
    assert np.max(np.linalg.cond(dense)) < 1e6  # the comparison below is meaningful

    solution = solve_block_tridiagonal(diag, lower, rhs).numpy()

    assert solution.shape == (batch, n, d)
    reference = np.linalg.solve(dense, rhs.reshape(batch, n * d, 1)).reshape(batch, n, d)
    np.testing.assert_allclose(solution, reference, rtol=0, atol=1e-8 * np.abs(reference).max())
    residual = dense @ solution.reshape(batch, n * d, 1) - rhs.reshape(batch, n * d, 1)
    assert np.abs(residual).max() < 1e-9 * np.abs(dense).max()


def test_solver_with_horizon_unknown_at_trace_time_uses_the_loop_and_agrees():
    """With N = None in the signature the recursion runs in tf.while_loop: same answers."""
    d = 4
    spec = [tf.TensorSpec([None, None, d, d], tf.float64), tf.TensorSpec([None, None, d, d], tf.float64),
            tf.TensorSpec([None, None, d], tf.float64)]
    solve = tf.function(solve_block_tridiagonal, input_signature=spec)
    rng = np.random.default_rng(7)
    for batch, n in [(2, 1), (1, 2), (3, 9)]:
        dense, diag, lower, rhs = random_block_tridiagonal(rng, batch, n, d)
        solution = solve(diag, lower, rhs).numpy()
        reference = np.linalg.solve(dense, rhs.reshape(batch, n * d, 1)).reshape(batch, n, d)
        np.testing.assert_allclose(solution, reference, rtol=0, atol=1e-8 * np.abs(reference).max())


def test_solver_reads_only_the_lower_triangle_of_diagonal_blocks():
    rng = np.random.default_rng(3)
    dense, diag, lower, rhs = random_block_tridiagonal(rng, 2, 5, 4)
    corrupted = diag + np.triu(rng.normal(size=diag.shape), k=1)
    np.testing.assert_allclose(
        solve_block_tridiagonal(corrupted, lower, rhs).numpy(),
        solve_block_tridiagonal(diag, lower, rhs).numpy(), rtol=0, atol=1e-12,
    )


@pytest.mark.parametrize("with_first", [True, False])
@pytest.mark.parametrize("batch,n,m,d", [(2, 1, 3, 4), (1, 2, 5, 3), (3, 6, 4, 5)])
def test_build_normal_equations_matches_dense_assembly(batch, n, m, d, with_first):
    rng = np.random.default_rng(10 * n + m)
    k = 2 if with_first else None
    jac_current, jac_next, residuals, first_jac, first_residual = random_pair_problem(rng, batch, n, m, d, k)
    damping = rng.uniform(0.1, 2.0, size=batch)  # one mu per plan

    diag, lower, rhs = (x.numpy() for x in build_normal_equations(
        jac_current, jac_next, residuals, damping, first_jac, first_residual))

    assert diag.shape == (batch, n, d, d) and lower.shape == (batch, n - 1, d, d) and rhs.shape == (batch, n, d)
    jac = dense_jacobian(jac_current, jac_next, first_jac)
    r = residuals.reshape(batch, -1) if k is None else np.concatenate([first_residual, residuals.reshape(batch, -1)], 1)
    expected_matrix = np.swapaxes(jac, -1, -2) @ jac + damping[:, None, None] * np.eye(n * d)
    expected_rhs = np.einsum("bri,br->bi", jac, r).reshape(batch, n, d)
    np.testing.assert_allclose(dense_from_blocks(diag, lower), expected_matrix, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rhs, expected_rhs, rtol=0, atol=1e-12)
    # The documented orientation: lower[t] = jac_next[t]^T jac_current[t], block (t+1, t).
    np.testing.assert_allclose(lower, np.swapaxes(jac_next, -1, -2) @ jac_current, rtol=0, atol=1e-12)


def test_build_with_a_scalar_damping_adds_it_to_every_diagonal_entry():
    rng = np.random.default_rng(5)
    args = random_pair_problem(rng, 2, 3, 4, 3, 2)
    without, _, _ = build_normal_equations(*args[:3], 0.0, *args[3:])
    with_mu, _, _ = build_normal_equations(*args[:3], 0.25, *args[3:])
    np.testing.assert_allclose((with_mu - without).numpy(), np.broadcast_to(0.25 * np.eye(3), (2, 3, 3, 3)), atol=1e-12)


def test_first_jac_and_first_residual_must_come_together():
    rng = np.random.default_rng(0)
    jac_current, jac_next, residuals, first_jac, _ = random_pair_problem(rng, 1, 2, 3, 2, 2)
    with pytest.raises(ValueError, match="together"):
        build_normal_equations(jac_current, jac_next, residuals, 1e-3, first_jac=first_jac)


@pytest.mark.parametrize("batch,n,d", [(1, 1, 3), (2, 2, 3), (3, 8, 4)])
def test_one_step_on_linear_least_squares_lands_on_the_minimiser(batch, n, d):
    """r(X) = J X - c with pair structure: one undamped step from anywhere is the lstsq answer."""
    rng = np.random.default_rng(n)
    m, k = d + 1, d
    jac_current, jac_next, _, first_jac, _ = random_pair_problem(rng, batch, n, m, d, k)
    target = rng.normal(size=(batch, k + (n - 1) * m))
    jac = dense_jacobian(jac_current, jac_next, first_jac)
    start = 10.0 * rng.normal(size=(batch, n, d))

    r = (jac @ start.reshape(batch, n * d, 1))[..., 0] - target
    delta = gauss_newton_step(
        jac_current, jac_next, r[:, k:].reshape(batch, n - 1, m), 1e-12, first_jac, r[:, :k]
    ).numpy()
    end = (start - delta).reshape(batch, n * d)

    for b in range(batch):
        minimiser = np.linalg.lstsq(jac[b], target[b], rcond=None)[0]
        np.testing.assert_allclose(end[b], minimiser, rtol=0, atol=1e-7 * max(1.0, np.abs(minimiser).max()))
    assert np.abs(start.reshape(batch, -1) - end).max() > 1.0  # the step did move the plan


def test_damping_shortens_the_step():
    rng = np.random.default_rng(11)
    args = random_pair_problem(rng, 1, 5, 4, 3, 3)
    norms = [np.linalg.norm(gauss_newton_step(*args[:3], mu, *args[3:]).numpy()) for mu in (1e-3, 1.0, 100.0)]
    assert norms[0] > norms[1] > norms[2] > 0


def test_repeated_steps_solve_a_nonlinear_collocation_problem():
    """Plan x_{t+1} = tanh(A x_t) with x_1 pinned: Gauss-Newton drives the residuals to zero."""
    rng = np.random.default_rng(2)
    batch, n, d = 2, 6, 3
    weights = 0.8 * rng.normal(size=(batch, d, d))
    x_obs = rng.normal(size=(batch, d))
    plan = tf.Variable(rng.normal(size=(batch, n, d)))

    @tf.function
    def iterate():
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(plan)
            current, nxt = plan[:, :-1], plan[:, 1:]
            residuals = nxt - tf.tanh(tf.einsum("bij,btj->bti", weights, current))
            first = 1000.0 * (plan[:, 0] - x_obs)
        # d r_t / d x_t = -diag(1 - tanh^2) A, d r_t / d x_{t+1} = I.
        slope = 1.0 - tf.tanh(tf.einsum("bij,btj->bti", weights, current)) ** 2
        jac_current = -slope[..., None] * weights[:, None]
        jac_next = tf.broadcast_to(tf.eye(d, dtype=tf.float64), jac_current.shape)
        first_jac = tf.broadcast_to(1000.0 * tf.eye(d, dtype=tf.float64), [batch, d, d])
        del tape
        plan.assign_sub(gauss_newton_step(jac_current, jac_next, residuals, 1e-3, first_jac, first))
        return tf.reduce_max(tf.abs(residuals)), tf.reduce_max(tf.abs(first))

    initial, _ = iterate()
    for _ in range(8):
        final, first_error = iterate()
    assert initial.numpy() > 0.1
    assert final.numpy() < 1e-9 and first_error.numpy() < 1e-6
    rollout = [x_obs]
    for _ in range(n - 1):
        rollout.append(np.tanh(np.einsum("bij,bj->bi", weights, rollout[-1])))
    np.testing.assert_allclose(plan.numpy(), np.stack(rollout, 1), rtol=0, atol=1e-8)


def test_float32_option_is_close_to_float64_and_keeps_the_input_dtype():
    rng = np.random.default_rng(4)
    jac_current, jac_next, residuals, first_jac, first_residual = random_pair_problem(rng, 2, 10, 6, 5, 5)
    args64 = (jac_current, jac_next, residuals, 1e-1, first_jac, first_residual)
    reference = gauss_newton_step(*args64).numpy()

    in_float32 = gauss_newton_step(*args64, dtype=tf.float32)
    assert in_float32.dtype == tf.float64  # computed in float32, returned in the input dtype
    scale = np.abs(reference).max()
    error32 = np.abs(in_float32.numpy() - reference).max() / scale
    assert 1e-9 < error32 < 1e-4  # really float32 arithmetic (measured ~1e-6), and still close

    inputs32 = [tf.constant(a, tf.float32) for a in (jac_current, jac_next, residuals)]
    firsts32 = [tf.constant(a, tf.float32) for a in (first_jac, first_residual)]
    via_float64 = gauss_newton_step(*inputs32, 1e-1, *firsts32)
    assert via_float64.dtype == tf.float32
    # Default dtype float64: only the float32 rounding of inputs and output remains (~1e-7).
    error_rounding = np.abs(via_float64.numpy() - reference).max() / scale
    assert error_rounding < 1e-6 and error_rounding < error32


def test_step_in_tf_function_equals_eager():
    rng = np.random.default_rng(9)
    args = random_pair_problem(rng, 3, 4, 5, 4, 2)
    eager = gauss_newton_step(*args[:3], 1e-3, *args[3:]).numpy()
    traced = tf.function(gauss_newton_step)(*args[:3], 1e-3, *args[3:]).numpy()
    np.testing.assert_allclose(traced, eager, rtol=0, atol=1e-10 * np.abs(eager).max())
