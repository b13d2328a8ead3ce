"""Fused sequence layers equal keras.layers.RNN(cell), values and gradients."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_nnrnn
from tests.helpers import assert_config_roundtrip, assert_saved_model_identical
from tf_nnrnn import layers

PAIRS = {
    "nnrnn": (layers.NNRNN, tf_nnrnn.NNRNNCell, {}),
    "exprnn": (layers.ExpRNN, tf_nnrnn.ExpRNNCell, {}),
    "scornn": (layers.ScoRNN, tf_nnrnn.ScoRNNCell, {"num_negative_ones": 2}),
}


def make_pair(name, units=6, **kwargs):
    """A fused layer and `RNN(cell)` with the same (perturbed) weights."""
    fused_cls, cell_cls, extra = PAIRS[name]
    kwargs = {**extra, **kwargs}
    flags = {
        k: kwargs.pop(k)
        for k in ("return_sequences", "return_state", "go_backwards")
        if k in kwargs
    }
    zero = kwargs.pop("zero_output_for_mask", False)
    fused = fused_cls(units, zero_output_for_mask=zero, **flags, **kwargs)
    ref = keras.layers.RNN(
        cell_cls(units, **kwargs), zero_output_for_mask=zero, **flags
    )
    return fused, ref


def sync(fused, ref, x, rng):
    fused(x)
    ref(x)
    for w in fused.weights:
        w.assign(w.numpy() + 0.1 * rng.normal(size=w.shape))
    ref.set_weights(fused.get_weights())


def outputs_and_grads(layer, x, **call_kwargs):
    x = tf.constant(x)
    state = call_kwargs.get("initial_state")
    with tf.GradientTape() as tape:
        tape.watch(x)
        if state is not None:
            tape.watch(state)
        out = layer(x, **call_kwargs)
        out = list(out) if isinstance(out, (list, tuple)) else [out]
        # A loss that weights every output and state differently.
        loss = sum(
            tf.reduce_sum(tf.sin(3.0 * o + i)) for i, o in enumerate(out)
        )
    sources = [x] + list(layer.trainable_weights)
    if state is not None:
        sources.append(state)
    grads = tape.gradient(loss, sources)
    return [o.numpy() for o in out], [g.numpy() for g in grads]


def assert_same(fused, ref, x, **kw):
    out_f, g_f = outputs_and_grads(fused, x, **kw)
    out_r, g_r = outputs_and_grads(ref, x, **kw)
    assert len(out_f) == len(out_r)
    for a, b in zip(out_f, out_r):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for a, b in zip(g_f, g_r):
        scale = max(1.0, np.abs(b).max())
        np.testing.assert_allclose(a / scale, b / scale, atol=2e-5)


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize(
    "flags",
    [
        {"return_sequences": True, "return_state": True},
        {"go_backwards": True},
        {"return_sequences": True, "go_backwards": True},
        {"return_sequences": True, "use_bias": True},
    ],
)
def test_fused_equals_rnn_of_cell(name, flags):
    rng = np.random.default_rng(0)
    fused, ref = make_pair(name, **flags)
    x = rng.normal(size=(3, 11, 4)).astype("float32")  # 11: not a multiple
    sync(fused, ref, x, rng)
    assert_same(fused, ref, x)


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize("zero_output", [False, True])
def test_masking_and_initial_state(name, zero_output):
    rng = np.random.default_rng(1)
    fused, ref = make_pair(
        name,
        return_sequences=True,
        return_state=True,
        zero_output_for_mask=zero_output,
    )
    x = rng.normal(size=(3, 13, 4)).astype("float32")  # 13: padded chunks
    sync(fused, ref, x, rng)
    mask = np.ones((3, 13), bool)
    mask[0, 6:] = False
    mask[1, :2] = False  # leading masked steps: Keras outputs zeros there
    mask[2, 3:5] = False
    state = tf.constant(rng.normal(size=(3, 6)).astype("float32"))
    assert_same(fused, ref, x, mask=mask, initial_state=state)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_gradients_match_plain_autodiff(name):
    """Both hand-written backward passes (the fused layer's BPTT and the
    cells' modReLU gradient) against autodiff of a plain Python loop."""
    rng = np.random.default_rng(5)
    fused, ref = make_pair(name, return_sequences=True)
    x = rng.normal(size=(2, 9, 3)).astype("float32")
    sync(fused, ref, x, rng)
    cell = fused.cell
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        w = cell.recurrent_matrix()
        h = tf.zeros((2, 6))
        outs = []
        for t in range(9):
            z = xt[:, t] @ cell.kernel + h @ w
            h = tf_nnrnn.activations.modrelu(z, cell.modrelu_bias)
            outs.append(h)
        loss = tf.reduce_sum(tf.sin(3.0 * tf.stack(outs, axis=1)))
    expected = tape.gradient(loss, cell.trainable_weights)
    for layer in (fused, ref):
        _, grads = outputs_and_grads(layer, x)
        for got, want in zip(grads[1:], expected):
            scale = max(1.0, np.abs(want.numpy()).max())
            np.testing.assert_allclose(got / scale, want / scale, atol=2e-5)


def test_generic_activation_path_matches():
    rng = np.random.default_rng(2)
    fused, ref = make_pair(
        "exprnn", return_sequences=True, activation="tanh", use_bias=True
    )
    x = rng.normal(size=(2, 10, 3)).astype("float32")
    sync(fused, ref, x, rng)
    mask = np.ones((2, 10), bool)
    mask[1, 7:] = False
    assert_same(fused, ref, x, mask=mask)


@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.2, 0.4)])
def test_dropout_draws_the_same_masks_as_rnn(rates):
    rng = np.random.default_rng(3)
    kwargs = {"dropout": rates[0], "recurrent_dropout": rates[1], "seed": 5}
    fused, ref = make_pair("nnrnn", return_sequences=True, **kwargs)
    x = rng.normal(size=(4, 8, 3)).astype("float32")
    fused.build(x.shape)
    ref.build(x.shape)
    ref.set_weights(fused.get_weights())
    # Keras' RNN draws its masks on every call; compare first training calls.
    a = fused(x, training=True).numpy()
    b = ref(x, training=True).numpy()
    np.testing.assert_allclose(a, b, atol=1e-5)
    inference = fused(x).numpy()
    assert not np.allclose(a, inference)
    np.testing.assert_array_equal(inference, fused(x).numpy())


def test_weights_are_the_cells_and_routed_as_orthogonal():
    layer = layers.NNRNN(8, gamma_regularizer=tf_nnrnn.GammaRegularizer(0.1))
    layer(np.zeros((1, 3, 2), "float32"))
    names = sorted(w.name for w in layer.weights)
    assert names == sorted(
        ["kernel", "skew_kernel", "theta", "gamma", "triangular_kernel"]
        + ["modrelu_bias"]
    )
    assert layer.cell.built and len(layer.losses) == 1
    model = keras.Sequential(
        [keras.Input((3, 2)), layer, keras.layers.Dense(1)]
    )
    # Orthogonal learning rate ~0: only the skew kernel must stay put.
    model.compile(
        optimizer=tf_nnrnn.make_optimizer("sgd", 1e-2, 1e-30), loss="mse"
    )
    before = {w.name: w.numpy() for w in layer.weights}
    x = np.random.default_rng(0).normal(size=(8, 3, 2))
    model.fit(x, np.ones((8, 1)), verbose=0)
    for w in layer.weights:
        moved = not np.allclose(w.numpy(), before[w.name], atol=1e-12)
        assert moved == (w.name != "skew_kernel"), w.name


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_config_and_keras_file_roundtrip(name, tmp_path):
    fused_cls, _, extra = PAIRS[name]
    layer = fused_cls(
        6, return_sequences=True, go_backwards=True, dropout=0.1, **extra
    )
    clone = assert_config_roundtrip(layer)
    assert clone.go_backwards and clone.cell.dropout == 0.1
    model = keras.Sequential(
        [keras.Input((5, 3)), layer, keras.layers.Dense(2)]
    )
    rng = np.random.default_rng(4)
    for w in layer.weights:
        w.assign(w.numpy() + 0.1 * rng.normal(size=w.shape))
    x = rng.normal(size=(4, 5, 3)).astype("float32")
    loaded = assert_saved_model_identical(model, x, tmp_path)
    assert type(loaded.layers[0]) is fused_cls


def test_jit_gradients_match_graph_mode():
    rng = np.random.default_rng(7)
    layer = layers.NNRNN(8, return_sequences=True)
    x = tf.constant(rng.normal(size=(4, 12, 3)).astype("float32"))
    mask = tf.constant(rng.uniform(size=(4, 12)) > 0.2)
    layer(x)
    for w in layer.weights:
        w.assign(w.numpy() + 0.1 * rng.normal(size=w.shape))

    def loss_and_grads(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(layer(x, mask=mask)))
        return loss, tape.gradient(loss, layer.trainable_weights)

    graph = tf.function(loss_and_grads)(x)
    xla = tf.function(loss_and_grads, jit_compile=True)(x)
    np.testing.assert_allclose(xla[0].numpy(), graph[0].numpy(), rtol=1e-5)
    for a, b in zip(xla[1], graph[1]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)


def test_mixed_precision_trains():
    keras.config.set_dtype_policy("mixed_float16")
    layer = layers.ExpRNN(8, return_sequences=True)
    model = keras.Sequential(
        [
            keras.Input((6, 2)),
            layer,
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    model.compile(optimizer=tf_nnrnn.make_optimizer("rmsprop"), loss="mse")
    x = np.random.default_rng(0).normal(size=(16, 6, 2)).astype("float32")
    hist = model.fit(x, np.ones((16, 6, 1)), epochs=2, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    assert layer.compute_dtype == "float16"
    assert layer.cell.skew_kernel.dtype == "float32"


def test_bad_input_rank_raises():
    with pytest.raises(ValueError, match="rank 3"):
        layers.ExpRNN(4)(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="`units`"):
        layers.NNRNN(7)


@pytest.mark.parametrize("steps", [8, 11])
def test_unknown_sequence_length_matches(steps):
    """A time axis unknown when traced (padded chunks chosen at run time)."""
    rng = np.random.default_rng(3)
    fused, ref = make_pair("exprnn", return_sequences=True)
    x = rng.normal(size=(2, steps, 4)).astype("float32")
    sync(fused, ref, x, rng)
    spec = [tf.TensorSpec((None, None, 4), tf.float32)]

    def loss_and_grads(layer):
        @tf.function(input_signature=spec)
        def fn(x):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.sin(layer(x)))
            return loss, tape.gradient(loss, layer.trainable_weights)

        return fn(tf.constant(x))

    got, want = loss_and_grads(fused), loss_and_grads(ref)
    np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=1e-5)
    for a, b in zip(got[1], want[1]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=2e-5)


def test_bidirectional_equals_bidirectional_rnn_of_cell(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 6, 3)).astype("float32")
    bidi = keras.layers.Bidirectional(layers.ExpRNN(4, return_sequences=True))
    y = bidi(x).numpy()
    assert bidi.backward_layer.go_backwards
    ref = keras.layers.Bidirectional(
        keras.layers.RNN(tf_nnrnn.ExpRNNCell(4), return_sequences=True)
    )
    ref(x)
    ref.set_weights(bidi.get_weights())
    np.testing.assert_allclose(ref(x).numpy(), y, atol=1e-6)
    model = keras.Sequential([keras.Input((6, 3)), bidi])
    model.save(tmp_path / "bidi.keras")
    loaded = keras.models.load_model(tmp_path / "bidi.keras")
    np.testing.assert_allclose(loaded(x).numpy(), y, atol=1e-6)
