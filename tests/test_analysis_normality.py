"""Non-normality: Schur form, Henrici departure, triangular share."""

import keras
import numpy as np
import pytest

import tf_nnrnn
from tf_nnrnn.analysis.normality import (
    block_diagonal_mask,
    henrici_departure,
    non_normality,
    schur_form,
)
from tf_nnrnn.analysis.transients import chain_matrix


def normal_matrices(rng, n=9):
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    blocks = np.zeros((n, n))
    for i in range(0, n - 1, 2):
        r, phi = rng.uniform(0.1, 2.0), rng.uniform(0, 2 * np.pi)
        blocks[i : i + 2, i : i + 2] = r * np.array(
            [[np.cos(phi), -np.sin(phi)], [np.sin(phi), np.cos(phi)]]
        )
    blocks[-1, -1] = rng.uniform(-2, 2)
    symmetric = rng.standard_normal((n, n))
    return [q @ blocks @ q.T, symmetric + symmetric.T, q, 3.0 * np.eye(n)]


def test_henrici_is_zero_for_normal_matrices():
    rng = np.random.default_rng(0)
    for v_matrix in normal_matrices(rng):
        scale = np.linalg.norm(v_matrix)
        assert henrici_departure(v_matrix) <= 1e-13 * scale
        record = non_normality(v_matrix)
        assert record.triangular_share <= 1e-13
        assert record.relative_henrici <= 1e-13


@pytest.mark.parametrize("a, b, c", [(0.5, 2.0, 0.5), (-1.0, -0.3, 2.0)])
def test_henrici_closed_form_triangular_2x2(a, b, c):
    # [[a, b], [0, c]]: ‖V‖_F² − |a|² − |c|² = b².
    v_matrix = np.array([[a, b], [0.0, c]])
    assert henrici_departure(v_matrix) == pytest.approx(abs(b), rel=1e-12)
    q, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((2, 2)))
    rotated = q @ v_matrix @ q.T  # departure is unitarily invariant
    assert henrici_departure(rotated) == pytest.approx(abs(b), rel=1e-12)


@pytest.mark.parametrize("a, b, c", [(0.3, 2.0, -0.5), (-0.1, -1.0, 4.0)])
def test_henrici_closed_form_rotation_block(a, b, c):
    # [[a, b], [c, a]], bc < 0: λ = a ± i sqrt(-bc), so the departure is
    # sqrt(2a² + b² + c² − 2(a² − bc)) = |b + c|.
    v_matrix = np.array([[a, b], [c, a]])
    assert henrici_departure(v_matrix) == pytest.approx(abs(b + c), rel=1e-12)


def test_henrici_matches_the_eigenvalue_formula():
    rng = np.random.default_rng(2)
    v_matrix = rng.standard_normal((12, 12))
    eigenvalues = np.linalg.eigvals(v_matrix)
    formula = np.sqrt(np.sum(v_matrix**2) - np.sum(np.abs(eigenvalues) ** 2))
    assert henrici_departure(v_matrix) == pytest.approx(formula, rel=1e-8)


def test_schur_form_reconstructs_and_is_quasi_triangular():
    rng = np.random.default_rng(3)
    v_matrix = rng.standard_normal((10, 10))
    s, q = schur_form(v_matrix)
    np.testing.assert_allclose(q @ s @ q.T, v_matrix, atol=1e-12)
    np.testing.assert_allclose(q.T @ q, np.eye(10), atol=1e-12)
    mask = block_diagonal_mask(s)
    assert np.all(np.tril(s, -1)[~mask] == 0)
    record = non_normality(v_matrix)
    assert np.all(np.diff(np.abs(record.eigenvalues)) <= 1e-12)
    assert record.spectral_radius == pytest.approx(
        np.max(np.abs(np.linalg.eigvals(v_matrix)))
    )
    assert 0 < record.triangular_share < 1


def test_feed_forward_chain_is_all_triangular():
    record = non_normality(chain_matrix(20, alpha=1.0))
    assert record.triangular_share > 0.999
    assert record.henrici == pytest.approx(np.sqrt(19), rel=1e-6)


def test_block_diagonal_mask():
    s = np.array(
        [[1.0, 2.0, 3.0, 4.0], [-1.0, 1.0, 5.0, 6.0], [0, 0, 2.0, 7.0]]
        + [[0, 0, 0, 3.0]]
    )
    expected = np.array(
        [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=bool
    )
    np.testing.assert_array_equal(block_diagonal_mask(s), expected)


def test_nnrnn_cell_is_normal_until_t_is_nonzero():
    cell = tf_nnrnn.NNRNNCell(8, skew_initializer="random_orthogonal")
    keras.layers.RNN(cell)(np.zeros((1, 2, 3), "float32"))
    assert non_normality(cell).relative_henrici < 1e-5
    t = np.tril(np.random.default_rng(4).standard_normal((8, 8)), -2)
    cell.triangular_kernel.assign(t.astype("float32"))
    record = non_normality(cell)
    assert record.relative_henrici > 0.1
    w = keras.ops.convert_to_numpy(cell.recurrent_matrix())
    assert record.henrici == pytest.approx(
        henrici_departure(w.T.astype(float)), rel=1e-9
    )


def test_bad_inputs():
    with pytest.raises(ValueError, match="square"):
        non_normality(np.ones((3, 2)))
    with pytest.raises(ValueError, match="finite"):
        henrici_departure(np.array([[np.inf]]))
    with pytest.raises(ValueError, match="without a recurrent layer"):
        non_normality(
            keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        )
