"""Initializers, constraints, regularizers and modReLU."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_nnrnn
from tests.helpers import assert_config_roundtrip, assert_saved_model_identical
from tf_nnrnn import initializers as inits
from tf_nnrnn.parametrizations import expm, orthogonality_error, skew


@pytest.mark.parametrize("cls", [inits.Henaff, inits.Cayley])
@pytest.mark.parametrize("n", [6, 7])
def test_block_initializers_give_2x2_rotations(cls, n):
    x = cls(seed=1)((n, n)).numpy()
    assert np.all(np.tril(x) == 0)
    nonzero = np.argwhere(x != 0)
    assert all(j == i + 1 and i % 2 == 0 for i, j in nonzero)
    assert len(nonzero) == n // 2
    p = expm(skew(tf.constant(x))).numpy()
    assert float(orthogonality_error(p)) < 1e-5
    s = x[np.arange(0, n - 1, 2), np.arange(1, n, 2)]
    if cls is inits.Henaff:
        assert np.all(np.abs(s) <= np.pi)
    else:  # -sqrt((1 - cos u) / (1 + cos u)) = -tan(u/2), u in [0, pi/2]
        assert np.all((s <= 0) & (s >= -1.0))
        # rotation angle of each block equals |s|... via the 2x2 exponential
        np.testing.assert_allclose(p[0, 0], np.cos(s[0]), atol=1e-6)


def test_random_orthogonal_skew_reproduces_haar_matrix():
    x = inits.RandomOrthogonalSkew(seed=2)((8, 8)).numpy()
    assert np.all(np.tril(x) == 0)
    p = expm(skew(tf.constant(x, tf.float64))).numpy()
    assert float(orthogonality_error(p)) < 1e-6
    assert np.linalg.det(p) == pytest.approx(1.0)
    # Not block diagonal: a dense rotation.
    assert np.count_nonzero(np.abs(p) > 1e-3) > 40


def test_initializer_seeds_are_deterministic():
    for cls in (inits.Henaff, inits.Cayley, inits.RandomOrthogonalSkew):
        a = cls(seed=5)((6, 6)).numpy()
        b = cls(seed=5)((6, 6)).numpy()
        np.testing.assert_array_equal(a, b)


def test_initializer_get_and_errors():
    assert isinstance(inits.get("cayley"), inits.Cayley)
    assert isinstance(inits.get("Henaff"), inits.Henaff)
    assert isinstance(
        inits.get("random_orthogonal"), inits.RandomOrthogonalSkew
    )
    assert isinstance(inits.get("zeros"), keras.initializers.Zeros)
    with pytest.raises(ValueError, match="skew_initializer.*cayley"):
        inits.get("bogus")
    with pytest.raises(ValueError, match="square"):
        inits.Henaff()((3, 4))


@pytest.mark.parametrize(
    "obj",
    [
        inits.Henaff(seed=1),
        inits.Cayley(seed=2),
        inits.RandomOrthogonalSkew(seed=3),
        tf_nnrnn.StrictlyLowerTriangular(block=False),
        tf_nnrnn.ClipRange(0.0, 1.5),
        tf_nnrnn.ClipRange(None, 2.0),
        tf_nnrnn.GammaRegularizer(0.1, "l1"),
        tf_nnrnn.GammaRegularizer(1e-4),
    ],
    ids=lambda o: type(o).__name__,
)
def test_config_roundtrip(obj):
    clone = assert_config_roundtrip(obj)
    assert clone.get_config() == obj.get_config()


def test_gamma_regularizer_values():
    g = keras.ops.array([0.5, 1.0, 2.0])
    assert float(tf_nnrnn.GammaRegularizer(2.0, "l2")(g)) == pytest.approx(
        2.0 * (0.25 + 0 + 1.0)
    )
    assert float(tf_nnrnn.GammaRegularizer(2.0, "l1")(g)) == pytest.approx(
        2.0 * (0.5 + 0 + 1.0)
    )


def test_strictly_lower_triangular_block_and_strict():
    w = keras.ops.ones((4, 4))
    strict = tf_nnrnn.StrictlyLowerTriangular(block=False)(w).numpy()
    np.testing.assert_array_equal(strict, np.tril(np.ones((4, 4)), -1))
    block = tf_nnrnn.StrictlyLowerTriangular()(w).numpy()
    assert block[1, 0] == 0 and block[3, 2] == 0 and block[2, 1] == 1
    with pytest.raises(ValueError, match="square"):
        tf_nnrnn.StrictlyLowerTriangular()(keras.ops.ones((2, 3)))


def test_modrelu_keeps_sign_changes_magnitude():
    z = keras.ops.array([-2.0, -0.5, 0.5, 3.0])
    b = keras.ops.array([-1.0, -1.0, 0.5, 0.5])
    np.testing.assert_allclose(
        tf_nnrnn.modrelu(z, b).numpy(), [-1.0, 0.0, 1.0, 3.5]
    )


def test_modrelu_layer_outside_cells(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(
        inputs, tf_nnrnn.ModReLU()(keras.layers.Dense(4)(inputs))
    )
    layer = model.layers[-1]
    assert layer.bias.shape == (4,)
    assert np.all(np.abs(layer.bias.numpy()) <= 0.01)
    assert_config_roundtrip(layer)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    assert_saved_model_identical(model, x, tmp_path)
