"""Fisher memory: tests from theory (Ganguli et al. 2008, Kerg et al. 2019)."""

import keras
import numpy as np
import pytest

from tf_nnrnn.analysis import memory
from tf_nnrnn.analysis.memory import (
    SUPPLEMENT_TOTAL_MEMORY,
    fisher_memory,
    fisher_memory_curve,
    total_fisher_memory,
)
from tf_nnrnn.analysis.transients import chain_matrix


def random_normal_matrix(n, rng, max_radius=0.99):
    """`Q blockdiag(r_i R(φ_i)) Q^T`: normal, spectral radius < 1."""
    blocks = np.zeros((n, n))
    for i in range(0, n - 1, 2):
        r, phi = rng.uniform(0.0, max_radius), rng.uniform(0, 2 * np.pi)
        blocks[i : i + 2, i : i + 2] = r * np.array(
            [[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]]
        )
    if n % 2:
        blocks[-1, -1] = rng.uniform(-max_radius, max_radius)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return q @ blocks @ q.T


@pytest.mark.parametrize("method", ["sqrt", "lyapunov"])
@pytest.mark.parametrize("n", [1, 7, 30])
def test_normal_total_memory_is_norm_over_noise(method, n):
    rng = np.random.default_rng(n)
    for noise in (0.5, 2.0):
        v_matrix = random_normal_matrix(n, rng)
        v = rng.standard_normal(n)
        total = total_fisher_memory(v_matrix, v, noise=noise, method=method)
        np.testing.assert_allclose(total, v @ v / noise, rtol=0, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.3])
@pytest.mark.parametrize("noise", [1.0, 0.25])
def test_delay_line_curve_matches_closed_form(alpha, noise):
    n = 8
    v_matrix = alpha * np.eye(n, k=-1)
    curve = fisher_memory_curve(v_matrix, noise=noise, steps=n + 5)
    k = np.arange(n)
    partial = np.cumsum(alpha ** (2 * k))
    expected = np.concatenate([alpha ** (2 * k) / (noise * partial), [0] * 5])
    np.testing.assert_allclose(curve, expected, rtol=1e-10, atol=1e-14)
    total = total_fisher_memory(v_matrix, noise=noise)
    np.testing.assert_allclose(total, expected.sum(), rtol=1e-10)


def test_total_is_the_sum_of_the_curve_and_each_term_is_bounded():
    rng = np.random.default_rng(0)
    n = 12
    v_matrix = np.triu(rng.standard_normal((n, n)), 1) + 0.6 * np.eye(n)
    v_matrix *= 0.9 / max(1.0, np.max(np.abs(np.linalg.eigvals(v_matrix))))
    v = rng.standard_normal(n)
    result = fisher_memory(v_matrix, v, noise=0.7, steps=3000)
    np.testing.assert_allclose(result.total, result.curve.sum(), rtol=1e-9)
    # Non-normal: more than a normal network's ‖v‖²/ε is possible ...
    assert result.total != pytest.approx(v @ v / 0.7, rel=1e-3)
    # ... but no single lag carries more than ‖v‖²/ε.
    assert np.all(result.curve <= v @ v / 0.7 + 1e-12)
    lyapunov = fisher_memory(
        v_matrix, v, noise=0.7, steps=50, method="lyapunov"
    )
    np.testing.assert_allclose(lyapunov.total, result.total, rtol=1e-8)
    np.testing.assert_allclose(lyapunov.curve, result.curve[:50], rtol=1e-8)


def test_supplement_table_alpha_on_subdiagonal_e1_unit_noise():
    """Kerg et al. supplement Table 6, N = 100: α on the sub-diagonal,
    v = e_1, ε = 1. The d = 0 rows agree to the table's 3 digits; the
    d = 0.2 rows (cond(C) up to 1e23) differ by up to 2 %."""
    for (alpha, beta, d), published in SUPPLEMENT_TOTAL_MEMORY.items():
        theta = chain_matrix(100, alpha, beta, d)
        total = total_fisher_memory(theta)
        if d == 0:
            assert float(f"{total:.3g}") == published
        else:
            assert total == pytest.approx(published, rel=0.02)


def test_ill_conditioned_total_agrees_with_long_curve():
    """For Θ = 0.2 I + 1.05 · shift (cond(C) ~ 1e23) the square-root method
    stays consistent: the total equals the sum of the whitened curve."""
    theta = chain_matrix(100, 1.05, 0.0, 0.2)
    result = fisher_memory(theta, steps=600)
    np.testing.assert_allclose(result.total, result.curve.sum(), rtol=1e-7)
    assert result.total == pytest.approx(20.837, abs=1e-3)


def test_cell_layer_and_model_sources_use_the_transpose():
    cell = keras.layers.SimpleRNNCell(6)
    layer = keras.layers.RNN(cell)
    model = keras.Sequential([keras.Input((3, 2)), layer])
    rng = np.random.default_rng(1)
    w = np.triu(rng.standard_normal((6, 6)), 1) * 0.5 + 0.3 * np.eye(6)
    cell.recurrent_kernel.assign(w.astype("float32"))
    v = rng.standard_normal(6)
    expected = fisher_memory_curve(
        w.T.astype("float32").astype(float), v, steps=10
    )
    for source in (cell, layer, model):
        np.testing.assert_allclose(
            fisher_memory_curve(source, v, steps=10), expected, rtol=1e-9
        )
    assert not np.allclose(expected, fisher_memory_curve(w, v, steps=10))


@pytest.mark.parametrize(
    "matrix, message",
    [
        (np.ones((2, 3)), "square"),
        (np.ones(3), "square"),
        (np.array([[0.5, np.nan], [0.0, 0.1]]), "finite"),
        (np.eye(3), "spectral radius"),
        (1.01 * np.eye(3), "spectral radius"),
    ],
)
def test_bad_matrices(matrix, message):
    with pytest.raises(ValueError, match=message):
        total_fisher_memory(matrix)


@pytest.mark.parametrize("noise", [0.0, -1.0, np.inf])
def test_bad_noise(noise):
    with pytest.raises(ValueError, match="`noise`"):
        fisher_memory_curve(0.5 * np.eye(2), noise=noise)


def test_bad_arguments():
    v_matrix = 0.5 * np.eye(3)
    with pytest.raises(ValueError, match="`v`"):
        total_fisher_memory(v_matrix, v=np.ones(4))
    with pytest.raises(ValueError, match="`steps`"):
        fisher_memory_curve(v_matrix, steps=0)
    with pytest.raises(TypeError, match="`steps`"):
        fisher_memory_curve(v_matrix, steps=2.5)
    with pytest.raises(ValueError, match="`method`"):
        total_fisher_memory(v_matrix, method="truncated")
    with pytest.raises(TypeError, match="`source`"):
        total_fisher_memory("not a matrix")


def test_result_record():
    result = memory.fisher_memory(0.5 * np.eye(2), steps=3, noise=2.0)
    assert result.curve.shape == (3,)
    assert result.noise == 2.0
