"""Parametrizations: invariants and float64 finite-difference gradients."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import linalg as scipy_linalg

from tf_nnrnn import parametrizations as par


def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f at x (float64 NumPy)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        g[idx] = (f(xp) - f(xm)) / (2 * eps)
    return g


def analytic_grad(f, x):
    x = tf.constant(x, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x).numpy()


def scalar_of(fn, weights):
    """A random linear functional of fn's matrix: sum(C * fn(x))."""
    return lambda x: tf.reduce_sum(weights * fn(tf.constant(x, tf.float64)))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_skew_is_skew_and_ignores_lower_triangle(rng):
    x = tf.constant(rng.normal(size=(5, 5)))
    s = par.skew(x).numpy()
    np.testing.assert_allclose(s, -s.T)
    np.testing.assert_allclose(np.triu(s, 1), np.triu(x.numpy(), 1))
    g = analytic_grad(lambda v: tf.reduce_sum(par.skew(v) ** 2), x.numpy())
    assert np.all(np.tril(g) == 0)


@pytest.mark.parametrize("method", ["block", "eig", "pade"])
@pytest.mark.parametrize("n", [3, 6])
def test_expm_gradient_matches_finite_differences(rng, method, n):
    c = tf.constant(rng.normal(size=(n, n)))

    def fn(x):
        return par.expm(par.skew(x), gradient=method)

    f = scalar_of(fn, c)
    x0 = rng.normal(size=(n, n))
    num = numeric_grad(lambda x: f(x).numpy(), x0)
    ana = analytic_grad(f, x0)
    np.testing.assert_allclose(ana, num, atol=1e-8, rtol=1e-6)


def test_expm_block_gradient_general_matrix(rng):
    """The block form is exact for non-skew matrices too."""
    c = tf.constant(rng.normal(size=(4, 4)))
    f = scalar_of(par.expm, c)
    x0 = 0.5 * rng.normal(size=(4, 4))
    num = numeric_grad(lambda x: f(x).numpy(), x0)
    np.testing.assert_allclose(analytic_grad(f, x0), num, atol=1e-8)


@pytest.mark.parametrize("scale", [0.5, 8.0])
def test_expm_pade_gradient_general_matrix(rng, scale):
    """The Padé Fréchet form is exact for any A, also through squarings."""
    c = tf.constant(rng.normal(size=(5, 5)))
    x0 = scale * rng.normal(size=(5, 5)) / np.sqrt(5)
    if scale > 1:  # ‖A‖₁ > θ₁₃ = 5.37: the squaring phase is exercised
        assert np.abs(x0).sum(axis=0).max() > 2 * 5.372

    def f(x):
        return tf.reduce_sum(c * par.expm(x, gradient="pade"))

    num = numeric_grad(lambda x: f(tf.constant(x)).numpy(), x0, eps=1e-7)
    ana = analytic_grad(f, x0)
    np.testing.assert_allclose(
        ana, num, rtol=1e-6, atol=1e-7 * np.abs(num).max()
    )
    expected = scipy_linalg.expm(x0)
    got = par.expm(tf.constant(x0), gradient="pade").numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method", ["block", "pade"])
def test_expm_float32_matches_float64(rng, method):
    """float32 (for "pade" the degree chosen by ‖A‖₁ from 3/5/7, against
    3/5/7/9/13 in float64) agrees with float64 to single precision."""
    x0 = rng.normal(size=(16, 16))
    c = rng.normal(size=(16, 16))
    res = {}
    for dtype in (tf.float32, tf.float64):
        x = tf.constant(x0, dtype)
        with tf.GradientTape() as tape:
            tape.watch(x)
            w = par.expm(par.skew(x), gradient=method)
            y = tf.reduce_sum(tf.constant(c, dtype) * w)
        res[dtype] = (w.numpy(), tape.gradient(y, x).numpy())
    for a, b in zip(res[tf.float32], res[tf.float64]):
        np.testing.assert_allclose(a, b, atol=2e-5 * max(1, np.abs(b).max()))


def test_expm_forward_is_special_orthogonal(rng):
    for dtype in (tf.float32, tf.float64):
        w = par.expm(par.skew(tf.constant(rng.normal(size=(7, 7)), dtype)))
        assert float(par.orthogonality_error(w)) < 1e-5
        assert np.linalg.det(w.numpy()) == pytest.approx(1.0, abs=1e-4)
        ev = np.linalg.eigvals(w.numpy().astype(np.float64))
        np.testing.assert_allclose(np.abs(ev), 1.0, atol=1e-5)


@pytest.mark.parametrize("method", ["block", "pade"])
def test_expm_gradient_compiles_under_xla(rng, method):
    c = tf.constant(rng.normal(size=(6, 6)), tf.float32)
    x0 = tf.constant(3 * rng.normal(size=(6, 6)), tf.float32)  # squarings

    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(c * par.expm(par.skew(x), gradient=method))
        return tape.gradient(y, x)

    xla = tf.function(grad, jit_compile=True)(x0)
    np.testing.assert_allclose(xla.numpy(), grad(x0).numpy(), atol=1e-5)


def test_cayley_gradient_and_orthogonality(rng):
    d = tf.constant([1.0, 1.0, -1.0, -1.0], tf.float64)
    c = tf.constant(rng.normal(size=(4, 4)))
    f = scalar_of(lambda x: par.cayley(par.skew(x), d), c)
    x0 = rng.normal(size=(4, 4))
    num = numeric_grad(lambda x: f(x).numpy(), x0)
    np.testing.assert_allclose(analytic_grad(f, x0), num, atol=1e-8)
    w = par.cayley(par.skew(tf.constant(x0)), d)
    assert float(par.orthogonality_error(w)) < 1e-12


@pytest.mark.parametrize("block", [True, False])
def test_nnrnn_map_gradients(rng, block):
    n = 4
    mask = par.triangular_mask(n, block=block, dtype="float64")
    parts = {
        "x": rng.normal(size=(n, n)),
        "theta": rng.uniform(0, 2 * np.pi, size=n // 2),
        "gamma": rng.uniform(0.5, 1.5, size=n // 2),
        "t": rng.normal(size=(n, n)),
    }
    c = tf.constant(rng.normal(size=(n, n)))

    def v_of(**kw):
        p = {k: tf.constant(v, tf.float64) for k, v in parts.items()}
        p.update(kw)
        return par.nnrnn_matrix(
            p["x"], p["theta"], p["gamma"], p["t"], mask=mask
        )

    for name in parts:

        def f(val, name=name):
            return tf.reduce_sum(c * v_of(**{name: val}))

        num = numeric_grad(
            lambda v, f=f: f(tf.constant(v)).numpy(), parts[name]
        )
        ana = analytic_grad(f, parts[name])
        np.testing.assert_allclose(ana, num, atol=1e-8, err_msg=name)


def test_nnrnn_orthogonal_when_t_zero_gamma_one(rng):
    n = 8
    v = par.nnrnn_matrix(
        tf.constant(rng.normal(size=(n, n))),
        tf.constant(rng.uniform(0, 6, size=n // 2)),
        tf.ones(n // 2, tf.float64),
        tf.zeros((n, n), tf.float64),
    )
    assert float(par.orthogonality_error(v)) < 1e-12


def test_nnrnn_eigenvalue_moduli_equal_gamma_when_t_zero(rng):
    n = 8
    gamma = rng.uniform(0.3, 1.7, size=n // 2)
    v = par.nnrnn_matrix(
        tf.constant(rng.normal(size=(n, n))),
        tf.constant(rng.uniform(0.1, 3.0, size=n // 2)),
        tf.constant(gamma),
        tf.zeros((n, n), tf.float64),
    ).numpy()
    moduli = np.sort(np.abs(np.linalg.eigvals(v)))
    np.testing.assert_allclose(moduli, np.sort(np.repeat(gamma, 2)), atol=1e-10)


def test_block_mask_keeps_eigenvalues_exact_with_nonzero_t(rng):
    n = 8
    gamma = rng.uniform(0.3, 1.7, size=n // 2)
    theta = rng.uniform(0.1, 3.0, size=n // 2)
    args = (
        tf.constant(rng.normal(size=(n, n))),
        tf.constant(theta),
        tf.constant(gamma),
        tf.constant(rng.normal(size=(n, n))),
    )
    expected = np.concatenate(
        [gamma * np.exp(1j * theta), gamma * np.exp(-1j * theta)]
    )
    block = np.linalg.eigvals(
        par.nnrnn_matrix(
            *args, mask=par.triangular_mask(n, True, "float64")
        ).numpy()
    )
    dist = np.abs(np.sort_complex(block) - np.sort_complex(expected))
    assert dist.max() < 1e-8
    strict = np.linalg.eigvals(
        par.nnrnn_matrix(
            *args, mask=par.triangular_mask(n, False, "float64")
        ).numpy()
    )
    # The reference mask frees an entry inside each 2x2 block: eigenvalues move.
    assert (
        np.abs(np.sort_complex(strict) - np.sort_complex(expected)).max() > 1e-3
    )


def test_triangular_mask_shapes():
    m = par.triangular_mask(4, block=True)
    assert m[1, 0] == 0 and m[3, 2] == 0 and m[2, 1] == 1 and m[3, 0] == 1
    assert np.all(np.triu(m) == 0)
    assert par.triangular_mask(4, block=False)[1, 0] == 1


def test_bad_expm_gradient_name():
    with pytest.raises(ValueError, match="`gradient`"):
        par.expm(tf.zeros((2, 2)), gradient="chebyshev")


@pytest.mark.parametrize("n", [2, 5, 16, 129])
def test_random_orthogonal_log_matches_scipy_logm(n):
    """The core's NumPy logarithm of an orthogonal matrix (no SciPy in the
    core) equals `scipy.linalg.logm` and exponentiates back."""
    from tf_nnrnn.initializers import _log_orthogonal

    g = np.random.default_rng(n).normal(size=(n, n))
    q, r = np.linalg.qr(g)
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    reference = np.real(scipy_linalg.logm(q))
    reference = 0.5 * (reference - reference.T)
    ours = _log_orthogonal(q)
    np.testing.assert_allclose(ours, reference, atol=1e-10)
    np.testing.assert_allclose(scipy_linalg.expm(ours), q, atol=1e-10)
