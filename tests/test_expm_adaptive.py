"""The degree-adaptive Padé expm: its thresholds, its accuracy against SciPy
over ‖A‖₁ from 1e-4 to 1e2, its gradient against float64 central
differences at every degree, and the error for non-finite weights."""

from fractions import Fraction
from math import factorial

import numpy as np
import pytest
import tensorflow as tf
from scipy import linalg as scipy_linalg

from tf_nnrnn import parametrizations as par

DOUBLE = dict(par._THETA["double"])
SINGLE = dict(par._THETA["single"])
NORMS = [1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.25, 0.4, 1.0, 1.8, 2.0, 3.9]
NORMS += [5.0, 10.0, 30.0, 100.0]
# Just below each θ: the largest norm a degree serves, its worst accuracy.
EDGES64 = [t * (1 - 1e-9) for t in DOUBLE.values()]
EDGES32 = [t * (1 - 1e-5) for t in SINGLE.values()]


def pade_b(m):
    """Exact `b_k = (2m-k)! m! / ((2m)! k! (m-k)!)` of r_m."""
    f = factorial
    return [
        Fraction(f(2 * m - k) * f(m), f(2 * m) * f(k) * f(m - k))
        for k in range(m + 1)
    ]


def _mul(a, b, n):
    out = [Fraction(0)] * n
    for i, x in enumerate(a[:n]):
        if x:
            for j, y in enumerate(b[: n - i]):
                out[i + j] += x * y
    return out


def theta_from_ratio(p, q, order, u, n):
    """Higham's θ: the largest θ with h̃(θ)/θ ≤ u, where h̃ is the series
    of log(e^-x p(x)/q(x)) with absolute coefficients; `order`: the first
    power in which e^-x p/q differs from 1 (`p`, `q` padded to `n`)."""
    qinv = [1 / q[0]] + [Fraction(0)] * (n - 1)
    for k in range(1, n):
        acc = sum(q[j] * qinv[k - j] for j in range(1, min(k, len(q) - 1) + 1))
        qinv[k] = -acc / q[0]
    em = [Fraction((-1) ** k, factorial(k)) for k in range(n)]
    y = _mul(_mul(p, qinv, n), em, n)
    y[0] -= 1  # e^-x p/q = 1 + y, y = O(x^order)
    assert not any(y[:order])
    log, power = [Fraction(0)] * n, [Fraction(1)] + [Fraction(0)] * (n - 1)
    for j in range(1, n // order + 2):
        power = _mul(power, y, n)
        for k in range(n):
            log[k] += power[k] * Fraction((-1) ** (j + 1), j)
    c = [abs(float(v)) for v in log]
    assert max(c[:order]) == 0

    def bound(t):
        return sum(ck * t ** (k - 1) for k, ck in enumerate(c) if ck)

    lo, hi = 0.0, 20.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if bound(mid) <= u else (lo, mid)
    return lo


def theta_from_series(m, u, n=60):
    """θ_m of the Padé approximant r_m = p/q (error O(x^(2m+1)))."""
    b = pade_b(m)
    q = [c * (-1) ** k for k, c in enumerate(b)]
    return theta_from_ratio(b + [Fraction(0)] * n, q, 2 * m + 1, u, n)


@pytest.mark.parametrize(
    "precision, u", [("double", 2.0**-53), ("single", 2.0**-24)]
)
def test_thetas_and_coefficients_from_their_definitions(precision, u):
    for m, theta in par._THETA[precision]:
        np.testing.assert_allclose(
            theta_from_series(m, u), theta, rtol=1e-7, err_msg=f"m={m}"
        )
        b = np.array([float(v) for v in pade_b(m)])
        ours = np.array(par._PADE[m])
        np.testing.assert_allclose(ours / ours[-1], b / b[-1], rtol=1e-15)


def skew_with_norm(n, norm, seed=0, general=False):
    """A random skew (or general) matrix with ‖A‖₁ = norm."""
    x = np.random.default_rng(seed).normal(size=(n, n))
    a = x if general else x - x.T
    return a * (norm / np.abs(a).sum(axis=0).max())


def expected_choice(norm, table):
    """(degree, s) by Higham's rule, in plain Python."""
    for m, theta in table:
        if norm <= theta:
            return m, 0
    m, theta = table[-1]
    return m, int(np.ceil(np.log2(norm / theta)))


def rel_error(got, want):
    return np.linalg.norm(got - want) / np.linalg.norm(want)


@pytest.mark.parametrize("norm", NORMS + EDGES64)
def test_float64_matches_scipy_and_chooses_by_norm(norm):
    for general in (False, True):
        a = skew_with_norm(8, norm, general=general)
        index, s = par.expm_pade_choice(tf.constant(a))
        m, s_want = expected_choice(norm, par._THETA["double"])
        assert (DOUBLE_DEGREES[int(index)], int(s)) == (m, s_want)
        got = par.expm(tf.constant(a), gradient="pade").numpy()
        # General A at ‖A‖₁ = 100 is ill conditioned: expm(A) ~ e^40.
        tol = 1e-13 if not general or norm <= 10 else 1e-10
        assert rel_error(got, scipy_linalg.expm(a)) < tol, (norm, general)


DOUBLE_DEGREES = tuple(DOUBLE)
SINGLE_DEGREES = tuple(SINGLE)


@pytest.mark.parametrize("norm", NORMS + EDGES32)
def test_float32_matches_scipy_and_stays_orthogonal(norm):
    a = skew_with_norm(16, norm).astype(np.float32)
    index, s = par.expm_pade_choice(tf.constant(a))
    m, s_want = expected_choice(
        float(np.abs(a).sum(0).max()), par._THETA["single"]
    )
    assert (SINGLE_DEGREES[int(index)], int(s)) == (m, s_want)
    got = par.expm(tf.constant(a), gradient="pade")
    # ~6e-8 per operation, doubled by each of at most 5 squarings here.
    want = scipy_linalg.expm(a.astype(np.float64))
    assert rel_error(got.numpy(), want) < 2e-6 * max(1, 2 ** int(s))
    assert float(par.orthogonality_error(got)) < 3e-6 * max(1, 2 ** int(s))


def numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (f(xp) - f(xm)) / (2 * eps)
    return g


def check_gradient(a0, seed=1, tol=5e-9, method="pade"):
    c = tf.constant(np.random.default_rng(seed).normal(size=a0.shape))

    def f(a):
        return tf.reduce_sum(c * par.expm(tf.constant(a), gradient=method))

    x = tf.constant(a0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(c * par.expm(x, gradient=method))
    ana = tape.gradient(y, x).numpy()
    num = numeric_grad(lambda a: float(f(a)), a0)
    # Central differences in float64 are good to ~5e-10 of the largest
    # entry without squarings; a wrong term of a high degree shows at 1e-8.
    err = np.abs(ana - num).max() / np.abs(num).max()
    assert err < tol, err


@pytest.mark.parametrize("general", [False, True])
@pytest.mark.parametrize("norm", [*EDGES64, 40.0])
def test_gradient_matches_central_differences_at_every_degree(norm, general):
    a0 = skew_with_norm(4, norm, seed=2, general=general)
    # ‖A‖₁ = 40: three squarings of a non-normal A lose a digit more.
    check_gradient(a0, tol=5e-9 if norm < 10 else 5e-8)


def test_gradient_uses_the_degree_of_the_forward(monkeypatch):
    """Force degree 3 where it is inaccurate (‖A‖₁ = 8 ≫ θ₃): the gradient
    must still be the exact derivative of the forward that was computed,
    which it is only when the backward differentiates the same r_3."""
    monkeypatch.setattr(
        par,
        "expm_pade_choice",
        lambda a: (tf.constant(0), tf.constant(0)),
    )
    a0 = skew_with_norm(4, 8.0, seed=3, general=True)
    r3 = par.expm(tf.constant(a0), gradient="pade").numpy()
    assert rel_error(r3, scipy_linalg.expm(a0)) > 1e-3  # really r_3
    check_gradient(a0)


def test_float32_gradient_matches_float64_and_compiles_under_xla():
    """Every float32 degree (3, 5, 7, 7 with squarings) in one compiled
    function: the degree is chosen at run time inside XLA."""
    c = np.random.default_rng(5).normal(size=(12, 12))

    def value_and_grad(a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            w = par.expm(a, gradient="pade")
            y = tf.reduce_sum(tf.cast(c, a.dtype) * w)
        return w, tape.gradient(y, a)

    xla = tf.function(value_and_grad, jit_compile=True)
    for norm in (0.1, 1.0, 3.0, 20.0):
        a0 = skew_with_norm(12, norm, seed=4)
        want = [t.numpy() for t in value_and_grad(tf.constant(a0))]
        a32 = tf.constant(a0, tf.float32)
        for fn in (value_and_grad, xla):
            for got, ref in zip(fn(a32), want):
                scale = max(1.0, np.abs(ref).max())
                np.testing.assert_allclose(
                    got.numpy(), ref, atol=2e-5 * scale, err_msg=str(norm)
                )


@pytest.mark.parametrize("method", par.EXPM_GRADIENTS)
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_name_the_cause_and_the_fix(method, bad):
    a = np.zeros((4, 4), np.float32)
    a[0, 1] = bad
    for fn in (par.expm, tf.function(par.expm)):
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            fn(tf.constant(a), gradient=method)
        message = str(info.value)
        assert "recurrent weights are not finite" in message
        assert "clipnorm" in message
        assert "not invertible" not in message


def test_non_finite_under_xla_propagates_nan_without_a_solver_error():
    """XLA drops CheckNumerics: the NaN reaches W (and so the loss, where
    the training loop reports it) instead of failing inside the solve."""
    a = np.zeros((4, 4), np.float32)
    a[0, 1] = np.nan
    w = tf.function(par.expm, jit_compile=True)(tf.constant(a))
    assert np.isnan(w.numpy()).any()


def test_finite_check_leaves_the_gradient_unchecked():
    """A NaN upstream gradient (say one bad sample) is not reported as
    non-finite weights: the check is beside the data path, not on it."""
    a = tf.constant(skew_with_norm(4, 1.0), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(a)
        y = tf.reduce_sum(par.expm(a) * float("nan"))
    assert np.isnan(tape.gradient(y, a).numpy()).all()
