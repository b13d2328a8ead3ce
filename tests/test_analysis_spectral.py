"""Spectral radius: power iteration, Rayleigh quotient, the Keras bound."""

import keras
import numpy as np
import pytest

from tests.helpers import assert_config_roundtrip, assert_saved_model_identical
from tf_nnrnn.analysis.matrix import recurrent_matrix
from tf_nnrnn.analysis.spectral import (
    SpectralRadiusBound,
    power_iteration,
    rayleigh_quotient,
    spectral_radius,
    spectral_radius_upper_bound,
)


@pytest.mark.parametrize("seed", range(8))
def test_power_iteration_agrees_with_eigvals(seed):
    rng = np.random.default_rng(seed)
    v_matrix = rng.standard_normal((20, 20)) / np.sqrt(20)
    exact = np.max(np.abs(np.linalg.eigvals(v_matrix)))
    result = power_iteration(v_matrix, num_iters=5000)
    assert result.converged
    assert result.spectral_radius == pytest.approx(exact, rel=1e-6)
    # The Ritz vector is an eigenvector: its Rayleigh quotient is λ.
    quotient = rayleigh_quotient(v_matrix, result.vector)
    assert quotient == pytest.approx(result.eigenvalue, rel=1e-6)
    assert spectral_radius(v_matrix, "power") == pytest.approx(exact, 1e-6)


def test_power_iteration_on_a_rotation_pair():
    # Dominant complex pair 0.9 e^{±0.7i}: a single real vector never
    # settles, the 2-vector block does.
    c, s = np.cos(0.7), np.sin(0.7)
    blocks = np.zeros((5, 5))
    blocks[:2, :2] = 0.9 * np.array([[c, -s], [s, c]])
    blocks[2:, 2:] = np.diag([0.5, -0.3, 0.1])
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((5, 5)))
    result = power_iteration(q @ blocks @ q.T)
    assert result.eigenvalue.real == pytest.approx(0.9 * c, rel=1e-9)
    assert abs(result.eigenvalue.imag) == pytest.approx(0.9 * s, rel=1e-9)


def test_rayleigh_quotient_of_eigenvectors():
    v_matrix = np.array([[2.0, 1.0], [0.0, 0.5]])
    values, vectors = np.linalg.eig(v_matrix)
    for value, vector in zip(values, vectors.T):
        assert rayleigh_quotient(v_matrix, vector) == pytest.approx(value)
    with pytest.raises(ValueError, match="nonzero"):
        rayleigh_quotient(v_matrix, [0.0, 0.0])
    with pytest.raises(ValueError, match="`x`"):
        rayleigh_quotient(v_matrix, [1.0, 0.0, 0.0])


@pytest.mark.parametrize("seed", range(4))
def test_gelfand_bound_is_an_upper_bound(seed):
    rng = np.random.default_rng(seed)
    v_matrix = rng.standard_normal((32, 32)) / np.sqrt(32)
    exact = spectral_radius(v_matrix)
    bound = spectral_radius_upper_bound(v_matrix)
    assert exact <= bound <= 1.01 * exact
    assert spectral_radius(v_matrix, "gelfand") == bound


def test_gelfand_bound_of_nilpotent_and_zero_matrices():
    assert spectral_radius_upper_bound(np.zeros((3, 3))) < 1e-6
    assert spectral_radius_upper_bound(np.eye(4, k=-1)) < 0.01


def make_rnn(constraint, units=12):
    # Recurrent kernel starts with spectral radius 1.5 > the bound.
    return keras.Sequential(
        [
            keras.Input((8, 3)),
            keras.layers.SimpleRNN(
                units,
                recurrent_initializer=keras.initializers.Orthogonal(1.5),
                recurrent_constraint=constraint,
            ),
            keras.layers.Dense(1),
        ]
    )


def test_constraint_holds_after_training_steps(tmp_path):
    bound = 0.8
    model = make_rnn(SpectralRadiusBound(bound))
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8, 3)).astype("float32")
    y = 3.0 * x.sum(axis=(1, 2))[:, None]
    assert spectral_radius(model) == pytest.approx(1.5, rel=1e-5)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)
    radius = spectral_radius(model)
    assert radius <= bound
    assert radius > 0.95 * bound  # shrinks to the bound, not far below
    assert_saved_model_identical(model, x[:4], tmp_path)


def test_constraint_leaves_small_kernels_alone():
    w = np.diag([0.3, -0.2, 0.1]).astype("float32")
    out = keras.ops.convert_to_numpy(SpectralRadiusBound(0.9)(w))
    np.testing.assert_array_equal(out, w)
    big = keras.ops.convert_to_numpy(SpectralRadiusBound(0.9)(4 * w))
    assert spectral_radius(big.astype(float)) == pytest.approx(0.9, rel=1e-4)


def test_constraint_config_roundtrip():
    clone = assert_config_roundtrip(SpectralRadiusBound(0.5, num_squarings=8))
    assert clone.max_radius == 0.5 and clone.num_squarings == 8


def test_constraint_bad_arguments():
    for radius in (0.0, -1.0, np.inf):
        with pytest.raises(ValueError, match="`max_radius`"):
            SpectralRadiusBound(radius)
    with pytest.raises(ValueError, match="`num_squarings`"):
        SpectralRadiusBound(num_squarings=0)
    with pytest.raises(ValueError, match="square"):
        SpectralRadiusBound()(np.ones((3, 4), "float32"))
    with pytest.raises(ValueError, match="`method`"):
        spectral_radius(np.eye(2), method="qr")
    with pytest.raises(ValueError, match="`num_iters`"):
        power_iteration(np.eye(2), num_iters=0)


def test_matrix_from_the_constrained_model_is_the_transpose():
    model = make_rnn(None, units=4)
    w = keras.ops.convert_to_numpy(model.layers[0].cell.recurrent_kernel)
    np.testing.assert_array_equal(recurrent_matrix(model), w.T)
