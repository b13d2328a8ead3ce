"""Fused layers: keras.layers.RNN subclasses equal to RNN(cell)."""

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


RNN_FLAGS = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "unroll",
    "zero_output_for_mask",
)


def make_pair(name, units=6, **kwargs):
    """A fused layer and `RNN(cell)` with the same flags and cell kwargs."""
    fused_cls, cell_cls, extra = PAIRS[name]
    kwargs = {**extra, **kwargs}
    flags = {k: kwargs.pop(k) for k in RNN_FLAGS if k in kwargs}
    fused = fused_cls(units, **flags, **kwargs)
    ref = keras.layers.RNN(cell_cls(units, **kwargs), **flags)
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
    return out_f


def spy(monkeypatch, name):
    """Counts the calls of `tf_nnrnn.layers.<name>` (a fused loop)."""
    calls = []
    original = getattr(layers, name)

    def counted(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(layers, name, counted)
    return calls


def forbid_generic_loop(monkeypatch):
    """A silent fallback to `keras.layers.RNN`'s step loop fails."""

    def generic(*args, **kwargs):
        raise AssertionError("fell back to keras.layers.RNN.inner_loop")

    monkeypatch.setattr(keras.layers.RNN, "inner_loop", generic)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_is_a_keras_rnn_over_the_cell(name):
    fused_cls, cell_cls, extra = PAIRS[name]
    layer = fused_cls(6, **extra)
    assert isinstance(layer, keras.layers.RNN)
    assert type(layer.cell) is cell_cls and layer.units == 6
    assert layer.state_size == [6] and not layer.stateful
    layer(np.zeros((2, 3, 4), "float32"))
    assert layer.cell.kernel.path == f"{layer.name}/{layer.cell.name}/kernel"


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize(
    "flags",
    [
        {},
        {"return_state": True},
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
@pytest.mark.parametrize(
    "flags",
    [
        {"return_sequences": True},
        {"return_sequences": False},
        {"return_sequences": True, "go_backwards": True},
        {"return_sequences": False, "go_backwards": True},
    ],
)
def test_masking_and_initial_state(name, zero_output, flags):
    rng = np.random.default_rng(1)
    fused, ref = make_pair(
        name, return_state=True, zero_output_for_mask=zero_output, **flags
    )
    x = rng.normal(size=(3, 13, 4)).astype("float32")  # 13: padded chunks
    sync(fused, ref, x, rng)
    mask = np.ones((3, 13), bool)
    mask[0, 6:] = False  # the last steps masked: the output is held
    mask[1, :2] = False  # leading masked steps: Keras outputs zeros there
    mask[2, 3:5] = False
    state = tf.constant(rng.normal(size=(3, 6)).astype("float32"))
    assert_same(fused, ref, x, mask=mask, initial_state=state)


@pytest.mark.parametrize(
    "flags",
    [
        {},
        {"zero_output_for_mask": True},
        {"return_sequences": True, "go_backwards": True},
        {"return_sequences": True, "zero_output_for_mask": True},
    ],
)
def test_inner_loop_returns_what_keras_rnn_loop_returns(flags):
    """`(last_output, outputs, new_states)` as `keras.backend.rnn` gives
    them (`outputs` `(batch, 1, units)` without `return_sequences`)."""
    rng = np.random.default_rng(16)
    layer = layers.ExpRNN(5, **flags)
    x = tf.constant(rng.normal(size=(3, 9, 2)).astype("float32"))
    layer(x)
    mask = np.ones((3, 9), bool)
    mask[0, 7:] = False
    mask[1, :3] = False
    mask = tf.constant(mask)
    h0 = [tf.constant(rng.normal(size=(3, 5)).astype("float32"))]
    layer.cell.get_dropout_mask(x[:, 0])  # the per-pass hook, as RNN.call
    got = layer.inner_loop(x, h0, mask)
    want = keras.layers.RNN.inner_loop(layer, x, h0, mask)
    layer.cell.reset_dropout_mask()
    assert len(got[2]) == len(want[2]) == 1
    for a, b in zip(tf.nest.flatten(got), tf.nest.flatten(want)):
        assert a.shape == b.shape
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5)


def test_initial_state_as_a_list_and_symbolic():
    rng = np.random.default_rng(8)
    fused, ref = make_pair("exprnn", return_sequences=True)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    sync(fused, ref, x, rng)
    state = rng.normal(size=(2, 6)).astype("float32")
    np.testing.assert_allclose(
        fused(x, initial_state=[state]).numpy(),
        ref(x, initial_state=[state]).numpy(),
        atol=1e-6,
    )
    inputs, h0 = keras.Input((5, 3)), keras.Input((6,))
    model = keras.Model([inputs, h0], fused(inputs, initial_state=h0))
    np.testing.assert_allclose(
        model([x, state]).numpy(), ref(x, initial_state=state), atol=1e-6
    )


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_stateful_carries_the_state_and_resets(name):
    rng = np.random.default_rng(6)
    fused, ref = make_pair(name, return_sequences=True, stateful=True)
    x = rng.normal(size=(3, 10, 4)).astype("float32")
    sync(fused, ref, x[:, :5], rng)
    fused.reset_states()
    ref.reset_states()
    first = assert_same(fused, ref, x[:, :5])[0]
    second = assert_same(fused, ref, x[:, 5:])[0]
    assert not np.allclose(fused.states[0].numpy(), 0.0)
    # Two stateful halves are one pass over the whole sequence.
    fused_cls, _, extra = PAIRS[name]
    whole = fused_cls(6, return_sequences=True, **extra)
    whole(x)
    whole.set_weights(fused.get_weights())
    np.testing.assert_allclose(
        np.concatenate([first, second], axis=1), whole(x).numpy(), atol=1e-5
    )
    fused.reset_states()
    np.testing.assert_array_equal(fused.states[0].numpy(), 0.0)
    np.testing.assert_allclose(fused(x[:, :5]).numpy(), first, atol=1e-6)


def test_other_backends_run_keras_loop(monkeypatch):
    """Where the backend is not TensorFlow, RNN's own loop (still equal)."""
    calls = spy(monkeypatch, "_modrelu_rnn") + spy(monkeypatch, "_loop")
    rng = np.random.default_rng(15)
    fused, ref = make_pair("scornn", return_sequences=True)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    sync(fused, ref, x, rng)
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert not fused._fused()
    np.testing.assert_allclose(fused(x).numpy(), ref(x).numpy(), atol=1e-6)
    assert not calls


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_unroll_runs_keras_loop_and_matches(name, monkeypatch):
    calls = spy(monkeypatch, "_modrelu_rnn") + spy(monkeypatch, "_loop")
    rng = np.random.default_rng(9)
    fused, ref = make_pair(
        name, return_sequences=True, return_state=True, unroll=True
    )
    x = rng.normal(size=(3, 7, 4)).astype("float32")
    sync(fused, ref, x, rng)
    mask = np.ones((3, 7), bool)
    mask[0, 4:] = False
    assert_same(fused, ref, x, mask=mask)
    assert not calls


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


def test_generic_activation_path_matches(monkeypatch):
    calls = spy(monkeypatch, "_loop")
    rng = np.random.default_rng(2)
    fused, ref = make_pair(
        "exprnn", return_sequences=True, activation="tanh", use_bias=True
    )
    x = rng.normal(size=(2, 10, 3)).astype("float32")
    sync(fused, ref, x, rng)
    mask = np.ones((2, 10), bool)
    mask[1, 7:] = False
    forbid_generic_loop(monkeypatch)
    calls.clear()
    out_f, _ = outputs_and_grads(fused, x, mask=mask)
    assert calls == ["_loop"]
    monkeypatch.undo()
    assert_same(fused, ref, x, mask=mask)


@pytest.mark.parametrize("rates", [(0.3, 0.0), (0.2, 0.4), (0.0, 0.3)])
def test_dropout_draws_the_same_masks_as_rnn(rates):
    rng = np.random.default_rng(3)
    kwargs = {"dropout": rates[0], "recurrent_dropout": rates[1], "seed": 5}
    fused, ref = make_pair("nnrnn", return_sequences=True, **kwargs)
    x = rng.normal(size=(4, 8, 3)).astype("float32")
    fused.build(x.shape)
    ref.build(x.shape)
    ref.set_weights(fused.get_weights())
    # RNN.call draws the masks once per call, from the cell's seed
    # generator: the same draws on every call, gradients included.
    a = assert_same(fused, ref, x, training=True)[0]
    b = assert_same(fused, ref, x, training=True)[0]
    assert not np.allclose(a, b)  # new masks on the next call
    inference = fused(x).numpy()
    assert not np.allclose(a, inference)
    np.testing.assert_allclose(inference, ref(x).numpy(), atol=1e-5)
    np.testing.assert_array_equal(inference, fused(x).numpy())


def test_dropout_in_fit_matches_rnn_of_cell():
    """Graph mode (`train_on_batch`): the same draws and the same update."""
    rng = np.random.default_rng(10)
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    y = rng.normal(size=(4, 1)).astype("float32")
    kwargs = {"dropout": 0.3, "seed": 2}
    fused, ref = make_pair("exprnn", **kwargs)
    models = []
    for layer in (fused, ref):
        model = keras.Sequential(
            [keras.Input((6, 3)), layer, keras.layers.Dense(1)]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    for _ in range(2):
        losses = [m.train_on_batch(x, y) for m in models]
        np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


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


def test_config_has_rnn_flags_and_reads_older_configs():
    layer = layers.ScoRNN(6, 2, return_sequences=True, stateful=True)
    config = layer.get_config()
    assert "cell" not in config and config["num_negative_ones"] == 2
    assert config["stateful"] is True and config["unroll"] is False
    clone = assert_config_roundtrip(layers.ExpRNN(4, unroll=True, seed=3))
    assert clone.unroll and clone.cell.seed == 3
    # Files written before the layers subclassed keras.layers.RNN have
    # neither `stateful` nor `unroll`.
    older = {k: v for k, v in config.items() if k not in ("stateful", "unroll")}
    older_clone = layers.ScoRNN.from_config(older)
    assert not older_clone.stateful and not older_clone.unroll
    assert older_clone.return_sequences and older_clone.cell.num_negative_ones


def test_stateful_model_keras_file_roundtrip(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    layer = layers.NNRNN(4, stateful=True, return_sequences=True)
    model = keras.Sequential([keras.Input((4, 3), batch_size=2), layer])
    first = model(x).numpy()
    model.save(tmp_path / "stateful.keras")
    loaded = keras.models.load_model(tmp_path / "stateful.keras")
    assert loaded.layers[0].stateful
    # A loaded stateful layer starts from zeros, as after reset_states().
    np.testing.assert_array_equal(loaded(x).numpy(), first)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_recurrent_matrix_of_model_and_layer(name):
    fused_cls, _, extra = PAIRS[name]
    layer = fused_cls(6, **extra)
    model = keras.Sequential(
        [keras.Input((5, 3)), layer, keras.layers.Dense(2)]
    )
    w = layer.cell.recurrent_matrix().numpy()  # row convention
    for source in (model, layer):
        v = tf_nnrnn.analysis.recurrent_matrix(source)
        np.testing.assert_allclose(v, w.T, atol=1e-6)
    named = tf_nnrnn.analysis.recurrent_matrix(model, layer=layer.name)
    np.testing.assert_allclose(named, w.T, atol=1e-6)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_default_configuration_takes_the_fused_path(name, monkeypatch):
    fused_calls = spy(monkeypatch, "_modrelu_rnn")
    loop_calls = spy(monkeypatch, "_loop")
    forbid_generic_loop(monkeypatch)
    fused_cls, cell_cls, extra = PAIRS[name]
    # W is computed once per pass, in the cell's hook, and reused.
    matrix_calls = []
    matrix_from = cell_cls.matrix_from

    def counted(self, *params):
        matrix_calls.append(1)
        return matrix_from(self, *params)

    monkeypatch.setattr(cell_cls, "matrix_from", counted)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    for flags in ({}, {"return_sequences": True, "go_backwards": True}):
        layer = fused_cls(4, **flags, **extra)
        fused_calls.clear()
        matrix_calls.clear()
        layer(x)  # inference: computes W and fills the cache
        layer(x, mask=np.ones((4, 6), bool), training=True)
        assert fused_calls == ["_modrelu_rnn"] * 2
        assert len(matrix_calls) == 2
        layer(x)  # the cache is still valid
        assert len(matrix_calls) == 2
    model = keras.Sequential([keras.Input((6, 3)), layer])
    model.compile(optimizer="sgd", loss="mse")
    fused_calls.clear()
    model.train_on_batch(x, np.zeros((4, 6, 4), "float32"))
    model.predict_on_batch(x)
    assert fused_calls  # traced through the fused op (graph mode)
    assert not loop_calls


def test_model_jit_compile_matches_graph_mode():
    rng = np.random.default_rng(13)
    x = rng.normal(size=(4, 9, 3)).astype("float32")
    y = rng.normal(size=(4, 9, 2)).astype("float32")
    models = []
    for jit in (False, True):
        model = keras.Sequential(
            [
                keras.Input((9, 3)),
                keras.layers.Masking(0.0),
                layers.ExpRNN(6, return_sequences=True),
                keras.layers.Dense(2),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit
        )
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    x[1, 6:] = 0.0  # masked steps
    for _ in range(2):
        losses = [m.train_on_batch(x, y) for m in models]
        np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    np.testing.assert_allclose(
        models[1].predict_on_batch(x), models[0].predict_on_batch(x), atol=1e-5
    )


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


def _fused_model(policy):
    keras.config.set_dtype_policy(policy)
    layer = layers.ExpRNN(8, return_sequences=True)
    model = keras.Sequential(
        [
            keras.Input((6, 2)),
            layer,
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    return model, layer


# (outputs and loss curves; gradients) tolerances relative to the largest
# entry; a float16 rounding is 2^-11 = 4.9e-4. Measured worst (seed 0):
# outputs 9.0e-4, loss curve 3.6e-3, gradients 3.0e-3 (the Dense bias;
# the layer's own weights <= 1.9e-3).
FLOAT16_TOL = (1.5e-2, 1.5e-2)


def test_mixed_precision_trains():
    """Under mixed_float16 the fused layer (hand-written backward pass in
    float16) matches the float32 layer with the same weights: outputs,
    every gradient, and five epochs of SGD through Keras' loss scaling."""
    rng = np.random.default_rng(0)
    ref, ref_layer = _fused_model("float32")
    for w in ref_layer.weights:
        w.assign(w.numpy() + 0.1 * rng.normal(size=w.shape))
    model, layer = _fused_model("mixed_float16")
    model.set_weights(ref.get_weights())
    assert layer.compute_dtype == "float16"
    assert layer.cell.skew_kernel.dtype == "float32"
    tol, grad_tol = FLOAT16_TOL
    x = rng.normal(size=(16, 6, 2)).astype("float32")
    y = rng.normal(size=(16, 6, 1)).astype("float32")

    full, half = ref_layer(x).numpy(), layer(x)
    assert half.dtype == "float16"
    np.testing.assert_allclose(
        np.asarray(half, "float32"),
        full,
        rtol=0,
        atol=tol * np.abs(full).max(),
    )
    grads = []
    for m in (ref, model):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((m(x) - y) ** 2)
        grads.append(tape.gradient(loss, m.trainable_variables))
    for v, a, b in zip(ref.trainable_variables, grads[1], grads[0]):
        scale = np.abs(b.numpy()).max()
        assert scale > 0 and a.dtype == "float32", v.path
        np.testing.assert_allclose(
            a.numpy(), b.numpy(), atol=grad_tol * scale, err_msg=v.path
        )
    histories = []
    for m in (ref, model):
        optimizer = tf_nnrnn.make_optimizer("sgd", 0.01, 0.01)
        if m is model:  # no step skipped for overflow (default 2^15 does)
            optimizer = keras.optimizers.LossScaleOptimizer(
                optimizer, initial_scale=2.0**6
            )
        m.compile(optimizer=optimizer, loss="mse")
        hist = m.fit(x, y, batch_size=8, epochs=5, verbose=0, shuffle=False)
        histories.append(hist.history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=tol)
    assert histories[0][-1] < 0.5 * histories[0][0]  # it did train
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
    # Float32 rounding relative to each gradient's largest entry: u = 6e-8
    # over T·n = 66 accumulated steps × units is 4e-6. Measured (T = 11,
    # |dL/dskew_kernel| <= 42): float32 vs the same layers in float64,
    # 3.0e-6 (fused) and 2.2e-6 (RNN(cell)) of the largest entry; fused vs
    # RNN(cell) 1.1e-6 in float32, 7e-15 in float64.
    for a, b in zip(got[1], want[1]):
        scale = np.abs(b.numpy()).max()
        np.testing.assert_allclose(
            a.numpy(), b.numpy(), rtol=0, atol=1e-5 * scale
        )


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
    mask = np.ones((2, 6), bool)
    mask[0, 4:] = False
    np.testing.assert_allclose(
        bidi(x, mask=mask).numpy(), ref(x, mask=mask).numpy(), atol=1e-6
    )
    model = keras.Sequential([keras.Input((6, 3)), bidi])
    model.save(tmp_path / "bidi.keras")
    loaded = keras.models.load_model(tmp_path / "bidi.keras")
    np.testing.assert_allclose(loaded(x).numpy(), y, atol=1e-6)


def test_bidirectional_return_state_gradients_match():
    rng = np.random.default_rng(14)
    x = rng.normal(size=(2, 7, 3)).astype("float32")
    bidi = keras.layers.Bidirectional(layers.NNRNN(4, return_state=True))
    ref = keras.layers.Bidirectional(
        keras.layers.RNN(tf_nnrnn.NNRNNCell(4), return_state=True)
    )
    bidi(x)
    ref(x)
    ref.set_weights(bidi.get_weights())
    outs = assert_same(bidi, ref, x)
    assert len(outs) == 3


# --- Shapes keras.layers.RNN(cell) refuses or handles: the same here ----

SHAPE_FLAGS = [
    {},
    {"return_sequences": True, "return_state": True},
    {"return_sequences": True, "go_backwards": True},
    {"return_sequences": True, "activation": "tanh"},
]


@pytest.mark.parametrize(
    "batch, mask_shape",
    [(2, (2, 4)), (2, (2, 7)), (1, (2, 5)), (2, (3, 5)), (2, (2, 5, 3))],
    ids=["short", "long", "batch1_input", "batch3_mask", "features"],
)
def test_mismatched_mask_raises_as_rnn_of_cell(batch, mask_shape):
    """A mask (2, 4) for T = 5 used to return the first 4 steps' output."""
    x = np.ones((batch, 5, 3), "float32")
    mask = np.ones(mask_shape, bool)
    fused, ref = make_pair("exprnn", return_sequences=True)
    # Keras: OutOfRangeError, ValueError or InvalidArgumentError by case.
    with pytest.raises((ValueError, tf.errors.OpError)):
        ref(x, mask=mask)
    with pytest.raises(ValueError, match=r"`mask`.*\(batch, time\)") as info:
        fused(x, mask=mask)
    assert str(mask_shape) in str(info.value)


def test_mismatched_mask_raises_when_traced_with_unknown_shapes():
    """Unknown dimensions: checked when the loop runs (an assertion)."""
    fused, ref = make_pair("exprnn")
    spec = [
        tf.TensorSpec((None, None, 3), tf.float32),
        tf.TensorSpec((None, None), tf.bool),
    ]
    x = np.ones((2, 5, 3), "float32")
    for layer in (fused, ref):
        layer(x)
    run = {
        name: tf.function(lambda x, m, layer=layer: layer(x, mask=m), spec)
        for name, layer in (("fused", fused), ("ref", ref))
    }
    short = np.ones((2, 4), bool)
    with pytest.raises(tf.errors.InvalidArgumentError):
        run["ref"](x, short)
    with pytest.raises(tf.errors.InvalidArgumentError, match="`mask`"):
        run["fused"](x, short)
    # Keras' loop silently ignores extra mask steps when traced; we refuse.
    with pytest.raises(tf.errors.InvalidArgumentError, match="`mask`"):
        run["fused"](x, np.ones((2, 7), bool))
    with pytest.raises(tf.errors.InvalidArgumentError, match="`mask`"):
        run["fused"](x[:1], np.ones((2, 5), bool))
    good = np.array([[1, 0, 1, 1, 0], [1, 1, 1, 0, 1]], bool)
    sync(fused, ref, x, np.random.default_rng(0))
    np.testing.assert_allclose(
        run["fused"](x, good).numpy(), run["ref"](x, good).numpy(), atol=1e-6
    )


@pytest.mark.parametrize("flags", SHAPE_FLAGS, ids=str)
def test_batch_one_mask_is_broadcast_as_rnn_of_cell(flags):
    rng = np.random.default_rng(21)
    x = rng.normal(size=(3, 6, 2)).astype("float32")
    fused, ref = make_pair("nnrnn", **flags)
    sync(fused, ref, x, rng)
    mask = tf.constant([[True, False, True, True, False, True]])
    assert_same(fused, ref, x, mask=mask)


@pytest.mark.parametrize("flags", SHAPE_FLAGS, ids=str)
@pytest.mark.parametrize("masked", [False, True], ids=["", "mask"])
def test_empty_batch_returns_what_rnn_of_cell_returns(flags, masked):
    """Batch 0 raised ZeroDivisionError (the loop's chunk size)."""
    x = np.ones((0, 5, 3), "float32")
    mask = np.ones((0, 5), bool) if masked else None
    fused, ref = make_pair("scornn", **flags)
    for layer in (fused, ref):
        layer(np.ones((2, 5, 3), "float32"))
    out_f, g_f = outputs_and_grads(fused, x, mask=mask)
    out_r, g_r = outputs_and_grads(ref, x, mask=mask)
    assert [o.shape for o in out_f] == [o.shape for o in out_r]
    assert all(o.size == 0 for o in out_f)
    for a, b in zip(g_f, g_r):
        np.testing.assert_array_equal(a, b)  # zeros, of the weights' shapes


@pytest.mark.parametrize("flags", SHAPE_FLAGS[:2], ids=str)
def test_empty_batch_traced_with_unknown_batch(flags):
    fused, ref = make_pair("exprnn", **flags)
    spec = [tf.TensorSpec((None, None, 3), tf.float32)]
    results = []
    for layer in (fused, ref):
        layer(np.ones((2, 5, 3), "float32"))

        @tf.function(input_signature=spec)
        def fn(x, layer=layer):
            with tf.GradientTape() as tape:
                out = tf.nest.flatten(layer(x))
                loss = sum(tf.reduce_sum(o) for o in out)
            return out, tape.gradient(loss, layer.trainable_weights)

        results.append(fn(tf.zeros((0, 5, 3))))
    (out_f, g_f), (out_r, g_r) = results
    assert [o.shape for o in out_f] == [o.shape for o in out_r]
    for a, b in zip(g_f, g_r):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("flags", SHAPE_FLAGS, ids=str)
def test_no_time_step_raises_as_rnn_of_cell(flags):
    """T = 0: keras.layers.RNN(cell) reads the first step and fails; so do
    the fused layers, instead of an out-of-bounds slice of the loop."""
    x = np.ones((2, 0, 3), "float32")
    fused, ref = make_pair("exprnn", **flags)
    for layer in (fused, ref):
        layer(np.ones((2, 5, 3), "float32"))
    with pytest.raises(tf.errors.InvalidArgumentError):
        ref(x)
    with pytest.raises(tf.errors.InvalidArgumentError, match="time step"):
        fused(x)
    spec = [tf.TensorSpec((None, None, 3), tf.float32)]
    traced = tf.function(lambda x: fused(x), input_signature=spec)
    traced_ref = tf.function(lambda x: ref(x), input_signature=spec)
    with pytest.raises(tf.errors.InvalidArgumentError):
        traced_ref(x)
    with pytest.raises(tf.errors.InvalidArgumentError, match="time step"):
        traced(x)


@pytest.mark.parametrize(
    "bound, steps, k", [(24, 10, 2), (60, 7, 5), (12, 7, 1)]
)
@pytest.mark.parametrize("sequences", [False, True])
def test_chunks_bounded_by_the_state_size_match(bound, steps, k, sequences,
                                                monkeypatch):
    """When batch × units bounds the steps per chunk (PTB-sized states;
    here made small with `CHUNK_ELEMENTS`), chunks of 2, 5 (7 steps padded
    to 10) and 1 step give `RNN(cell)`'s outputs and gradients."""
    from tf_nnrnn import fused_loop

    monkeypatch.setattr(fused_loop, "CHUNK_ELEMENTS", bound)
    assert fused_loop._unroll_for(steps, 2 * 6) == k
    rng = np.random.default_rng(7)
    fused, ref = make_pair("nnrnn", return_sequences=sequences)
    x = rng.normal(size=(2, steps, 3)).astype("float32")
    sync(fused, ref, x, rng)
    assert_same(fused, ref, x)
