"""Tests of the NRU cell (Chandar et al., AAAI 2019)."""

import doctest
import math
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import assert_config_roundtrip, assert_saved_model_identical
from tf_nnrnn.cells import nru, nru_memory
from tf_nnrnn.cells.nru import NRUCell

UNITS, MEMORY, HEADS, FEATURES = 8, 16, 4, 3  # sqrt(k M) = 8


def make_cell(dtype="float32", **kwargs):
    """A cell with non-zero random biases (zeros would hide bias bugs)."""
    kwargs.setdefault(
        "bias_initializer", keras.initializers.RandomNormal(0, 0.3)
    )
    return NRUCell(
        UNITS, memory_size=MEMORY, num_heads=HEADS, dtype=dtype, **kwargs
    )


def step_by_hand(cell, x, mask=None, go_backwards=False):
    """Python loop over `cell(x_t, states)`, mimicking `keras.layers.RNN`.

    Returns the outputs in processing order and the final `[h, m]`.
    """
    batch, steps = x.shape[:2]
    states = [np.zeros((batch, UNITS)), np.zeros((batch, MEMORY))]
    states = [s.astype(x.dtype) for s in states]
    prev_out = np.zeros((batch, UNITS), x.dtype)
    outputs = []
    order = range(steps)
    for t in reversed(order) if go_backwards else order:
        out, new = cell(x[:, t], states)
        out, new = out.numpy(), [s.numpy() for s in new]
        if mask is not None:
            # Masked steps keep the state and repeat the previous output.
            keep = mask[:, t : t + 1]
            out = np.where(keep, out, prev_out)
            new = [np.where(keep, n, s) for n, s in zip(new, states)]
        outputs.append(out)
        prev_out, states = out, new
    return np.stack(outputs, axis=1), states


@pytest.mark.parametrize("use_layer_norm", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_hand_stepped_equals_rnn_layer(go_backwards, use_layer_norm):
    x = np.random.default_rng(0).normal(size=(4, 9, FEATURES))
    x = x.astype("float32")
    cell = make_cell(use_layer_norm=use_layer_norm)
    layer = keras.layers.RNN(
        cell,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    seq, h, m = layer(x)
    ref_seq, (ref_h, ref_m) = step_by_hand(cell, x, go_backwards=go_backwards)
    assert np.abs(ref_m).max() > 0.1  # the memory really moved
    np.testing.assert_allclose(seq.numpy(), ref_seq, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h.numpy(), ref_h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m.numpy(), ref_m, rtol=1e-6, atol=1e-6)


def test_masking_matches_hand_stepping():
    x = np.random.default_rng(1).normal(size=(3, 7, FEATURES))
    x = x.astype("float32")
    mask = np.ones((3, 7), bool)
    mask[0, 5:] = False
    mask[1, 2] = False
    mask[2, 2:] = False
    cell = make_cell()
    layer = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    seq, h, m = layer(x, mask=mask)
    ref_seq, (ref_h, ref_m) = step_by_hand(cell, x, mask=mask)
    np.testing.assert_allclose(seq.numpy(), ref_seq, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(h.numpy(), ref_h, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(m.numpy(), ref_m, rtol=1e-6, atol=1e-6)
    # The state of sequence 2 froze after its second step.
    _, (h2, m2) = step_by_hand(cell, x[2:, :2])
    np.testing.assert_allclose(m.numpy()[2:], m2, rtol=1e-6, atol=1e-6)


def test_shapes_and_weights():
    cell = make_cell(use_layer_norm=True)
    assert cell.state_size == [UNITS, MEMORY]
    assert cell.output_size == UNITS
    layer = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    seq, h, m = layer(np.zeros((2, 5, FEATURES), "float32"))
    assert tuple(seq.shape) == (2, 5, UNITS)
    assert tuple(h.shape) == (2, UNITS)
    assert tuple(m.shape) == (2, MEMORY)
    side = 8
    shapes = {w.name: tuple(w.shape) for w in cell.weights}
    assert shapes == {
        "kernel": (FEATURES + UNITS + MEMORY, UNITS),
        "bias": (UNITS,),
        "memory_kernel": (UNITS + MEMORY, 2 * HEADS + 4 * side),
        "memory_bias": (2 * HEADS + 4 * side,),
        "layer_norm_gamma": (UNITS,),
        "layer_norm_beta": (UNITS,),
    }
    h0, m0 = cell.get_initial_state(batch_size=3)
    assert tuple(h0.shape) == (3, UNITS) and tuple(m0.shape) == (3, MEMORY)
    # Default initializer: PyTorch's nn.Linear, U(-1/sqrt(fan_in), ...).
    limit = 1.0 / np.sqrt(FEATURES + UNITS + MEMORY)
    kernel = cell.kernel.numpy()
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.8 * limit


def numpy_step(x, h, m, weights, k, use_layer_norm, memory_relu, eps=1e-12):
    """The NRU equations of the authors' code, written out in NumPy."""
    size = m.shape[1]
    s = int(round(np.sqrt(k * size)))
    pre = np.concatenate([x, h, m], 1) @ weights["kernel"] + weights["bias"]
    if use_layer_norm:
        mu = pre.mean(1, keepdims=True)
        var = ((pre - mu) ** 2).mean(1, keepdims=True)
        pre = (pre - mu) / np.sqrt(var + 1e-5)
        pre = pre * weights["layer_norm_gamma"] + weights["layer_norm_beta"]
    h_new = np.maximum(pre, 0.0)
    z = np.concatenate([h_new, m], 1)
    wm, bm = weights["memory_kernel"], weights["memory_bias"]
    alpha = z @ wm[:, :k] + bm[:k]
    beta = z @ wm[:, k : 2 * k] + bm[k : 2 * k]
    if memory_relu:
        alpha, beta = np.maximum(alpha, 0), np.maximum(beta, 0)

    def directions(col):
        a = z @ wm[:, col : col + s] + bm[col : col + s]
        b = z @ wm[:, col + s : col + 2 * s] + bm[col + s : col + 2 * s]
        v = np.einsum("bi,bj->bij", a, b).reshape(-1, k, size)
        if memory_relu:
            v = np.maximum(v, 0)
        norm = (np.abs(v) ** 5).sum(-1, keepdims=True) ** 0.2
        return v / np.maximum(norm, eps)

    v_write, v_erase = directions(2 * k), directions(2 * k + 2 * s)
    delta = alpha[:, :, None] * v_write - beta[:, :, None] * v_erase
    return h_new, m + delta.mean(1)


@pytest.mark.parametrize(
    "use_layer_norm, memory_relu", [(False, False), (True, False), (True, True)]
)
def test_one_step_matches_numpy(use_layer_norm, memory_relu):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, FEATURES))
    h = np.abs(rng.normal(size=(5, UNITS)))
    m = rng.normal(size=(5, MEMORY))
    cell = make_cell(
        dtype="float64", use_layer_norm=use_layer_norm, memory_relu=memory_relu
    )
    out, (h_new, m_new) = cell(x, [h, m])
    if use_layer_norm:  # non-trivial scale and offset
        cell.layer_norm_gamma.assign(rng.uniform(0.5, 1.5, UNITS))
        cell.layer_norm_beta.assign(rng.normal(0, 0.3, UNITS))
        out, (h_new, m_new) = cell(x, [h, m])
    weights = {w.name: w.numpy() for w in cell.weights}
    ref_h, ref_m = numpy_step(
        x, h, m, weights, HEADS, use_layer_norm, memory_relu
    )
    assert 0 < (ref_h > 0).mean() < 1  # both sides of the ReLU are exercised
    np.testing.assert_allclose(out.numpy(), ref_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_new.numpy(), ref_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m_new.numpy(), ref_m, rtol=1e-12, atol=1e-12)
    assert np.abs(ref_m - m).max() > 1e-3


def test_lp_normalize_rows_and_gradients():
    rng = np.random.default_rng(3)
    v = tf.constant(rng.normal(size=(2, 3, 6)))
    out = nru_memory.lp_normalize(v, 5).numpy()
    np.testing.assert_allclose((np.abs(out) ** 5).sum(-1), 1.0, rtol=1e-12)
    # Zero rows stay zero and have finite gradients (the authors' eps).
    zero = tf.zeros((1, 2, 4), tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(zero)
        y = tf.reduce_sum(nru_memory.lp_normalize(zero, 5) * 2.0)
    grad = tape.gradient(y, zero).numpy()
    assert np.all(np.isfinite(grad)) and np.all(
        nru_memory.lp_normalize(zero, 5) == 0
    )
    # Analytic gradient against central differences (float64).
    w = tf.constant(rng.normal(size=(2, 3, 6)))

    def f(t):
        return tf.reduce_sum(nru_memory.lp_normalize(t, 5) * w)

    with tf.GradientTape() as tape:
        tape.watch(v)
        y = f(v)
    grad = tape.gradient(y, v).numpy()
    fd = np.zeros_like(grad)
    base = v.numpy()
    for idx in np.ndindex(base.shape):
        step = np.zeros_like(base)
        step[idx] = 1e-6
        fd[idx] = (f(base + step) - f(base - step)).numpy() / 2e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


# (num_heads, memory_size) with k | s (factorised path), s = sqrt(k M).
FACTORISED = [(4, 16), (3, 27), (1, 9), (2, 8)]


def special_proj(k, size, batch=6, seed=8):
    """Random `proj` rows (float64), some with zero or tiny blocks.

    Row 1: a zero write block a_(w,0); row 2: b_w = 0 (all write rows
    vanish); row 3: every direction factor 1e-8 (rows of norm ~1e-16, below
    epsilon); row 4: entries of very different magnitudes.
    """
    s = math.isqrt(k * size)
    r = s // k
    proj = np.random.default_rng(seed).normal(size=(batch, 2 * k + 4 * s))
    o = 2 * k
    proj[1, o : o + r] = 0.0
    proj[2, o + s : o + 2 * s] = 0.0
    proj[3, o:] *= 1e-8
    proj[4, o : o + 2 * s] *= 1e3
    return proj


def update_and_grad(fn, proj, weights):
    proj = tf.constant(proj)
    with tf.GradientTape() as tape:
        tape.watch(proj)
        delta = fn(proj)
        loss = tf.reduce_sum(delta * weights)
    return delta.numpy(), tape.gradient(loss, proj).numpy()


@pytest.mark.parametrize("k, size", FACTORISED)
def test_factorised_update_equals_generic(k, size):
    """The fast path equals the (k, M)-outer-product form, with gradients."""
    proj = special_proj(k, size)
    weights = np.random.default_rng(9).normal(size=(len(proj), size))
    s = math.isqrt(k * size)
    fast = update_and_grad(
        lambda p: nru_memory._factorised_update(p, k, s // k, 1e-12),
        proj,
        weights,
    )
    ref = update_and_grad(
        lambda p: nru_memory._generic_update(p, k, size, 1e-12, False),
        proj,
        weights,
    )
    assert np.abs(ref[0][3]).max() < 1e-2  # row 3: |V_i| = |a_i b| / eps
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-12, atol=1e-12)
    scale = np.abs(ref[1]).max(axis=1, keepdims=True)
    np.testing.assert_allclose(fast[1] / scale, ref[1] / scale, atol=1e-10)


def test_factorised_layer_gradients_equal_generic():
    """Through `keras.layers.RNN`: the fast path changes nothing but speed."""
    x = np.random.default_rng(14).normal(size=(3, 6, FEATURES))
    grads = []
    for factorised in (True, False):
        keras.utils.set_random_seed(5)
        cell = make_cell(dtype="float64", use_layer_norm=True)
        layer = keras.layers.RNN(cell, return_sequences=True, dtype="float64")
        layer(x)
        cell._factorised = factorised
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(layer(x)))
        grads.append(tape.gradient(loss, layer.trainable_weights))
    for fast, ref in zip(*grads):
        np.testing.assert_allclose(fast.numpy(), ref.numpy(), rtol=1e-10)


def test_factorised_gradient_finite_differences():
    k, size = 2, 8
    # Rows 2 and 3 sit within 1e-12 of the epsilon kink: no room for steps.
    proj = special_proj(k, size)[[0, 1, 4]]
    proj[1, 2 * k] = 0.5  # a block with one non-zero entry
    weights = tf.constant(np.random.default_rng(10).normal(size=(3, size)))

    def f(p):
        delta = nru_memory._factorised_update(tf.constant(p), k, 2, 1e-12)
        return float(tf.reduce_sum(delta * weights))

    _, grad = update_and_grad(
        lambda p: nru_memory._factorised_update(p, k, 2, 1e-12), proj, weights
    )
    fd = np.zeros_like(proj)
    for idx in np.ndindex(proj.shape):
        h = 1e-6 * max(1.0, abs(proj[idx]))
        step = np.zeros_like(proj)
        step[idx] = h
        fd[idx] = (f(proj + step) - f(proj - step)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-6)


def test_factorised_update_float32_extreme_magnitudes():
    """float32 blocks of 1e-20 or 1e15 neither underflow nor overflow."""
    k, size = 4, 16
    proj = special_proj(k, size)
    proj[0, 2 * k :] *= 1e-20
    proj[5, 2 * k :] *= 1e15
    weights = np.random.default_rng(11).normal(size=(len(proj), size))
    fast = update_and_grad(
        lambda p: nru_memory._factorised_update(p, k, 2, 1e-12),
        proj.astype("float32"),
        weights.astype("float32"),
    )
    ref = update_and_grad(
        lambda p: nru_memory._generic_update(p, k, size, 1e-12, False),
        proj.astype("float32").astype("float64"),
        weights,
    )
    assert all(np.all(np.isfinite(x)) for x in fast)
    np.testing.assert_allclose(fast[0], ref[0], rtol=1e-5, atol=1e-6)
    scale = np.abs(ref[1]).max(axis=1, keepdims=True)
    np.testing.assert_allclose(fast[1] / scale, ref[1] / scale, atol=1e-5)


def test_generic_path_when_heads_do_not_divide_side():
    """num_heads=8, memory_size=2: s = 4 is not a multiple of k."""
    rng = np.random.default_rng(12)
    x, h = rng.normal(size=(3, FEATURES)), np.abs(rng.normal(size=(3, 5)))
    m = rng.normal(size=(3, 2))
    cell = NRUCell(5, memory_size=2, num_heads=8, dtype="float64")
    _, (h_new, m_new) = cell(x, [h, m])
    weights = {w.name: w.numpy() for w in cell.weights}
    ref_h, ref_m = numpy_step(x, h, m, weights, 8, False, False)
    np.testing.assert_allclose(h_new.numpy(), ref_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m_new.numpy(), ref_m, rtol=1e-12, atol=1e-12)


def test_mixed_precision_matches_float32():
    x = np.random.default_rng(13).normal(size=(2, 5, FEATURES))
    x = x.astype("float32")
    layer = keras.layers.RNN(make_cell(), return_state=True)
    half = keras.layers.RNN(
        make_cell(dtype="mixed_float16"),
        return_state=True,
        dtype="mixed_float16",
    )
    layer(x), half(x)
    half.set_weights(layer.get_weights())
    for full, low in zip(layer(x), half(x)):
        assert low.dtype == "float16"
        np.testing.assert_allclose(
            np.asarray(low, "float32"), full.numpy(), rtol=0.02, atol=0.02
        )


def test_gradients_finite_from_zero_state():
    # Zero inputs and zero biases: h_1 = 0 and the direction factors are 0,
    # where a plain L5 norm has an infinite derivative.
    cell = NRUCell(UNITS, memory_size=MEMORY, num_heads=HEADS)
    layer = keras.layers.RNN(cell)
    x = tf.zeros((2, 6, FEATURES))
    layer(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) ** 2) + tf.reduce_sum(layer(x + 1.0))
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_memory_grows_linearly_without_saturating():
    """Non-saturation: with a constant positive write, ||m_t|| grows ~ t.

    Deliberate weights: the write strengths α are fixed to 1 (their columns
    of `memory_kernel` zeroed, bias 1), the erase strengths β to 0, and the
    write-direction factors a, b to fixed positive vectors (their columns
    zeroed, positive biases). Then every step adds the same vector c (the
    mean of k positive unit-L5 rows): ||m_t|| = t ||c||. The hidden state
    stays random and reads the growing memory; nothing may squash, decay or
    renormalise m (a gated or bounded memory would flatten the curve).
    """
    steps, chunk = 500, 20
    cell = make_cell()
    layer = keras.layers.RNN(cell, return_state=True)
    x = np.ones((1, chunk, FEATURES), "float32")
    layer(x)
    k, s = HEADS, cell.direction_size
    wm, bm = cell.memory_kernel.numpy(), cell.memory_bias.numpy()
    wm[:, : 2 * k + 2 * s] = 0.0
    bm[:k], bm[k : 2 * k] = 1.0, 0.0
    rng = np.random.default_rng(4)
    a, b = rng.uniform(0.5, 1.5, s), rng.uniform(0.5, 1.5, s)
    bm[2 * k : 2 * k + 2 * s] = np.concatenate([a, b])
    cell.memory_kernel.assign(wm)
    cell.memory_bias.assign(bm)
    rows = np.outer(a, b).reshape(k, MEMORY)
    rows /= ((rows**5).sum(1, keepdims=True)) ** 0.2
    expected_rate = np.linalg.norm(rows.mean(0))

    state = None
    norms = []
    for _ in range(steps // chunk):  # real RNN layer, state carried over
        _, h, m = layer(x, initial_state=state)
        state = [h, m]
        norms.append(np.linalg.norm(m.numpy()))
    t = chunk * np.arange(1, steps // chunk + 1)
    norms = np.array(norms)
    slope, intercept = np.polyfit(t, norms, 1)
    fit = slope * t + intercept
    r2 = 1 - ((norms - fit) ** 2).sum() / ((norms - norms.mean()) ** 2).sum()
    half = len(t) // 2
    rate_1 = (norms[half - 1] - norms[0]) / (t[half - 1] - t[0])
    rate_2 = (norms[-1] - norms[half]) / (t[-1] - t[half])
    assert r2 > 0.99
    assert rate_2 >= 0.5 * rate_1 > 0
    np.testing.assert_allclose(slope, expected_rate, rtol=1e-3)
    assert np.linalg.norm(h.numpy()) > 0  # h is alive and reads the memory


def test_config_roundtrip():
    cell = NRUCell(
        12,
        memory_size=27,
        num_heads=3,
        use_layer_norm=True,
        memory_relu=True,
        kernel_initializer="glorot_normal",
        memory_regularizer=keras.regularizers.L2(1e-4),
        bias_constraint=keras.constraints.MaxNorm(2.0),
        epsilon=1e-8,
        dropout=0.1,
        recurrent_dropout=0.2,
        seed=3,
    )
    clone = assert_config_roundtrip(cell)
    assert clone.direction_size == 9
    assert clone.get_config()["memory_regularizer"] is not None


def test_from_config_gives_same_outputs():
    x = np.random.default_rng(5).normal(size=(2, 6, FEATURES))
    x = x.astype("float32")
    layer = keras.layers.RNN(make_cell(use_layer_norm=True))
    out = layer(x)
    clone = keras.layers.RNN.from_config(layer.get_config())
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(out.numpy(), clone(x).numpy())


def test_saved_model_identical(tmp_path):
    inputs = keras.Input((6, FEATURES))
    cell = NRUCell(
        UNITS,
        memory_size=MEMORY,
        num_heads=HEADS,
        use_layer_norm=True,
        bias_initializer="random_normal",
        kernel_regularizer=keras.regularizers.L2(1e-3),
        dropout=0.1,
    )
    hidden = keras.layers.RNN(cell)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    x = np.random.default_rng(6).normal(size=(3, 6, FEATURES))
    loaded = assert_saved_model_identical(model, x.astype("float32"), tmp_path)
    assert isinstance(loaded.layers[1].cell, NRUCell)


def test_dropout_only_in_training():
    x = np.random.default_rng(7).normal(size=(4, 5, FEATURES))
    x = x.astype("float32")
    cell = make_cell(dropout=0.5, recurrent_dropout=0.5, seed=1)
    layer = keras.layers.RNN(cell)
    plain = keras.layers.RNN(make_cell())
    plain(x)
    layer(x)
    plain.set_weights(layer.get_weights()[:4])
    np.testing.assert_allclose(
        layer(x, training=False).numpy(), plain(x).numpy(), atol=1e-7
    )
    assert not np.allclose(layer(x, training=True).numpy(), plain(x).numpy())


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: NRUCell(0), "`units`.*positive integer, got 0"),
        (lambda: NRUCell(2.5), "`units`"),
        (lambda: NRUCell(True), "`units`"),
        (lambda: NRUCell(4, memory_size=-1), "`memory_size`"),
        (lambda: NRUCell(4, num_heads=0), "`num_heads`"),
        (
            lambda: NRUCell(4, memory_size=60, num_heads=4),
            r"`memory_size`=60 and `num_heads`=4.*perfect square.*49 or 64",
        ),
        (lambda: NRUCell(4, memory_size=10, num_heads=3), "3 or 12"),
        (lambda: NRUCell(4, epsilon=0.0), "`epsilon`"),
        (lambda: NRUCell(4, layer_norm_epsilon=-1.0), "`layer_norm_epsilon`"),
        (lambda: NRUCell(4, dropout=1.0), "`dropout`"),
        (lambda: NRUCell(4, recurrent_dropout=-0.1), "`recurrent_dropout`"),
    ],
)
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_types_and_shapes():
    with pytest.raises(TypeError, match="`use_layer_norm`"):
        NRUCell(4, use_layer_norm="yes")
    with pytest.raises(TypeError, match="`dropout`"):
        NRUCell(4, dropout="0.1")
    with pytest.raises(ValueError, match=r"\(batch, input_dim\)"):
        NRUCell(4, memory_size=16).build((2, 3, 5))


def test_docstring_example_runs():
    result = doctest.testmod(nru, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def adding_data(n, steps, rng):
    """Adding problem: U(0, 1) values and a marker channel with two ones."""
    values = rng.uniform(0.0, 1.0, (n, steps))
    markers = np.zeros((n, steps))
    rows = np.arange(n)[:, None]
    markers[rows, np.argsort(rng.random((n, steps)), 1)[:, :2]] = 1.0
    x = np.stack([values, markers], -1).astype("float32")
    y = (values * markers).sum(1, keepdims=True).astype("float32")
    return x, y


@pytest.mark.slow
def test_learns_adding_task_t100():
    steps, batch, updates = 100, 50, 1000
    rng = np.random.default_rng(0)
    x, y = adding_data(batch * updates, steps, rng)
    x_test, y_test = adding_data(1000, steps, rng)
    assert np.all(x[..., 1].sum(1) == 2)
    model = keras.Sequential(
        [
            keras.Input((steps, 2)),
            keras.layers.RNN(NRUCell(64, memory_size=64, num_heads=4)),
            keras.layers.Dense(1),
        ]
    )
    # The paper's optimiser: Adam 1e-3, gradient norm clipped to 1.
    model.compile(keras.optimizers.Adam(1e-3, clipnorm=1.0), loss="mse")
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=2)
    mse = model.evaluate(x_test, y_test, verbose=0)
    seconds = time.perf_counter() - start
    print(f"adding T=100: test MSE {mse:.4f} after {seconds:.0f}s")
    # A constant prediction of 1 scores 1/6 ≈ 0.167.
    assert mse < 0.05
