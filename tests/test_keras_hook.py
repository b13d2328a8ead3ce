"""Fails loudly if Keras stops driving our once-per-sequence hook.

`tf_nnrnn.cells.base` relies on `keras.layers.RNN` calling
`cell.get_dropout_mask(...)` once before the step loop and
`cell.reset_dropout_mask()` after it, for cells that inherit Keras'
private `DropoutRNNCell` mixin. If a Keras release changes that, these tests
fail and the recurrent matrix would silently be recomputed every step.
"""

import importlib

import keras
import numpy as np
import pytest

import tf_nnrnn


def test_private_keras_pieces_exist():
    mod = importlib.import_module("keras.src.layers.rnn.dropout_rnn_cell")
    assert hasattr(mod, "DropoutRNNCell")
    rnn = keras.layers.RNN
    assert hasattr(rnn, "_maybe_config_dropout_masks")
    assert hasattr(rnn, "_maybe_reset_dropout_masks")
    assert issubclass(tf_nnrnn.NNRNNCell, mod.DropoutRNNCell)


class CountingCell(tf_nnrnn.ExpRNNCell):
    calls = 0

    def matrix_from(self, *params):
        type(self).calls += 1
        return super().matrix_from(*params)


@pytest.mark.parametrize("with_initial_state", [False, True])
@pytest.mark.parametrize("wrap", ["eager", "function", "stacked"])
def test_matrix_computed_once_per_forward_pass(with_initial_state, wrap):
    timesteps = 9
    if wrap == "stacked":
        cells = [CountingCell(4), CountingCell(4)]
        layer = keras.layers.RNN(keras.layers.StackedRNNCells(cells))
        expected = 2
    else:
        layer = keras.layers.RNN(CountingCell(4))
        expected = 1
    x = np.ones((2, timesteps, 3), "float32")
    layer(x)  # build
    # training=True: computed once per pass (inference reads the cache,
    # tests/test_matrix_cache.py).
    kwargs = {"training": True}
    if with_initial_state:
        state = np.zeros((2, 4), "float32")
        kwargs["initial_state"] = [state, state] if wrap == "stacked" else state
    CountingCell.calls = 0
    if wrap == "function":
        import tensorflow as tf

        fn = tf.function(lambda v: layer(v, **kwargs))
        fn(x)  # trace counts every Python-level call once
    else:
        layer(x, **kwargs)
    assert CountingCell.calls == expected, (
        "keras.layers.RNN no longer calls get_dropout_mask once per forward "
        "pass: the recurrent matrix is recomputed per step. Update "
        "tf_nnrnn/cells/base.py."
    )
    cells = layer.cell.cells if wrap == "stacked" else [layer.cell]
    assert all(
        c._recurrent_matrix_cache is None and c._step_tensors is None
        for c in cells
    ), "keras.layers.RNN no longer calls reset_dropout_mask after its loop."


def test_gradient_flows_through_cached_matrix():
    import tensorflow as tf

    cell = tf_nnrnn.NNRNNCell(4)
    layer = keras.layers.RNN(cell)
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype("float32")
    layer(x)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(layer(x) ** 2)
    grads = tape.gradient(y, [cell.skew_kernel, cell.theta, cell.gamma])
    assert all(g is not None and np.abs(g.numpy()).sum() > 0 for g in grads)
