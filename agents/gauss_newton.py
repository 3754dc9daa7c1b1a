"""Block-tridiagonal Gauss-Newton solver for the LatCo planner.

LatCo optimises a plan X = (x_1 .. x_N), each x_t a vector of size d, by Gauss-Newton on a sum
of squared residuals. Every residual group depends on at most two consecutive plan entries:

* pair groups r_t(x_t, x_{t+1}), t = 1 .. N-1, each of size m, and
* optionally one group r_0(x_1) of size k (pinning the first state to the observation).

The Jacobian is therefore block bidiagonal and the Gauss-Newton matrix J^T J + mu I is block
tridiagonal (N diagonal d x d blocks, N-1 off-diagonal ones). Solving it by block Cholesky
costs O(N d^3) time and O(N d^2) memory, against O((N d)^3) and O((N d)^2) for a dense solve:
at paper size (N = 51, d = 234) the dense matrix would have 1.4e8 entries.

Convention. We take Gauss-Newton on f(X) = 0.5 * ||r(X)||^2, whose gradient is J^T r and
whose Gauss-Newton Hessian is J^T J. The damping mu is added to the diagonal of J^T J, so a
step solves

    (J^T J + mu I) delta = J^T r,        X <- X - delta   (full step, no line search).

The original release writes the same step for f = ||r||^2, i.e. (2 J^T J + mu I) delta = 2 J^T r.
Both give the same delta when this module is called with ``damping = mu / 2``; for mu = 1e-3
the difference is immaterial, but pass ``damping=gn_damping / 2`` to match it exactly.

All functions take a leading batch dimension B of independent plans and use TensorFlow ops
only, so they can be wrapped in ``tf.function``. The recursion over time is a Python loop
unrolled at trace time when N is static (the usual case: the horizon is fixed), and a
``tf.while_loop`` otherwise. Do not wrap them in ``tf.function(jit_compile=True)`` on CPU:
XLA expands the Cholesky and triangular solves into scalar loops, measured 20x slower.

Cost at paper size (N = 31, d = 234, m = 235): the three J^T J products per pair are ~2.3
GFLOP and dominate; the block Cholesky recursion is ~1.3 GFLOP. See bench/gauss_newton_speed.py.
The products are generic (dense jac_next); LatCo's jac_next is mostly s * I and zeros, so a
caller that knows this could form Jn^T Jn and Jn^T Jc far more cheaply.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["build_normal_equations", "solve_block_tridiagonal", "gauss_newton_step"]

TensorLike = tf.Tensor | float


def _gram(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """a^T b for stacks of matrices [..., m, i] x [..., m, j] -> [..., i, j].

    One batched GEMM over all plans and time steps rather than one op per step: the products
    are independent, and a single large op keeps both cores busy with little op overhead.
    """
    return tf.einsum("btmi,btmj->btij", a, b)


def build_normal_equations(
    jac_current: tf.Tensor,
    jac_next: tf.Tensor,
    residuals: tf.Tensor,
    damping: TensorLike,
    first_jac: tf.Tensor | None = None,
    first_residual: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Assemble the blocks of J^T J + damping * I and of J^T r.

    Why: the solver only ever needs these O(N d^2) blocks, never the dense Jacobian.

    Args:
      jac_current: [B, N-1, m, d], d r_t / d x_t.
      jac_next: [B, N-1, m, d], d r_t / d x_{t+1}.
      residuals: [B, N-1, m], r_t.
      damping: Levenberg damping mu added to every diagonal entry; a scalar or a [B] tensor
        (one value per plan).
      first_jac: optional [B, k, d], d r_0 / d x_1 of a residual group on x_1 alone.
      first_residual: optional [B, k], r_0; given if and only if ``first_jac`` is.

    Returns:
      diag: [B, N, d, d], diag[t] = sum of J_g^T J_g over the groups g touching x_t, + mu I.
      lower: [B, N-1, d, d], lower[t] = block at (row t+1, column t) = jac_next[t]^T
        jac_current[t]. The upper blocks are its transposes.
      rhs: [B, N, d], the gradient J^T r of 0.5 * ||r||^2.
    """
    if (first_jac is None) != (first_residual is None):
        raise ValueError("first_jac and first_residual must be given together")
    jac_current = tf.convert_to_tensor(jac_current)
    dtype = jac_current.dtype
    jac_next = tf.convert_to_tensor(jac_next, dtype)
    residuals = tf.convert_to_tensor(residuals, dtype)
    if jac_current.shape.rank != 4 or jac_next.shape.rank != 4 or residuals.shape.rank != 3:
        raise ValueError("expected jac_current, jac_next [B, N-1, m, d] and residuals [B, N-1, m]")
    d = jac_current.shape[-1] if jac_current.shape[-1] is not None else tf.shape(jac_current)[-1]

    # Pair t contributes Jc^T Jc to block (t, t), Jn^T Jn to (t+1, t+1) and Jn^T Jc to (t+1, t).
    cc = _gram(jac_current, jac_current)
    nn = _gram(jac_next, jac_next)
    lower = _gram(jac_next, jac_current)
    no_pad = [0, 0]
    diag = tf.pad(cc, [no_pad, [0, 1], no_pad, no_pad]) + tf.pad(nn, [no_pad, [1, 0], no_pad, no_pad])

    # Gradient: Jc^T r_t lands on x_t, Jn^T r_t on x_{t+1}.
    gc = tf.einsum("btmi,btm->bti", jac_current, residuals)
    gn = tf.einsum("btmi,btm->bti", jac_next, residuals)
    rhs = tf.pad(gc, [no_pad, [0, 1], no_pad]) + tf.pad(gn, [no_pad, [1, 0], no_pad])

    if first_jac is not None:
        first_jac = tf.convert_to_tensor(first_jac, dtype)
        first_residual = tf.convert_to_tensor(first_residual, dtype)
        n_pairs = tf.shape(jac_current)[1]
        first_block = tf.einsum("bki,bkj->bij", first_jac, first_jac)[:, None]
        first_grad = tf.einsum("bki,bk->bi", first_jac, first_residual)[:, None]
        diag += tf.pad(first_block, [no_pad, [0, n_pairs], no_pad, no_pad])
        rhs += tf.pad(first_grad, [no_pad, [0, n_pairs], no_pad])

    mu = tf.reshape(tf.cast(damping, dtype), [-1, 1, 1, 1])  # scalar or per-plan [B]
    diag += mu * tf.eye(d, dtype=dtype)
    return diag, lower, rhs


def _factor_step(
    chol: tf.Tensor, lower_t: tf.Tensor, reduced_rhs: tf.Tensor, diag_next: tf.Tensor, rhs_next: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """One step of the block Cholesky recursion, fused with forward substitution.

    With S_t = C_t C_t^T the current Schur complement and b'_t the reduced right-hand side:
      W_t      = C_t^{-1} B_t^T           (W_t^T = L_t, the sub-diagonal block of the factor)
      y_t      = C_t^{-1} b'_t
      S_{t+1}  = D_{t+1} - W_t^T W_t
      b'_{t+1} = b_{t+1} - W_t^T y_t
    Returns W_t, y_t, S_{t+1}, b'_{t+1}. (Two solves rather than one on [B_t^T, b'_t] avoid
    the concatenation and slicing copies, which measured slower.)
    """
    w = tf.linalg.triangular_solve(chol, tf.linalg.matrix_transpose(lower_t), lower=True)
    y = tf.linalg.triangular_solve(chol, reduced_rhs[..., None], lower=True)[..., 0]
    schur = diag_next - tf.matmul(w, w, transpose_a=True)
    return w, y, schur, rhs_next - tf.linalg.matvec(w, y, transpose_a=True)


def _back_step(chol: tf.Tensor, w: tf.Tensor, y: tf.Tensor, x_next: tf.Tensor) -> tf.Tensor:
    """Backward substitution with C^T: x_t = C_t^{-T} (y_t - L_t^T x_{t+1}), L_t^T = W_t."""
    v = y - tf.linalg.matvec(w, x_next)
    return tf.linalg.triangular_solve(chol, v[..., None], lower=True, adjoint=True)[..., 0]


def _solve_unrolled(diag: tf.Tensor, lower: tf.Tensor, rhs: tf.Tensor, n: int) -> tf.Tensor:
    chols, ws, ys = [], [], []
    schur, reduced = diag[:, 0], rhs[:, 0]
    for t in range(n - 1):
        chol = tf.linalg.cholesky(schur)
        w, y, schur, reduced = _factor_step(chol, lower[:, t], reduced, diag[:, t + 1], rhs[:, t + 1])
        chols.append(chol)
        ws.append(w)
        ys.append(y)
    chol = tf.linalg.cholesky(schur)
    x = tf.linalg.triangular_solve(chol, reduced[..., None], lower=True)[..., 0]
    x = tf.linalg.triangular_solve(chol, x[..., None], lower=True, adjoint=True)[..., 0]
    xs = [x]
    for t in reversed(range(n - 1)):
        x = _back_step(chols[t], ws[t], ys[t], x)
        xs.append(x)
    return tf.stack(xs[::-1], axis=1)


def _solve_while(diag: tf.Tensor, lower: tf.Tensor, rhs: tf.Tensor) -> tf.Tensor:
    """Same recursion as :func:`_solve_unrolled` for a horizon known only at run time."""
    n = tf.shape(diag)[1]
    # Time-major views so that TensorArrays index the leading axis.
    diag_tm = tf.transpose(diag, [1, 0, 2, 3])
    lower_tm = tf.transpose(lower, [1, 0, 2, 3])
    rhs_tm = tf.transpose(rhs, [1, 0, 2])
    chols = tf.TensorArray(diag.dtype, size=n, element_shape=diag.shape[:1].concatenate(diag.shape[2:]))
    ws = tf.TensorArray(diag.dtype, size=n - 1, element_shape=lower.shape[:1].concatenate(lower.shape[2:]))
    ys = tf.TensorArray(rhs.dtype, size=n - 1, element_shape=rhs.shape[:1].concatenate(rhs.shape[2:]))

    def forward(t, schur, reduced, chols, ws, ys):
        chol = tf.linalg.cholesky(schur)
        w, y, schur, reduced = _factor_step(chol, lower_tm[t], reduced, diag_tm[t + 1], rhs_tm[t + 1])
        return t + 1, schur, reduced, chols.write(t, chol), ws.write(t, w), ys.write(t, y)

    _, schur, reduced, chols, ws, ys = tf.while_loop(
        lambda t, *_: t < n - 1, forward, (tf.constant(0), diag_tm[0], rhs_tm[0], chols, ws, ys)
    )
    chol = tf.linalg.cholesky(schur)
    chols = chols.write(n - 1, chol)
    x = tf.linalg.triangular_solve(chol, reduced[..., None], lower=True)[..., 0]
    x = tf.linalg.triangular_solve(chol, x[..., None], lower=True, adjoint=True)[..., 0]
    xs = tf.TensorArray(rhs.dtype, size=n, element_shape=x.shape).write(n - 1, x)

    def backward(t, x, xs):
        x = _back_step(chols.read(t), ws.read(t), ys.read(t), x)
        return t - 1, x, xs.write(t, x)

    _, _, xs = tf.while_loop(lambda t, *_: t >= 0, backward, (n - 2, x, xs))
    return tf.transpose(xs.stack(), [1, 0, 2])


def solve_block_tridiagonal(diag: tf.Tensor, lower: tf.Tensor, rhs: tf.Tensor) -> tf.Tensor:
    """Solve A x = rhs for a symmetric positive definite block-tridiagonal A, batched.

    Why: this is the Gauss-Newton system of LatCo; block Cholesky solves it in O(N d^3) time
    and O(N d^2) memory without forming the dense (N d) x (N d) matrix.

    A has diagonal blocks ``diag[:, t]`` and blocks ``lower[:, t]`` at (row t+1, column t)
    (their transposes above the diagonal). Only the lower triangles of the diagonal blocks are
    read. Factorisation A = L L^T with L block lower bidiagonal: diagonal blocks C_t (lower
    triangular Cholesky factors of the Schur complements S_t) and sub-diagonal blocks
    L_t = B_t C_t^{-T}, where S_1 = D_1 and S_{t+1} = D_{t+1} - L_t L_t^T.

    Args:
      diag: [B, N, d, d] diagonal blocks.
      lower: [B, N-1, d, d] sub-diagonal blocks ([B, 0, d, d] when N = 1).
      rhs: [B, N, d].

    Returns:
      [B, N, d], the solution, in the dtype of the inputs (use float64 for accuracy).
    """
    diag = tf.convert_to_tensor(diag)
    lower = tf.convert_to_tensor(lower, diag.dtype)
    rhs = tf.convert_to_tensor(rhs, diag.dtype)
    n = diag.shape[1]
    if n is None:
        return _solve_while(diag, lower, rhs)
    if n == 0:
        return rhs
    return _solve_unrolled(diag, lower, rhs, n)


def gauss_newton_step(
    jac_current: tf.Tensor,
    jac_next: tf.Tensor,
    residuals: tf.Tensor,
    damping: TensorLike,
    first_jac: tf.Tensor | None = None,
    first_residual: tf.Tensor | None = None,
    dtype: tf.DType = tf.float64,
) -> tf.Tensor:
    """The damped Gauss-Newton step delta; the caller applies X <- X - delta.

    Why: the LatCo planner makes one such step per iteration; solving in float64 (default)
    keeps the pinning residual (weight 1000, i.e. 1e6 in J^T J) from swamping the small
    damping. The inputs are cast to ``dtype`` for build and solve, the result is cast back.

    Shapes as in :func:`build_normal_equations`; returns delta [B, N, d] in the dtype of
    ``jac_current``.
    """
    jac_current = tf.convert_to_tensor(jac_current)
    out_dtype = jac_current.dtype

    def cast(x: tf.Tensor | None) -> tf.Tensor | None:
        return None if x is None else tf.cast(x, dtype)

    diag, lower, rhs = build_normal_equations(
        cast(jac_current), cast(jac_next), cast(residuals), tf.cast(damping, dtype),
        cast(first_jac), cast(first_residual),
    )
    return tf.cast(solve_block_tridiagonal(diag, lower, rhs), out_dtype)
