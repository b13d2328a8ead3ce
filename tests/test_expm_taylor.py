"""The optimized-Taylor expm (`tf_nnrnn.expm_taylor`, the default of
`expm`): its thresholds and schemes against their definitions, its
accuracy against SciPy over ‖A‖₁ from 1e-4 to 1e2, its gradient against
float64 central differences at every degree, and XLA."""

from fractions import Fraction
from math import factorial

import numpy as np
import pytest
import tensorflow as tf
from scipy import linalg as scipy_linalg

from tests.test_expm_adaptive import (
    NORMS,
    check_gradient,
    expected_choice,
    rel_error,
    skew_with_norm,
    theta_from_ratio,
)
from tf_nnrnn import expm_taylor as et
from tf_nnrnn import parametrizations as par

DOUBLE = et.TAYLOR_THETA["double"]
SINGLE = et.TAYLOR_THETA["single"]
DEGREES = tuple(m for m, _ in SINGLE)
EDGES64 = [t * (1 - 1e-9) for _, t in DOUBLE]
EDGES32 = [t * (1 - 1e-5) for _, t in SINGLE]


def theta_from_series(m, u, n=80):
    """θ_m of the Taylor polynomial T_m (error O(x^(m+1))): Higham's
    criterion, as for Padé, with the denominator 1."""
    p = [Fraction(1, factorial(k)) for k in range(m + 1)]
    p += [Fraction(0)] * (n - m - 1)
    return theta_from_ratio(p, [Fraction(1)], m + 1, u, n)


@pytest.mark.parametrize(
    "precision, u", [("double", 2.0**-53), ("single", 2.0**-24)]
)
def test_thetas_from_their_definition(precision, u):
    for m, theta in et.TAYLOR_THETA[precision]:
        np.testing.assert_allclose(
            theta_from_series(m, u), theta, rtol=1e-7, err_msg=f"m={m}"
        )


@pytest.mark.parametrize("m", DEGREES)
def test_each_scheme_is_the_taylor_polynomial(m):
    """On a diagonal X every scheme must give Σ_{k≤m} x^k/k! per entry: a
    wrong coefficient of even the x^m term shows at |x| = 3."""
    x = np.array([-3.0, -1.3, -0.2, 0.0, 0.05, 0.7, 1.9, 3.0])
    got, kept = et._forward(tf.constant(np.diag(x)), m)
    want = sum(x**k / factorial(k) for k in range(m + 1))
    np.testing.assert_allclose(np.diag(got.numpy()), want, rtol=1e-12)
    assert len(kept) <= et._SLOTS
    # One term too many or too few is far outside that tolerance.
    assert abs(3.0 ** (m + 1) / factorial(m + 1)) > 1e-12 * want[-1]


@pytest.mark.parametrize("norm", NORMS + EDGES64)
def test_float64_matches_scipy_and_chooses_by_norm(norm):
    for general in (False, True):
        a = skew_with_norm(8, norm, general=general)
        index, s = et.taylor_choice(tf.constant(a))
        m, s_want = expected_choice(norm, DOUBLE)
        assert (DEGREES[int(index)], int(s)) == (m, s_want)
        got = par.expm(tf.constant(a), gradient="taylor").numpy()
        tol = 1e-13 if not general or norm <= 10 else 1e-10
        assert rel_error(got, scipy_linalg.expm(a)) < tol, (norm, general)


@pytest.mark.parametrize("norm", NORMS + EDGES32)
def test_float32_matches_scipy_and_stays_orthogonal(norm):
    a = skew_with_norm(16, norm).astype(np.float32)
    index, s = et.taylor_choice(tf.constant(a))
    m, s_want = expected_choice(float(np.abs(a).sum(0).max()), SINGLE)
    assert (DEGREES[int(index)], int(s)) == (m, s_want)
    got = par.expm(tf.constant(a))  # the default
    want = scipy_linalg.expm(a.astype(np.float64))
    assert rel_error(got.numpy(), want) < 2e-6 * max(1, 2 ** int(s))
    assert float(par.orthogonality_error(got)) < 3e-6 * max(1, 2 ** int(s))


@pytest.mark.parametrize("general", [False, True])
@pytest.mark.parametrize("norm", [*EDGES64, 3.0, 40.0])
def test_gradient_matches_central_differences_at_every_degree(norm, general):
    a0 = skew_with_norm(4, norm, seed=2, general=general)
    check_gradient(a0, tol=5e-9 if norm < 10 else 5e-8, method="taylor")


def test_gradient_uses_the_degree_of_the_forward(monkeypatch):
    """Force degree 4 where it is inaccurate (‖A‖₁ = 8): the gradient must
    still be the exact derivative of the forward that was computed."""
    monkeypatch.setattr(
        et, "taylor_choice", lambda a: (tf.constant(0), tf.constant(0))
    )
    a0 = skew_with_norm(4, 8.0, seed=3, general=True)
    t4 = et.expm_taylor(tf.constant(a0)).numpy()
    assert rel_error(t4, scipy_linalg.expm(a0)) > 1e-2  # really T_4
    check_gradient(a0, tol=5e-9, method="taylor")


def test_pade_checker_agrees_with_taylor_gradient():
    """The Padé test's checker, pointed at the default method, passes too
    (the two methods' gradients agree to float64 accuracy)."""
    a0 = skew_with_norm(4, 2.5, seed=6, general=True)
    c = tf.constant(np.random.default_rng(1).normal(size=a0.shape))
    grads = []
    for method in ("taylor", "pade"):
        x = tf.constant(a0)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(c * par.expm(x, gradient=method))
        grads.append(tape.gradient(y, x).numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12, atol=1e-12)
    check_gradient(a0)  # the Padé path still checks out alongside


def test_float32_gradient_matches_float64_and_compiles_under_xla():
    """Every float32 degree (4, 8, 12, 18, 18 with squarings) in one
    compiled function: the degree is chosen at run time inside XLA."""
    c = np.random.default_rng(5).normal(size=(12, 12))

    def value_and_grad(a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            w = par.expm(a, gradient="taylor")
            y = tf.reduce_sum(tf.cast(c, a.dtype) * w)
        return w, tape.gradient(y, a)

    xla = tf.function(value_and_grad, jit_compile=True)
    for norm in (0.03, 0.5, 1.2, 2.5, 20.0):
        a0 = skew_with_norm(12, norm, seed=4)
        want = [t.numpy() for t in value_and_grad(tf.constant(a0))]
        a32 = tf.constant(a0, tf.float32)
        for fn in (value_and_grad, xla):
            for got, ref in zip(fn(a32), want):
                scale = max(1.0, np.abs(ref).max())
                np.testing.assert_allclose(
                    got.numpy(), ref, atol=2e-5 * scale, err_msg=str(norm)
                )


def test_batches_share_one_degree():
    a = np.stack([skew_with_norm(5, v, seed=i) for i, v in enumerate((0.1, 3))])
    got = par.expm(tf.constant(a), gradient="taylor").numpy()
    for i in range(2):
        assert rel_error(got[i], scipy_linalg.expm(a[i])) < 1e-13


def test_repeated_graph_calls_at_n_1024():
    """Regression: with chained additions in the branches, Grappler's AddN
    rewrite left a temporary variable behind at n = 1024 and the *second*
    call of a traced gradient failed (AlreadyExistsError)."""
    n = 1024
    a = tf.constant(skew_with_norm(n, 0.01).astype(np.float32))
    c = tf.random.stateless_normal((n, n), (1, 2))

    @tf.function
    def gradient(a):
        with tf.GradientTape() as tape:
            tape.watch(a)
            y = tf.reduce_sum(c * par.expm(a))
        return tape.gradient(y, a)

    first, second = gradient(a).numpy(), gradient(a).numpy()
    np.testing.assert_array_equal(first, second)
