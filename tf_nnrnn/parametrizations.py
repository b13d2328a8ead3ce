"""Pure tensor functions that map free parameters to recurrent matrices.

Every function here is a trivialization in the sense of geotorch: it maps an
unconstrained tensor onto a manifold (skew-symmetric matrices, SO(n)) or
assembles the nnRNN matrix `V = P (Λ + T) Pᵀ` from its parts. They are
stateless and work on batches of matrices (`(..., n, n)`).

Conventions: the functions return matrices in the papers' column convention
(`h_t = V h_{t-1}`); the cells transpose once to Keras' row convention
(`h_t = h_{t-1} @ W`, `W = Vᵀ`).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tf_nnrnn._scaling import choose_degree, inv_pow2, square
from tf_nnrnn.expm_taylor import expm_taylor

__all__ = [
    "skew",
    "expm",
    "expm_frechet_adjoint",
    "expm_frechet_adjoint_block",
    "expm_frechet_adjoint_eig",
    "expm_frechet_pade",
    "expm_pade_choice",
    "EXPM_GRADIENTS",
    "cayley",
    "rotation_blocks",
    "triangular_mask",
    "nnrnn_matrix",
    "orthogonality_error",
    "in_orthogonal",
]


def skew(x: tf.Tensor) -> tf.Tensor:
    """Skew-symmetric matrix from the strict upper triangle of `x`.

    `S = triu(X, 1) - triu(X, 1)ᵀ`; only the n(n-1)/2 entries above the
    diagonal are free parameters, so the gradient below it is zero.

    Args:
        x: tensor of shape `(..., n, n)`.

    Returns:
        `S`, same shape, with `Sᵀ = -S`.

    Example:
        >>> s = skew(tf.constant([[0.0, 1.0], [5.0, 0.0]]))
        >>> s.numpy().tolist()
        [[0.0, 1.0], [-1.0, 0.0]]
    """
    upper = tf.linalg.band_part(x, 0, -1) - tf.linalg.band_part(x, 0, 0)
    return upper - tf.linalg.matrix_transpose(upper)


def expm_frechet_adjoint_block(a: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    """Adjoint Fréchet derivative of expm by the block-triangular identity.

    `L_exp(Aᵀ, G)` is the top-right n×n block of `expm([[Aᵀ, G], [0, Aᵀ]])`
    (Higham, *Functions of Matrices*, 2008, eq. 3.16). Exact for every `A`,
    and costs one expm of a 2n×2n matrix (about 8× the forward pass).

    Args:
        a: the matrix the forward expm was taken of, `(..., n, n)`.
        g: the upstream gradient `dL/d expm(A)`, same shape.

    Returns:
        `dL/dA`, same shape.
    """
    at = tf.linalg.matrix_transpose(a)
    n = tf.shape(a)[-1]
    top = tf.concat([at, g], axis=-1)
    bottom = tf.concat([tf.zeros_like(at), at], axis=-1)
    big = tf.linalg.expm(tf.concat([top, bottom], axis=-2))
    return big[..., :n, n:]


def _phi(lam: tf.Tensor) -> tf.Tensor:
    """Divided differences `(e^{λj} - e^{λk}) / (λj - λk)` of exp.

    Computed as `e^{(λj+λk)/2} · sinhc((λj-λk)/2)`, which is exact where
    `λj = λk` (giving `e^{λj}`) and free of cancellation near it.
    """
    lj = lam[..., :, None]
    lk = lam[..., None, :]
    half = 0.5 * (lj - lk)
    # sinh(z)/z for complex z; use the series near 0 to avoid 0/0.
    small = tf.abs(half) < 1e-4
    safe = tf.where(small, tf.ones_like(half), half)
    sinhc = tf.where(small, 1.0 + half * half / 6.0, tf.sinh(safe) / safe)
    return tf.exp(0.5 * (lj + lk)) * sinhc


def expm_frechet_adjoint_eig(a: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    """Adjoint Fréchet derivative of expm at a *skew* matrix, closed form.

    A real skew `A` is normal: `iA` is Hermitian, so `A = Q diag(iω) Qᴴ`
    with unitary `Q`, and (math.md)
    `L_exp(Aᵀ, G) = Q ((Qᴴ G Q) ∘ Φ̄) Qᴴ`, `Φ_jk = (e^{λj}-e^{λk})/(λj-λk)`.
    Valid only for skew `A`; costs one Hermitian eigendecomposition and a
    few complex matrix products.

    Args:
        a: skew-symmetric matrix, `(..., n, n)`, float32 or float64.
        g: the upstream gradient, same shape.

    Returns:
        `dL/dA`, same shape, real.
    """
    cdtype = tf.complex128 if a.dtype == tf.float64 else tf.complex64
    # iA is Hermitian with real eigenvalues w; A = Q diag(-i w) Qᴴ.
    w, q = tf.linalg.eigh(tf.complex(tf.zeros_like(a), a))
    w = tf.math.real(w)  # eigh returns the (real) eigenvalues as complex
    lam = tf.complex(tf.zeros_like(w), -w)
    qh = tf.linalg.adjoint(q)
    gc = tf.cast(g, cdtype)
    # For Aᵀ = Ā-conjugate basis the divided differences are conjugated.
    inner = (qh @ gc @ q) * tf.math.conj(_phi(lam))
    return tf.math.real(q @ inner @ qh)


# Padé coefficients b_0..b_m of r_m(x) = p_m(x)/p_m(-x) ≈ e^x,
# b_k = (2m-k)! m! / ((2m)! k! (m-k)!), scaled to integers (Higham 2005).
_PADE = {
    3: (120.0, 60.0, 12.0, 1.0),
    5: (30240.0, 15120.0, 3360.0, 420.0, 30.0, 1.0),
    7: (17297280.0, 8648640.0, 1995840.0, 277200.0, 25200.0, 1512.0, 56.0)
    + (1.0,),
    9: (17643225600.0, 8821612800.0, 2075673600.0, 302702400.0)
    + (30270240.0, 2162160.0, 110880.0, 3960.0, 90.0, 1.0),
    13: (64764752532480000.0, 32382376266240000.0, 7771770303897600.0)
    + (1187353796428800.0, 129060195264000.0, 10559470521600.0)
    + (670442572800.0, 33522128640.0, 1323241920.0, 40840800.0)
    + (960960.0, 16380.0, 182.0, 1.0),
}
# θ_m: the largest ‖2^-s A‖₁ for which r_m's backward error bound
# h̃_{2m+1}(θ)/θ (the absolute series of log(e^-x r_m(x))) stays below the
# unit roundoff; Higham, "The scaling and squaring method for the matrix
# exponential revisited" (SIAM J. Matrix Anal. Appl. 26, 2005), §2, for
# u = 2^-53 (double: m ∈ {3, 5, 7, 9, 13}) and u = 2^-24 (single, where
# m = 7 is the top degree). tests/test_expm_adaptive.py recomputes them
# from the series and checks the resulting accuracy against SciPy.
_THETA = {
    "double": (
        (3, 1.495585217958292e-2),
        (5, 2.539398330063230e-1),
        (7, 9.504178996162932e-1),
        (9, 2.097847961257068e0),
        (13, 5.371920351148152e0),
    ),
    "single": (
        (3, 4.258730016922831e-1),
        (5, 1.880152677804762e0),
        (7, 3.925724783138660e0),
    ),
}
_NOT_FINITE = (
    "expm: the recurrent weights are not finite (the loss diverged, or a "
    "NaN/Inf in the data reached the gradient); lower the learning rate(s), "
    "clip the gradients (clipnorm) or check the data for NaN"
)


def _pade_table(dtype) -> tuple:
    """`((m, θ_m), ...)` for the precision of `dtype` (float64: double)."""
    return _THETA["double" if dtype == tf.float64 else "single"]


def expm_pade_choice(a: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Padé degree `m` and scaling `s` of `expm(A)`, chosen from `‖A‖₁`.

    Higham (2005): the lowest degree `m` whose `θ_m ≥ ‖A‖₁` with `s = 0`;
    past the top `θ` the top degree with `s = ⌈log₂(‖A‖₁/θ_top)⌉`. Degrees
    {3, 5, 7, 9, 13} in float64, {3, 5, 7} otherwise (single precision).
    One `‖A‖₁` (O(n²)) and comparisons: graph- and XLA-compatible.

    Args:
        a: matrix `(..., n, n)`; a batch shares one `(m, s)`.

    Returns:
        `(index, s)`, int32 scalars: `index` into the degrees of the
        precision (`m = (3, 5, 7, 9, 13)[index]` in float64, `(3, 5,
        7)[index]` otherwise), `s` the number of squarings.

    Example:
        >>> index, s = expm_pade_choice(0.01 * skew(tf.ones((8, 8))))
        >>> int(index), int(s)  # degree 3, no squaring
        (0, 0)
        >>> index, s = expm_pade_choice(5.0 * skew(tf.ones((8, 8))))
        >>> int(index), int(s)  # degree 7 and s = 4: ‖A‖₁ = 35 ≤ 16 θ₇
        (2, 4)
    """
    return choose_degree(a, [t for _, t in _pade_table(a.dtype)])


def _pade_branch(x, m, keys):
    """Padé stage of degree `m` at `X = A/2^s`; returns the parts in `keys`
    (those another degree needs are zeros: `tf.switch_case` wants one
    structure for every branch)."""
    b = [tf.constant(c, x.dtype) for c in _PADE[m]]
    eye = tf.eye(tf.shape(x)[-1], dtype=x.dtype)
    x2 = x @ x
    pw = [eye, x2]  # X^0, X^2, X^4, ...
    for _ in range(2, (min(m, 7) - 1) // 2 + 1):
        pw.append(pw[-1] @ x2)  # X^4 = X²X², X^6 = X⁴X²
    if m == 9:
        pw.append(pw[2] @ pw[2])  # X^8 = X⁴X⁴
    parts = {f"x{2 * k}": pw[k] for k in range(1, len(pw))}
    if m == 13:
        parts["w1"] = b[13] * pw[3] + b[11] * pw[2] + b[9] * pw[1]
        parts["z1"] = b[12] * pw[3] + b[10] * pw[2] + b[8] * pw[1]
        w = pw[3] @ parts["w1"]
        v = pw[3] @ parts["z1"]
        w += sum(b[2 * k + 1] * pw[k] for k in range(4))
        v += sum(b[2 * k] * pw[k] for k in range(4))
    else:
        w = sum(b[2 * k + 1] * pw[k] for k in range(len(pw)))
        v = sum(b[2 * k] * pw[k] for k in range(len(pw)))
    u = x @ w
    parts["w"] = w
    parts["q"] = v - u  # the denominator q_m(X) = V - U
    parts["r0"] = tf.linalg.solve(parts["q"], v + u)
    return {k: parts[k] if k in parts else tf.zeros_like(x) for k in keys}


def _pade_parts(a: tf.Tensor) -> dict:
    """Scaling and Padé stage of `expm(A)`, kept for the Fréchet derivative.

    Chooses `(m, s)` by `expm_pade_choice` and evaluates only that degree
    (`tf.switch_case`). Returns a dict with the degrees of the precision,
    the chosen `index` and `s`, `X = A/2^s`, its even powers, the pieces
    `W`, `W1`, `Z1` of the Padé numerator, the denominator `q` and
    `R0 = r_m(X)`.
    """
    degrees = tuple(m for m, _ in _pade_table(a.dtype))
    index, s = expm_pade_choice(a)
    x = a * inv_pow2(s, a.dtype)
    keys = ["x2", "x4", "x6", "w", "q", "r0"]
    keys += ["x8"] if 9 in degrees else []
    keys += ["w1", "z1"] if 13 in degrees else []
    branches = [(lambda m=m: _pade_branch(x, m, keys)) for m in degrees]
    parts = tf.switch_case(index, branches)
    return {**parts, "degrees": degrees, "index": index, "s": s, "x": x}


def _frechet_branch(p, e, m):
    """`(L_U, L_V)`: the derivatives of the Padé `U`, `V` of degree `m` at
    `X` in direction `E` (Al-Mohy & Higham 2009, Algorithm 6.4)."""
    b = [tf.constant(c, e.dtype) for c in _PADE[m]]
    x, x2 = p["x"], p["x2"]
    # M_2k = d(X^2k)[E]: M2 = XE + EX, M4 = X²M2 + M2X², M6 = X⁴M2 + M4X²,
    # M8 = X⁴M4 + M4X⁴.
    mm = [None, x @ e + e @ x]
    if m >= 5:
        mm.append(x2 @ mm[1] + mm[1] @ x2)
    if m >= 7:
        mm.append(p["x4"] @ mm[1] + mm[2] @ x2)
    if m == 9:
        mm.append(p["x4"] @ mm[2] + mm[2] @ p["x4"])
    if m == 13:
        x6, m6 = p["x6"], mm[3]
        lw1 = b[13] * m6 + b[11] * mm[2] + b[9] * mm[1]
        lz1 = b[12] * m6 + b[10] * mm[2] + b[8] * mm[1]
        lw = x6 @ lw1 + m6 @ p["w1"]
        lw += sum(b[2 * k + 1] * mm[k] for k in range(1, 4))
        lv = x6 @ lz1 + m6 @ p["z1"]
        lv += sum(b[2 * k] * mm[k] for k in range(1, 4))
    else:
        lw = sum(b[2 * k + 1] * mm[k] for k in range(1, len(mm)))
        lv = sum(b[2 * k] * mm[k] for k in range(1, len(mm)))
    lu = x @ lw + e @ p["w"]
    return lu, lv


def expm_frechet_pade(p: dict, e: tf.Tensor) -> tf.Tensor:
    """Fréchet derivative `L_exp(A, E)` of the Padé approximant of `expm`.

    Algorithm 6.4 of Al-Mohy & Higham, "Computing the Fréchet derivative of
    the matrix exponential" (SIAM J. Matrix Anal. Appl. 30, 2009): the
    derivative of `r_m(A/2^s)^(2^s)` in direction `E`, with the *same*
    degree `m` and scaling `s` as the forward pass `p = _pade_parts(A)`,
    whose powers and denominator it reuses. With `X = A/2^s`, `E' =
    E/2^s`, `M2 = XE' + E'X`, `M4 = X2 M2 + M2 X2`, ... it differentiates
    `U` and `V`, then `L0 = q⁻¹ (Lu + Lv + (Lu − Lv) R0)` and `L_k = R_k
    L_{k-1} + L_{k-1} R_k` through the squarings. Degree 3: 5 products +
    1 solve (the forward: 2 + 1); degree 7: 9 + 1 (4 + 1); 3 products per
    squaring.
    """
    e = e * inv_pow2(p["s"], e.dtype)
    branches = [(lambda m=m: _frechet_branch(p, e, m)) for m in p["degrees"]]
    lu, lv = tf.switch_case(p["index"], branches)
    r0 = p["r0"]
    el = tf.linalg.solve(p["q"], lu + lv + (lu - lv) @ r0)

    def body(i, r, el):
        return i + 1, r @ r, r @ el + el @ r

    _, _, el = tf.while_loop(
        lambda i, *_: i < p["s"], body, (tf.constant(0), r0, el)
    )
    return el


def expm_frechet_adjoint(
    a: tf.Tensor, g: tf.Tensor, method: str = "block"
) -> tf.Tensor:
    """Adjoint Fréchet derivative `L_exp(Aᵀ, G)` by the named method.

    Args:
        a: matrix `(..., n, n)`.
        g: upstream gradient, same shape.
        method: `"block"` (any `A`, XLA-compatible), `"eig"` (skew `A`),
            `"pade"` (any `A`, XLA-compatible; the derivative of the Padé
            approximant that `expm(..., gradient="pade")` evaluates) or
            `"taylor"` (the same for `expm(..., gradient="taylor")`).
    """
    if method == "block":
        return expm_frechet_adjoint_block(a, g)
    if method == "eig":
        return expm_frechet_adjoint_eig(a, g)
    if method == "pade":
        # L_exp(Aᵀ, G) = L_exp(A, Gᵀ)ᵀ.
        g_t = tf.linalg.matrix_transpose(g)
        return tf.linalg.matrix_transpose(
            expm_frechet_pade(_pade_parts(a), g_t)
        )
    if method == "taylor":
        with tf.GradientTape() as tape:
            tape.watch(a)
            y = tf.reduce_sum(g * expm_taylor(a))
        return tape.gradient(y, a)
    raise ValueError(
        "Received an invalid value for argument `method`, expected one of "
        f"'block', 'eig', 'pade', 'taylor', got {method!r}."
    )


def _make_expm(method: str):
    @tf.custom_gradient
    def _expm(a):
        result = tf.linalg.expm(a)

        def grad(upstream):
            with tf.name_scope("expm_gradient"):
                return expm_frechet_adjoint(a, upstream, method)

        return result, grad

    return _expm


@tf.custom_gradient
def _expm_pade(a):
    parts = _pade_parts(a)
    result = square(parts["r0"], parts["s"])

    def grad(upstream):
        # L_exp(Aᵀ, G) = L_exp(A, Gᵀ)ᵀ: reuse the forward's Padé parts.
        with tf.name_scope("expm_gradient"):
            g_t = tf.linalg.matrix_transpose(upstream)
            return tf.linalg.matrix_transpose(expm_frechet_pade(parts, g_t))

    return result, grad


_EXPM = {
    "block": _make_expm("block"),
    "eig": _make_expm("eig"),
    "pade": _expm_pade,
    "taylor": expm_taylor,
}
#: The accepted values of `expm(..., gradient=...)`.
EXPM_GRADIENTS = tuple(_EXPM)


def expm(a: tf.Tensor, gradient: str = "taylor") -> tf.Tensor:
    """Matrix exponential with the adjoint Fréchet derivative as gradient.

    `dL/dA = L_exp(Aᵀ, dL/dE)`, supplied as a custom gradient because
    `tf.linalg.expm`'s own gradient does not compile under XLA. `gradient`
    names the method (of the forward and the backward alike):

    - `"taylor"` (default): scaling and squaring with the optimized Taylor
      polynomial of degree 4, 8, 12 or 18 chosen from `‖A‖₁` (Bader,
      Blanes & Casas 2019; `tf_nnrnn.expm_taylor`): 2–5 products and no
      linear solve; backward by the Fréchet derivative of that same
      scheme, reusing the forward's products (twice the forward's
      products). At n = 1024 forward + gradient cost 0.35–0.7× `"pade"`'s
      (`benchmarks/param_cost.py`). Exact for any `A`, compiles under XLA.
    - `"pade"`: forward by scaling and squaring with the Padé
      degree chosen from `‖A‖₁` (Higham 2005; `expm_pade_choice`): the
      lowest of 3, 5, 7, 9, 13 (float64) or 3, 5, 7 (float32) whose `θ_m`
      bounds `‖A‖₁`, else the top one with `s` squarings; small norms
      cost 2 products + 1 solve instead of 4 + 1. Backward by Al-Mohy &
      Higham's (2009) Fréchet derivative of that same approximant, reusing
      the forward's powers and denominator. Exact for any `A`, compiles
      under XLA. (The default before 0.2.1.)
    - `"block"`: forward `tf.linalg.expm`, backward the top-right block of
      `expm([[Aᵀ, G], [0, Aᵀ]])`: exact for any `A`, compiles under XLA;
      gradient 1.3–8.8× the forward.
    - `"eig"`: forward `tf.linalg.expm`, backward the closed form through
      an eigendecomposition of the skew `A` (skew `A` only; gradient
      0.3–3.3× the forward; compiles poorly under XLA on CPU).

    Args:
        a: matrix `(..., n, n)`.
        gradient: `"taylor"` (default), `"pade"`, `"block"` or `"eig"`.

    Returns:
        `expm(A)`; for skew `A` an element of SO(n).

    Raises:
        tf.errors.InvalidArgumentError: `A` holds a NaN or an Inf (a
            diverged training): the message names the cause and the fix
            (eager and `tf.function`; under XLA the NaN propagates).

    Example:
        >>> w = expm(skew(tf.random.normal((4, 4))))
        >>> bool(in_orthogonal(w, atol=1e-5))
        True
    """
    if gradient not in _EXPM:
        raise ValueError(
            "Received an invalid value for argument `gradient`, expected one "
            f"of {sorted(_EXPM)}, got {gradient!r}."
        )
    a = tf.convert_to_tensor(a)
    # A non-finite A would fail deep inside the solve ("Input matrix is not
    # invertible"); name the cause instead. The check sits beside the data
    # path (a control dependency), so it is not differentiated. Under XLA
    # CheckNumerics compiles to nothing: the NaN then propagates to W and
    # the loss, as for the other cells.
    with tf.control_dependencies([tf.debugging.check_numerics(a, _NOT_FINITE)]):
        a = tf.identity(a)
    return _EXPM[gradient](a)


def cayley(a: tf.Tensor, d: tf.Tensor | None = None) -> tf.Tensor:
    """Scaled Cayley transform `V = (I + A)⁻¹ (I − A) D` (scoRNN).

    For skew `A`, `(I + A)⁻¹ (I − A)` is orthogonal without eigenvalue −1;
    the fixed ±1 diagonal `D` lets `V` reach it. This is the papers'
    column-convention matrix; `ScoRNNCell.recurrent_matrix()` returns its
    transpose `W = Vᵀ` (Keras' row convention).

    Args:
        a: skew-symmetric matrix `(..., n, n)`.
        d: optional vector `(n,)` of ±1 (the diagonal of `D`).

    Returns:
        The orthogonal matrix `V`.

    Example:
        >>> d = tf.constant([1.0, 1.0, 1.0, -1.0])
        >>> w = cayley(skew(tf.random.normal((4, 4))), d)
        >>> bool(in_orthogonal(w, atol=1e-5))
        True
    """
    eye = tf.eye(tf.shape(a)[-1], dtype=a.dtype)
    w = tf.linalg.solve(eye + a, eye - a)
    if d is not None:
        w = w * tf.cast(d, a.dtype)  # right-multiply by diag(d): scale columns
    return w


def rotation_blocks(gamma: tf.Tensor, theta: tf.Tensor) -> tf.Tensor:
    """Block-diagonal `Λ = blockdiag(γ_i R(θ_i))`, `R(θ) = [[c, -s], [s, c]]`.

    Each 2×2 block carries the complex-conjugate eigenvalue pair
    `γ_i e^{±iθ_i}`.

    Args:
        gamma: moduli, shape `(m,)`.
        theta: angles, shape `(m,)`.

    Returns:
        `Λ` of shape `(2m, 2m)`.
    """
    c = gamma * tf.cos(theta)
    s = gamma * tf.sin(theta)
    zeros = tf.zeros_like(s)
    main = tf.repeat(c, 2)
    # super-diagonal: -s at even positions 2i (entry (2i, 2i+1)), 0 between.
    sup = tf.reshape(tf.stack([-s, zeros], axis=-1), [-1])[:-1]
    sub = tf.reshape(tf.stack([s, zeros], axis=-1), [-1])[:-1]
    return (
        tf.linalg.diag(main)
        + tf.linalg.diag(sup, k=1)
        + tf.linalg.diag(sub, k=-1)
    )


def triangular_mask(n: int, block: bool = True, dtype="float32") -> np.ndarray:
    """Mask of the free entries of nnRNN's `T` (column convention).

    Args:
        n: matrix size.
        block: `True` keeps `T` strictly *block* lower triangular (zero
            inside the 2×2 blocks of `Λ`, a true real Schur form, so the
            eigenvalues of `Λ + T` are exactly `γ_i e^{±iθ_i}`); `False` is
            the reference code's strictly lower triangular mask, which also
            frees the entry `(2i+1, 2i)` inside each block.

    Returns:
        A NumPy array of 0/1 of shape `(n, n)`.
    """
    mask = np.tril(np.ones((n, n)), -1)
    if block:
        idx = np.arange(0, n - 1, 2)
        mask[idx + 1, idx] = 0.0
    return mask.astype(dtype)


def nnrnn_matrix(
    skew_kernel: tf.Tensor,
    theta: tf.Tensor,
    gamma: tf.Tensor,
    triangular_kernel: tf.Tensor,
    mask: tf.Tensor | np.ndarray | None = None,
    gradient: str = "taylor",
) -> tf.Tensor:
    """The nnRNN recurrent matrix `V = P (Λ + T) Pᵀ`, column convention.

    `P = expm(skew(X))` is the orthogonal Schur basis, `Λ =
    blockdiag(γ_i R(θ_i))` the normal part and `T` (masked strictly lower
    triangular) the feed-forward chains between Schur modes (Kerg et al.
    2019).

    Args:
        skew_kernel: raw `X`, `(n, n)`.
        theta: `(n/2,)`.
        gamma: `(n/2,)`.
        triangular_kernel: raw `T`, `(n, n)`.
        mask: 0/1 mask applied to `T` (see `triangular_mask`); `None` uses
            `T` as given.
        gradient: expm gradient method, see `expm`.

    Returns:
        `V` of shape `(n, n)`.
    """
    p = expm(skew(skew_kernel), gradient=gradient)
    t = triangular_kernel
    if mask is not None:
        t = t * tf.cast(mask, t.dtype)
    theta_mat = rotation_blocks(gamma, theta) + t
    return p @ theta_mat @ tf.linalg.matrix_transpose(p)


def orthogonality_error(w: tf.Tensor) -> tf.Tensor:
    """`max |WᵀW − I|`, the distance of `W` from O(n) in the max norm."""
    w = tf.convert_to_tensor(w)
    eye = tf.eye(tf.shape(w)[-1], dtype=w.dtype)
    return tf.reduce_max(tf.abs(tf.linalg.matrix_transpose(w) @ w - eye))


def in_orthogonal(w: tf.Tensor, atol: float = 1e-5) -> tf.Tensor:
    """Whether `‖WᵀW − I‖_max ≤ atol` (a boolean tensor)."""
    return orthogonality_error(w) <= atol
