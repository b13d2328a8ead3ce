"""The recurrent matrix cache of inference passes (cells/matrix_cache.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_nnrnn
from tf_nnrnn import layers as fused
from tf_nnrnn.cells.matrix_cache import keras_training_flag

CELLS = [tf_nnrnn.NNRNNCell, tf_nnrnn.ExpRNNCell, tf_nnrnn.ScoRNNCell]


@pytest.fixture
def count_computations(monkeypatch):
    """Counts `matrix_from` calls (in graph mode: traces) of every cell."""
    counts = {"n": 0}
    for cls in CELLS:
        orig = cls.matrix_from

        def spy(self, *params, orig=orig):
            counts["n"] += 1
            return orig(self, *params)

        monkeypatch.setattr(cls, "matrix_from", spy)
    return counts


def _model(layer, steps=7, features=3):
    model = keras.Sequential(
        [keras.Input((steps, features)), layer, keras.layers.Dense(2)]
    )
    model.compile(
        optimizer=tf_nnrnn.make_optimizer("rmsprop", 1e-2), loss="mse"
    )
    return model


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(4, 7, 3)).astype("float32"),
        rng.normal(size=(4, 2)).astype("float32"),
    )


@pytest.mark.parametrize("cell_cls", CELLS)
@pytest.mark.parametrize("kind", ["cell", "fused"])
def test_inference_reuses_matrix_until_weights_change(
    cell_cls, kind, count_computations
):
    if kind == "cell":
        layer = keras.layers.RNN(cell_cls(4))
        cell = layer.cell
    else:
        layer = {
            tf_nnrnn.NNRNNCell: fused.NNRNN,
            tf_nnrnn.ExpRNNCell: fused.ExpRNN,
            tf_nnrnn.ScoRNNCell: fused.ScoRNN,
        }[cell_cls](4)
    model = _model(layer)
    cell = layer.cell
    x, y = _data()
    fresh = model(x, training=True).numpy()  # no dropout: same outputs
    count_computations["n"] = 0
    for _ in range(3):
        np.testing.assert_allclose(model(x).numpy(), fresh, atol=1e-6)
    assert count_computations["n"] == 1  # the first call fills the cache

    model.fit(x, y, epochs=1, verbose=0)  # the weights move
    count_computations["n"] = 0
    after_fit = model(x).numpy()
    assert count_computations["n"] == 1  # refreshed once
    assert not np.allclose(after_fit, fresh)
    np.testing.assert_allclose(
        after_fit, model(x, training=True).numpy(), atol=1e-6
    )

    # predict (graph mode) equals eager, and set_weights refreshes.
    np.testing.assert_allclose(
        model.predict(x, verbose=0), after_fit, atol=1e-5
    )
    weights = cell.get_weights()
    cell.set_weights([w * 0.5 for w in weights])
    halved = model.predict(x, verbose=0)
    np.testing.assert_allclose(
        halved, model(x, training=True).numpy(), atol=1e-5
    )
    assert not np.allclose(halved, after_fit)
    # The cache adds no Keras weight.
    assert len(cell.weights) == len(weights)


@pytest.mark.parametrize("cell_cls", CELLS)
def test_gradient_through_cached_matrix_is_exact(cell_cls):
    layer = keras.layers.RNN(cell_cls(4))
    x, _ = _data(1)
    layer(x)

    def grads(**kwargs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(layer(x, **kwargs)))
        return tape.gradient(loss, layer.trainable_weights)

    reference = grads(training=True)
    for _ in range(2):  # a cache miss, then a hit
        cached = grads()
        for g, r, v in zip(cached, reference, layer.trainable_weights):
            assert g is not None, v.path
            np.testing.assert_allclose(g.numpy(), r.numpy(), atol=1e-6)


def test_training_step_does_not_use_the_cache(monkeypatch):
    """`fit` computes W directly (the cached path would recompute the
    parametrization in its backward pass); `predict` uses the cache."""
    import tf_nnrnn.cells.base as base

    uses = []
    orig = base.cached_matrix

    def spy(*args):
        uses.append(1)
        return orig(*args)

    monkeypatch.setattr(base, "cached_matrix", spy)
    for layer in (keras.layers.RNN(tf_nnrnn.ExpRNNCell(4)), fused.ExpRNN(4)):
        model = _model(layer)
        x, y = _data()
        uses.clear()
        model.fit(x, y, epochs=2, batch_size=2, verbose=0)
        assert not uses
        model.predict(x, verbose=0)
        assert uses


def test_keras_training_flag_is_readable():
    """Fails if Keras moves the call context the cells read `training`
    from (then every pass would take the cached path: exact, slower)."""
    seen = []

    class Probe(keras.layers.Layer):
        def call(self, x, training=None):
            seen.append(keras_training_flag())
            return x

    probe = Probe()
    model = keras.Sequential([keras.Input((2,)), probe])
    seen.clear()  # the symbolic build
    model(np.ones((1, 2)), training=True)
    model(np.ones((1, 2)), training=False)
    assert seen == [True, False]
    assert keras_training_flag() is None  # outside any call


def test_cached_predict_under_xla_and_savedmodel_export(tmp_path):
    model = _model(keras.layers.RNN(tf_nnrnn.NNRNNCell(4)))
    model.compile(loss="mse", jit_compile=True)
    x, _ = _data(2)
    expected = model(x, training=True).numpy()
    for _ in range(2):
        np.testing.assert_allclose(
            model.predict(x, verbose=0), expected, atol=1e-5
        )
    path = str(tmp_path / "exported")
    model.export(path, verbose=False)
    restored = tf.saved_model.load(path)
    np.testing.assert_allclose(
        restored.serve(tf.constant(x)).numpy(), expected, atol=1e-5
    )


def test_checkpoints_leave_the_cache_out(tmp_path):
    """A restored cache would pair a stored W with the stored weights: a
    cell with other constants (scoRNN's D) would then read a stale W."""

    def model(num_negative_ones):
        cell = tf_nnrnn.ScoRNNCell(4, num_negative_ones)
        return keras.Sequential([keras.Input((5, 3)), keras.layers.RNN(cell)])

    x, _ = _data(3)
    x = x[:, :5]
    saved = model(1)
    saved.predict(x, verbose=0)  # fills the cache
    path = tf.train.Checkpoint(model=saved).write(str(tmp_path / "ckpt"))
    names = [name for name, _ in tf.train.list_variables(path)]
    assert not any("cache" in name for name in names), names
    restored = model(3)
    tf.train.Checkpoint(model=restored).read(path).assert_consumed()
    np.testing.assert_allclose(
        restored.predict(x, verbose=0),
        restored(x, training=True).numpy(),
        atol=1e-6,
    )


def test_cache_can_be_turned_off(monkeypatch):
    import tf_nnrnn.cells.base as base

    monkeypatch.setattr(base, "cached_matrix", None)  # must not be called
    cell = tf_nnrnn.NNRNNCell(4, cache_recurrent_matrix=False)
    model = _model(keras.layers.RNN(cell))
    x, _ = _data()
    np.testing.assert_allclose(
        model.predict(x, verbose=0), model(x, training=True), atol=1e-5
    )
    assert cell._matrix_cache is None
    config = cell.get_config()
    assert config["cache_recurrent_matrix"] is False
    assert not type(cell).from_config(config).cache_recurrent_matrix
    fused_layer = fused.ExpRNN(4, cache_recurrent_matrix=False)
    assert fused_layer.cell.cache_recurrent_matrix is False
    with pytest.raises(TypeError, match="cache_recurrent_matrix"):
        tf_nnrnn.ExpRNNCell(4, cache_recurrent_matrix="no")
