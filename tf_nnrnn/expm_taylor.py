"""The matrix exponential by optimized Taylor polynomials, and its gradient.

Bader, Blanes & Casas, "Computing the matrix exponential with an optimized
Taylor polynomial approximation" (Mathematics 7, 1174, 2019): the Taylor
polynomial `T_m(X) = Σ_{k≤m} X^k/k!` of degree 4, 8, 12 or 18 evaluated
with 2, 3, 4 or 5 matrix products and *no* linear solve, then `s`
squarings: `expm(A) ≈ T_m(A/2^s)^(2^s)`. The degree is the lowest whose
`θ_m` bounds `‖A‖₁` (the relative backward error of `T_m` is at most the
unit roundoff `u` for `‖X‖₁ ≤ θ_m`, Higham's criterion), else 18 with `s =
⌈log₂(‖A‖₁/θ₁₈)⌉`.

Against the Padé approximant of `tf_nnrnn.parametrizations` (degree 3, 5
or 7 in float32: 2–4 products *and* an `n × n` LU solve, which on a CPU
costs about 5 products), this does the forward in 2–5 products and the
gradient in twice as many: at `n = 1024` about 0.6× the Padé forward +
gradient (`benchmarks/param_cost.py`).

The gradient is the adjoint Fréchet derivative. `T_m` and the squarings
are polynomials in `X` with real coefficients, for which `L(Xᵀ, G) =
L(X, Gᵀ)ᵀ`; so the backward pass differentiates the forward's own
evaluation scheme in the direction `E = Gᵀ/2^s` (each product `P = LR`
gives `dP = dL R + L dR`), reusing the products the forward kept, and
carries `dR ← R dR + dR R` through the squarings (Al-Mohy & Higham 2009,
the same scheme as for Padé).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tf_nnrnn._scaling import choose_degree, inv_pow2, square

__all__ = ["expm_taylor", "taylor_choice", "TAYLOR_THETA"]

#: `(m, θ_m)`: the largest `‖X‖₁` for which `T_m`'s relative backward
#: error is at most `u` (2^-53 double, 2^-24 single); Bader, Blanes &
#: Casas (2019), Table; `tests/test_expm_taylor.py` recomputes them from
#: the series of `log(e^-x T_m(x))`.
TAYLOR_THETA = {
    "double": (
        (4, 3.397168839976962e-4),
        (8, 4.991228871115323e-2),
        (12, 2.996158913811580e-1),
        (18, 1.090863719290036e0),
    ),
    "single": (
        (4, 5.116619363445086e-2),
        (8, 5.800524627688768e-1),
        (12, 1.461661507209034e0),
        (18, 3.010066362817634e0),
    ),
}

# Degree 8 (3 products), Bader, Blanes & Casas (2019), eq. (13).
_R177 = float(np.sqrt(177.0))
_X3 = 2.0 / 3.0
_X1 = _X3 * (1.0 + _R177) / 88.0
_X2 = _X3 * (1.0 + _R177) / 352.0
_X4 = (-271.0 + 29.0 * _R177) / (315.0 * _X3)
_X5 = 11.0 * (-1.0 + _R177) / (1260.0 * _X3)
_X6 = 11.0 * (-9.0 + _R177) / (5040.0 * _X3)
_X7 = (89.0 - _R177) / (5040.0 * _X3**2)
_Y2 = (857.0 - 58.0 * _R177) / 630.0

# Degree 12 (4 products): B_i = Σ_j c_ij X^j over (I, X, X², X³);
# A6 = B2 + B3², T12 = B0 + (B1 + A6) A6.
_B12 = (
    (9.0198e-16, 0.46932117595418237389, -0.20099424927047284052,
     -0.04623946134063071740),
    (5.31597895759871264183, 1.19926790417132231573, 0.01179296240992997031,
     0.01108844528519167989),
    (0.18188869982170434744, 0.05502798439925399070, 0.09351590770535414968,
     0.00610700528898058230),
    (-2.0861320e-13, -0.13181061013830184015, -0.02027855540589259079,
     -0.00675951846863086359),
)  # fmt: skip

# Degree 18 (5 products): B_i over (I, X, X², X³, X⁶);
# A9 = B0 B4 + B3, T18 = B1 + (B2 + A9) A9.
_B18 = (
    (0.0, -1.00365581030144618291e-01, -8.02924648241156932449e-03,
     -8.92138498045729985177e-04, 0.0),
    (0.0, 3.97849749499645077844e-01, 1.36783778460411720168e00,
     4.98289622525382669416e-01, -6.37898194594723280150e-04),
    (-1.09676396052962061844e01, 1.68015813878906206114e00,
     5.71779846478865511061e-02, -6.98210122488052056106e-03,
     3.34975017086070470649e-05),
    (-9.04316832390810593223e-02, -6.76404519071381882256e-02,
     6.75961301770459654925e-02, 2.95552570429315521194e-02,
     -1.39180257516060693404e-05),
    (0.0, 0.0, -9.23364619367118555360e-02, -1.69364939002081722752e-02,
     -1.40086798182036094347e-05),
)  # fmt: skip

#: Products kept from the forward for the gradient (slots p1..p4).
_SLOTS = 4


def _table(dtype):
    return TAYLOR_THETA["double" if dtype == tf.float64 else "single"]


def taylor_choice(a: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Degree index and squarings `(index, s)` of `expm_taylor(A)`.

    The lowest degree of (4, 8, 12, 18) whose `θ_m ≥ ‖A‖₁` with `s = 0`;
    past `θ₁₈`, degree 18 with `s = ⌈log₂(‖A‖₁/θ₁₈)⌉`.

    Example:
        >>> index, s = taylor_choice(tf.fill((4, 4), 0.01))
        >>> int(index), int(s)  # ‖A‖₁ = 0.04 ≤ θ₄: degree 4
        (0, 0)
    """
    return choose_degree(a, [t for _, t in _table(a.dtype)])


# Sums of three or more large terms are formed by one `tensordot` (`_lin`)
# or one product with a doubled inner dimension (`_mm2`), never by chained
# additions: Grappler rewrites such chains into an `AddN` whose temporary
# variable leaks out of a not-taken `tf.switch_case` branch, and the next
# call then fails ("AlreadyExistsError ... tmp_var").


def _lin(coefs, terms):
    """`Σ_j c_ij T_j` for each row `c_i` of `coefs`: one `tensordot`."""
    c = tf.constant(coefs, terms[0].dtype)
    return tf.unstack(tf.tensordot(c, tf.stack(terms), 1), num=len(coefs))


def _mm2(a, b, c, d):
    """`A B + C D` as one product: `[A, C] [B; D]`."""
    return tf.concat([a, c], -1) @ tf.concat([b, d], -2)


def _eye_like(x):
    """The identity of `x`'s shape `(..., n, n)`."""
    shape = tf.shape(x)
    return tf.eye(shape[-1], batch_shape=shape[:-2], dtype=x.dtype)


def _forward(x, m):
    """`(T_m(X), [kept products])` for degree `m`."""
    eye = _eye_like(x)
    x2 = x @ x
    if m == 4:
        base, inner = _lin(((1, 1, 0), (0.5, 1 / 6, 1 / 24)), [eye, x, x2])
        return base + x2 @ inner, [x2]
    if m == 8:
        x4 = x2 @ (_X1 * x + _X2 * x2)
        base, right = _lin(
            ((1, 1, _Y2, 0), (_X4, _X5, _X6, _X7)), [eye, x, x2, x4]
        )
        return base + (_X3 * x2 + x4) @ right, [x2, x4]
    x3 = x2 @ x
    if m == 12:
        b = _lin(_B12, [eye, x, x2, x3])
        a6 = b[2] + b[3] @ b[3]
        return b[0] + (b[1] + a6) @ a6, [x2, x3, a6]
    x6 = x3 @ x3
    b = _lin(_B18, [eye, x, x2, x3, x6])
    a9 = b[0] @ b[4] + b[3]
    return b[1] + (b[2] + a9) @ a9, [x2, x3, x6, a9]


def _derivative(x, kept, e, m):
    """`L_{T_m}(X, E)`: `_forward`'s scheme differentiated in direction
    `E`, from the products it kept (linear combinations are recomputed)."""
    eye = _eye_like(x)
    x2 = kept[0]
    d2 = _mm2(e, x, x, e)
    if m == 4:
        (inner,) = _lin(((0.5, 1 / 6, 1 / 24),), [eye, x, x2])
        (dinner,) = _lin(((1 / 6, 1 / 24),), [e, d2])
        return e + _mm2(d2, inner, x2, dinner)
    if m == 8:
        x4 = kept[1]
        u, du = _X1 * x + _X2 * x2, _X1 * e + _X2 * d2
        d4 = _mm2(d2, u, x2, du)
        (right,) = _lin(((_X4, _X5, _X6, _X7),), [eye, x, x2, x4])
        base, dright = _lin(((1, _Y2, 0), (_X5, _X6, _X7)), [e, d2, d4])
        left, dleft = _X3 * x2 + x4, _X3 * d2 + d4
        return base + _mm2(dleft, right, left, dright)
    x3 = kept[1]
    d3 = _mm2(d2, x, x2, e)
    if m == 12:
        a6 = kept[2]
        b = _lin(_B12, [eye, x, x2, x3])
        db = _lin([c[1:] for c in _B12], [e, d2, d3])
        da6 = db[2] + _mm2(db[3], b[3], b[3], db[3])
        return db[0] + _mm2(db[1] + da6, a6, b[1] + a6, da6)
    x6, a9 = kept[2], kept[3]
    d6 = _mm2(d3, x3, x3, d3)
    b = _lin(_B18, [eye, x, x2, x3, x6])
    db = _lin([c[1:] for c in _B18], [e, d2, d3, d6])
    da9 = _mm2(db[0], b[4], b[0], db[4]) + db[3]
    return db[1] + _mm2(db[2] + da9, a9, b[2] + a9, da9)


def _branches(fn, degrees):
    return [(lambda m=m: fn(m)) for m in degrees]


def expm_taylor(a: tf.Tensor) -> tf.Tensor:
    """`expm(A)` by scaling, an optimized Taylor polynomial, and squaring.

    `expm(A) ≈ T_m(A/2^s)^(2^s)`, `m ∈ {4, 8, 12, 18}` and `s` from
    `‖A‖₁` (`taylor_choice`); 2–5 products and `s` squarings, no solve.
    Its gradient is the adjoint Fréchet derivative of that same
    approximant (module docstring). Graph- and XLA-compatible; the degree
    is chosen at run time (`tf.switch_case`). No check of finiteness here:
    `tf_nnrnn.parametrizations.expm(..., gradient="taylor")` adds it.

    Args:
        a: matrix `(n, n)`, float32 or float64.

    Returns:
        `expm(A)`; for skew `A` orthogonal to the unit roundoff.

    Example:
        >>> a = tf.constant([[0.0, 1.0], [-1.0, 0.0]])
        >>> w = expm_taylor(a)  # a rotation by 1 radian
        >>> np.allclose(w.numpy(), [[0.5403023, 0.84147096],
        ...                         [-0.84147096, 0.5403023]])
        True
    """
    return _expm_taylor(tf.convert_to_tensor(a))


@tf.custom_gradient
def _expm_taylor(a):
    degrees = tuple(m for m, _ in _table(a.dtype))
    index, s = taylor_choice(a)
    x = a * inv_pow2(s, a.dtype)

    def forward(m):
        t, kept = _forward(x, m)
        return [t] + kept + [tf.zeros_like(x)] * (_SLOTS - len(kept))

    t, *kept = tf.switch_case(index, _branches(forward, degrees))
    result = square(t, s)

    def grad(upstream):
        with tf.name_scope("expm_gradient"):
            return adjoint(upstream)

    def adjoint(upstream):
        # L_exp(Aᵀ, G) = L_exp(A, Gᵀ)ᵀ; d(A/2^s) = E/2^s.
        e = tf.linalg.matrix_transpose(upstream) * inv_pow2(s, a.dtype)
        de = tf.switch_case(
            index, _branches(lambda m: _derivative(x, kept, e, m), degrees)
        )

        def body(i, r, dr):
            # The square after the last step is not needed: skip it.
            square = tf.cond(i + 1 < s, lambda: r @ r, lambda: r)
            return i + 1, square, _mm2(r, dr, dr, r)

        _, _, de = tf.while_loop(
            lambda i, *_: i < s, body, (tf.constant(0), t, de)
        )
        return tf.linalg.matrix_transpose(de)

    return result, grad
