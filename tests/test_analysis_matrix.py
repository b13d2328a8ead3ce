"""Recurrent matrices from arrays, cells, layers and models."""

import keras
import numpy as np
import pytest

import tf_nnrnn
from tf_nnrnn.analysis.matrix import as_matrix, as_vector, recurrent_matrix


def test_plain_matrices_are_validated_copies():
    m = np.arange(4.0).reshape(2, 2)
    out = recurrent_matrix(m)
    np.testing.assert_array_equal(out, m)
    assert out.dtype == np.float64 and out is not m
    tensor = keras.ops.convert_to_tensor(m.astype("float32"))
    np.testing.assert_array_equal(recurrent_matrix(tensor), m)
    np.testing.assert_array_equal(recurrent_matrix([[1, 2], [3, 4]]), m + 1)


def test_keras_simple_rnn_cell_layer_and_models():
    cell = keras.layers.SimpleRNNCell(5, name="inner")
    layer = keras.layers.RNN(cell, name="rnn_a")
    inputs = keras.Input((4, 3))
    hidden = layer(inputs)
    second = keras.layers.SimpleRNN(2, name="rnn_b")(
        keras.layers.Reshape((5, 1))(hidden)
    )
    model = keras.Model(inputs, second)
    w = keras.ops.convert_to_numpy(cell.recurrent_kernel)
    for source in (cell, layer, model):
        np.testing.assert_array_equal(recurrent_matrix(source), w.T)
    w_b = keras.ops.convert_to_numpy(
        model.get_layer("rnn_b").cell.recurrent_kernel
    )
    np.testing.assert_array_equal(recurrent_matrix(model, layer=1), w_b.T)
    np.testing.assert_array_equal(recurrent_matrix(model, layer="rnn_b"), w_b.T)
    nested = keras.Sequential([keras.Input((4, 3)), model])
    np.testing.assert_array_equal(recurrent_matrix(nested), w.T)


def test_our_cells_use_recurrent_matrix():
    cell = tf_nnrnn.NNRNNCell(6)
    layer = keras.layers.RNN(cell)
    model = keras.Sequential([keras.Input((3, 2)), layer])
    w = keras.ops.convert_to_numpy(cell.recurrent_matrix())
    for source in (cell, layer, model):
        np.testing.assert_allclose(recurrent_matrix(source), w.T, rtol=1e-6)


def test_model_without_recurrent_layer():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="without a recurrent layer"):
        recurrent_matrix(model)


def test_bad_layer_selection():
    model = keras.Sequential([keras.Input((3, 2)), keras.layers.SimpleRNN(2)])
    with pytest.raises(ValueError, match="`layer`"):
        recurrent_matrix(model, layer=3)
    with pytest.raises(ValueError, match="`layer`"):
        recurrent_matrix(model, layer="nope")
    with pytest.raises(ValueError, match="`layer`"):
        recurrent_matrix(np.eye(2), layer=0)


def test_gated_and_unbuilt_cells():
    lstm = keras.Sequential([keras.Input((3, 2)), keras.layers.LSTM(4)])
    with pytest.raises(ValueError, match="square"):
        recurrent_matrix(lstm)
    with pytest.raises(ValueError, match="unbuilt"):
        recurrent_matrix(keras.layers.SimpleRNNCell(3))
    dense = keras.layers.Dense(3)
    dense.build((None, 2))
    with pytest.raises(TypeError, match="recurrent_kernel"):
        recurrent_matrix(dense)


@pytest.mark.parametrize(
    "value, error, message",
    [
        (np.ones((2, 3)), ValueError, "square"),
        (np.ones((2, 2, 2)), ValueError, "square"),
        (np.zeros((0, 0)), ValueError, "non-empty"),
        (np.array([[1.0, np.nan], [0, 1]]), ValueError, "finite"),
        (np.eye(2) * 1j, ValueError, "complex"),
        ("abc", TypeError, "real square matrix"),
        (None, TypeError, "real square matrix"),
    ],
)
def test_bad_matrices(value, error, message):
    with pytest.raises(error, match=message):
        as_matrix(value)
    with pytest.raises(error, match=message):
        recurrent_matrix(value)


def test_as_vector():
    np.testing.assert_array_equal(as_vector([1, 2], 2), [1.0, 2.0])
    with pytest.raises(ValueError, match="`v`"):
        as_vector([1, 2, 3], 2)
    with pytest.raises(ValueError, match="`v`"):
        as_vector([1, np.inf], 2)
