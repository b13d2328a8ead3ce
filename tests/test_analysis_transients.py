"""Transient amplification through the nnRNN paper's feed-forward chains."""

import keras
import numpy as np
import pytest

from tf_nnrnn.analysis.transients import (
    chain_matrix,
    transient_norms,
    transient_summary,
)


def test_chain_matrix_structure():
    theta = chain_matrix(5, alpha=0.9, beta=0.01, diagonal=0.2)
    np.testing.assert_array_equal(np.diag(theta), 0.2)
    np.testing.assert_array_equal(np.diag(theta, -1), 0.9)
    assert np.all(np.tril(theta, -2)[np.tril_indices(5, -2)] == 0.01)
    assert np.all(np.triu(theta, 1) == 0)


@pytest.mark.parametrize("alpha", [0.95, 1.0, 1.05])
def test_nilpotent_chain_dies_at_n(alpha):
    n = 30
    norms = transient_norms(chain_matrix(n, alpha), steps=n + 5, num_samples=20)
    assert norms.shape == (20, n + 6)
    np.testing.assert_allclose(norms[:, 0], 1.0)
    assert np.all(norms[:, n:] == 0.0)
    assert np.all(norms[:, n - 1] > 0.0)


def test_amplification_grows_with_alpha():
    n = 100
    peaks = {}
    for alpha in (0.95, 1.0, 1.05):
        summary = transient_summary(
            transient_norms(chain_matrix(n, alpha), steps=n, num_samples=200)
        )
        peaks[alpha] = summary
    # ‖Θ‖₂ = α: no growth for α <= 1; transient growth for α > 1.
    assert np.all(np.diff(peaks[0.95]["mean"]) <= 1e-12)
    assert np.all(np.diff(peaks[1.0]["mean"]) <= 1e-12)
    assert peaks[1.05]["peak"] > 5.0 and peaks[1.05]["peak_step"] > 50
    # E‖h_t‖² = α^{2t}(n − t)/n for a random unit h_0 (β = d = 0).
    t = np.arange(n + 1)
    expected = 1.05 ** (2 * t) * (n - t) / n
    mean_square = np.mean(
        transient_norms(chain_matrix(n, 1.05), steps=n, num_samples=4000) ** 2,
        axis=0,
    )
    np.testing.assert_allclose(mean_square[:90], expected[:90], rtol=0.1)


def test_beta_lifts_the_tail():
    n = 100
    flat = transient_norms(chain_matrix(n, 1.0, 0.0), steps=n, seed=3)
    lifted = transient_norms(chain_matrix(n, 1.0, 0.005), steps=n, seed=3)
    assert (
        transient_summary(lifted)["mean"][60]
        > (transient_summary(flat)["mean"][60])
    )


def test_cell_norms_follow_the_row_convention():
    cell = keras.layers.SimpleRNNCell(5)
    cell.build((None, 2))
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 5)).astype("float32")
    cell.recurrent_kernel.assign(w)
    norms = transient_norms(cell, steps=6, num_samples=4, seed=7)
    h = np.random.default_rng(7).standard_normal((5, 4))
    h = (h / np.linalg.norm(h, axis=0)).T  # rows: the same h_0 as rows
    expected = []
    for _ in range(7):
        expected.append(np.linalg.norm(h, axis=1))
        h = h @ w.astype(float)  # Keras' step h_t = h_{t-1} @ W
    np.testing.assert_allclose(norms, np.stack(expected, axis=1), rtol=1e-9)


def test_bad_arguments():
    with pytest.raises(ValueError, match="`n`"):
        chain_matrix(0)
    with pytest.raises(ValueError, match="`alpha`"):
        chain_matrix(3, alpha=np.nan)
    with pytest.raises(TypeError, match="`beta`"):
        chain_matrix(3, beta="x")
    with pytest.raises(ValueError, match="`steps`"):
        transient_norms(np.eye(2), steps=-1)
    with pytest.raises(ValueError, match="`num_samples`"):
        transient_norms(np.eye(2), num_samples=0)
    with pytest.raises(ValueError, match="square"):
        transient_norms(np.ones((2, 3)))
    with pytest.raises(ValueError, match="`norms`"):
        transient_summary(np.ones(3))
