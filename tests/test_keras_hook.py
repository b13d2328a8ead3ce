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
from tests import oracle


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


def _oracle_loss(weights, x, mask_kind):
    """`sum(h_T²)` of the nnRNN in float64 (tests/oracle.py)."""
    v = oracle.nnrnn_V(
        weights["skew_kernel"],
        weights["theta"],
        weights["gamma"],
        weights["triangular_kernel"],
        mask_kind,
    )
    _, state = oracle.sequence(
        v, weights["kernel"].T, None, weights["modrelu_bias"], x
    )
    return float(np.sum(state**2))


def test_gradient_flows_through_cached_matrix(monkeypatch):
    """A pass that reads `W` from the cache (no `training=True`, weights
    unchanged since the last pass) gives the exact gradient of every
    weight: equal to float64 central differences of the oracle's loss."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    cell = tf_nnrnn.NNRNNCell(4)
    layer = keras.layers.RNN(cell)
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    layer(x)
    for w in cell.weights:  # γ ≠ 1, T ≠ 0, X's lower triangle ≠ 0
        w.assign(w.numpy() + 0.3 * rng.normal(size=w.shape))
    layer(x)  # stores W of these weights in the cache
    calls = []
    original = tf_nnrnn.NNRNNCell.matrix_from

    def spy(self, *params):
        calls.append(1)
        return original(self, *params)

    monkeypatch.setattr(tf_nnrnn.NNRNNCell, "matrix_from", spy)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(layer(x) ** 2)
    assert not calls, "the forward pass did not read W from the cache"
    grads = tape.gradient(y, cell.trainable_weights)
    assert calls  # the cache's gradient differentiates the parametrization

    weights = {w.name: w.numpy().astype(np.float64) for w in cell.weights}
    x64 = x.astype(np.float64)
    assert _oracle_loss(weights, x64, cell.triangular_mask) == pytest.approx(
        float(y), rel=1e-5
    )
    step = 1e-6
    for w, grad in zip(cell.trainable_weights, grads):
        expected = np.zeros(w.shape)
        for index in np.ndindex(*w.shape):
            plus = {**weights, w.name: weights[w.name].copy()}
            minus = {**weights, w.name: weights[w.name].copy()}
            plus[w.name][index] += step
            minus[w.name][index] -= step
            expected[index] = (
                _oracle_loss(plus, x64, cell.triangular_mask)
                - _oracle_loss(minus, x64, cell.triangular_mask)
            ) / (2 * step)
        scale = np.abs(expected).max()
        assert scale > 1e-2, w.name  # a gradient worth comparing
        # float32 forward and backward against float64: 1e-4 of the scale.
        np.testing.assert_allclose(
            grad.numpy(), expected, rtol=0, atol=1e-4 * scale, err_msg=w.name
        )
