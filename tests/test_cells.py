"""The parametrized cells under keras.layers.RNN."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_nnrnn
from tests import oracle
from tests.helpers import assert_config_roundtrip, assert_saved_model_identical
from tf_nnrnn.parametrizations import orthogonality_error

CELLS = {
    "nnrnn": lambda n, **kw: tf_nnrnn.NNRNNCell(n, **kw),
    "exprnn": lambda n, **kw: tf_nnrnn.ExpRNNCell(n, **kw),
    "scornn": lambda n, **kw: tf_nnrnn.ScoRNNCell(n, 3, **kw),
}


def perturb(cell, rng):
    """Move every weight off its (often trivial) initial value."""
    for w in cell.weights:
        w.assign(w.numpy() + 0.1 * rng.normal(size=w.shape))


def step_by_hand(cell, x, mask=None, go_backwards=False):
    h = np.zeros((x.shape[0], cell.units), np.float32)
    steps = range(x.shape[1])
    outputs = []
    for t in reversed(steps) if go_backwards else steps:
        out, state = cell(x[:, t], [h])
        new = state[0].numpy()
        if mask is not None:
            keep = mask[:, t : t + 1]
            new = np.where(keep, new, h)
            out = np.where(keep, out.numpy(), 0.0)
        h = new
        outputs.append(np.asarray(out))
    return np.stack(outputs, axis=1), h


@pytest.mark.parametrize("name", sorted(CELLS))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_hand_stepped_equals_rnn_layer(name, go_backwards):
    rng = np.random.default_rng(0)
    cell = CELLS[name](6)
    layer = keras.layers.RNN(
        cell,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    x = rng.normal(size=(3, 7, 4)).astype("float32")
    layer(x)
    perturb(cell, rng)
    seq, state = layer(x)
    ref_seq, ref_state = step_by_hand(cell, x, go_backwards=go_backwards)
    np.testing.assert_allclose(seq.numpy(), ref_seq, atol=1e-6)
    np.testing.assert_allclose(state.numpy(), ref_state, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_masking_matches_hand_stepping(name):
    rng = np.random.default_rng(1)
    cell = CELLS[name](6)
    layer = keras.layers.RNN(cell, return_sequences=True, return_state=True)
    x = rng.normal(size=(3, 7, 4)).astype("float32")
    mask = np.ones((3, 7), bool)
    mask[0, 5:] = False
    mask[2, 2:] = False
    layer(x)
    perturb(cell, rng)
    seq, state = layer(x, mask=mask)
    ref_seq, ref_state = step_by_hand(cell, x, mask=mask)
    np.testing.assert_allclose(state.numpy(), ref_state, atol=1e-6)
    # Keras repeats the last output on masked steps; compare unmasked ones.
    np.testing.assert_allclose(seq.numpy()[mask], ref_seq[mask], atol=1e-6)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_config_and_keras_file_roundtrip(name, tmp_path):
    kwargs = {"dropout": 0.1, "recurrent_dropout": 0.2}
    if name == "nnrnn":
        kwargs.update(
            gamma_regularizer=tf_nnrnn.GammaRegularizer(1e-3, "l1"),
            gamma_constraint=tf_nnrnn.ClipRange(0.0, 2.0),
            triangular_regularizer=keras.regularizers.L2(1e-5),
            triangular_mask="strict",
            skew_initializer="random_orthogonal",
        )
    elif name == "exprnn":
        kwargs.update(skew_initializer=tf_nnrnn.initializers.Cayley(seed=3))
    cell = CELLS[name](6, **kwargs)
    clone = assert_config_roundtrip(cell)
    assert clone.get_config()["dropout"] == 0.1
    inputs = keras.Input((5, 3))
    outputs = keras.layers.Dense(2)(keras.layers.RNN(cell)(inputs))
    model = keras.Model(inputs, outputs)
    perturb(cell, np.random.default_rng(2))
    x = np.random.default_rng(3).normal(size=(4, 5, 3)).astype("float32")
    loaded = assert_saved_model_identical(model, x, tmp_path)
    loaded_cell = loaded.layers[1].cell
    assert type(loaded_cell) is type(cell)
    np.testing.assert_allclose(
        loaded_cell.recurrent_matrix().numpy(),
        cell.recurrent_matrix().numpy(),
    )


def test_nnrnn_weight_names_and_shapes():
    cell = tf_nnrnn.NNRNNCell(8)
    keras.layers.RNN(cell)(np.zeros((1, 2, 3), "float32"))
    shapes = {w.name: tuple(w.shape) for w in cell.weights}
    assert shapes == {
        "kernel": (3, 8),
        "skew_kernel": (8, 8),
        "theta": (4,),
        "gamma": (4,),
        "triangular_kernel": (8, 8),
        "modrelu_bias": (8,),
    }
    for c in (tf_nnrnn.ExpRNNCell(4), tf_nnrnn.ScoRNNCell(4)):
        keras.layers.RNN(c)(np.zeros((1, 2, 3), "float32"))
        assert {w.name for w in c.weights} == {
            "kernel",
            "skew_kernel",
            "modrelu_bias",
        }


def test_nnrnn_initial_matrix_is_orthogonal():
    for init in ("cayley", "henaff", "random_orthogonal", "zeros"):
        cell = tf_nnrnn.NNRNNCell(8, skew_initializer=init)
        keras.layers.RNN(cell)(np.zeros((1, 2, 3), "float32"))
        assert float(orthogonality_error(cell.recurrent_matrix())) < 1e-5


def _train_steps(cell, steps, lr_orth, seed=0):
    """RMSprop (lr 1e-2, `lr_orth` for `skew_kernel`), batch 8, `steps`
    updates on noise; returns the upper triangle of `skew_kernel` (its
    only free entries) before and after."""
    rng = np.random.default_rng(seed)
    model = keras.Sequential(
        [keras.Input((10, 2)), keras.layers.RNN(cell), keras.layers.Dense(1)]
    )
    model.compile(
        optimizer=tf_nnrnn.make_optimizer("rmsprop", 1e-2, lr_orth), loss="mse"
    )
    upper = np.triu_indices(cell.units, 1)
    before = cell.skew_kernel.numpy()[upper]
    x = rng.normal(size=(8 * steps, 10, 2)).astype("float32")
    y = rng.normal(size=(8 * steps, 1)).astype("float32")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    return before, cell.skew_kernel.numpy()[upper]


# How far 200 RMSprop steps move the free entries of `skew_kernel`: the
# mean |change| over the upper triangle, measured (seeds as here) with the
# orthogonal learning rate 0.1 and, for contrast, with 1e-2 (what the skew
# kernel gets if `orthogonal_learning_rate` were ignored and the default
# learning rate used; make_optimizer's default lr_orth, 1e-4, moves it
# ~100x less still):
#              lr_orth = 0.1   lr_orth = 1e-2
#     nnRNN        0.77            0.071
#     expRNN       1.09            0.066
#     scoRNN       0.92            0.092
# The bounds sit a factor 2 below the first column and 3.8 above the
# second. (RMSprop moves an entry at most lr / sqrt(1 - rho) = 3.16 lr per
# step; the upper bound would catch a learning rate ~10x too large.)
MOVE_BOUNDS = (0.35, 3.0)


def _cayley_np(skew_kernel):
    """`C(A) = (I + A)⁻¹ (I − A)`, `A = skew(X)`, in float64 NumPy."""
    a = oracle.skew(skew_kernel)
    eye = np.eye(a.shape[0])
    return np.linalg.solve(eye + a, eye - a)


def test_orthogonality_after_200_large_lr_steps():
    """200 RMSprop steps with the large orthogonal learning rate 0.1:
    every cell's recurrent matrix stays exactly on its manifold, the skew
    kernels moved far (so lr_orth = 0.1, not the default lr, drove them),
    nnRNN's T kept its mask, and scoRNN's D is still diag(+1 × 11, −1 × 5).
    """
    nn = tf_nnrnn.NNRNNCell(
        16, gamma_regularizer=tf_nnrnn.GammaRegularizer(0.1)
    )
    before, after = _train_steps(nn, 200, lr_orth=0.1)
    moves = {"nnrnn": np.abs(after - before).mean()}
    p, _ = nn.schur_parts()
    assert float(orthogonality_error(p)) <= 1e-5
    np.testing.assert_allclose(
        p.numpy(), oracle.exprnn_V(nn.skew_kernel.numpy()), atol=1e-5
    )
    t = nn.triangular_kernel.numpy()
    assert np.abs(t).max() > 1e-3  # T did train
    mask = oracle.nnrnn_mask(16, "block")
    assert np.all(t[mask == 0] == 0.0)

    ex = tf_nnrnn.ExpRNNCell(16)
    before, after = _train_steps(ex, 200, lr_orth=0.1)
    moves["exprnn"] = np.abs(after - before).mean()
    w = ex.recurrent_matrix().numpy()
    assert float(orthogonality_error(w)) <= 1e-5
    np.testing.assert_allclose(
        w, oracle.exprnn_V(ex.skew_kernel.numpy()).T, atol=1e-5
    )

    sc = tf_nnrnn.ScoRNNCell(16, 5)
    before, after = _train_steps(sc, 200, lr_orth=0.1)
    moves["scornn"] = np.abs(after - before).mean()
    w = sc.recurrent_matrix().numpy().astype(np.float64)
    assert float(orthogonality_error(w)) <= 1e-5
    # V = Wᵀ = C(A) D with C(A) orthogonal, so D = C(A)ᵀ V, recovered from
    # the trained weights; W·diag(d) alone is orthogonal for any ±1 d.
    d = _cayley_np(sc.skew_kernel.numpy()).T @ w.T
    expected = np.diag([1.0] * 11 + [-1.0] * 5)
    np.testing.assert_allclose(d, expected, atol=1e-5)

    for name, move in moves.items():
        assert MOVE_BOUNDS[0] < move < MOVE_BOUNDS[1], (name, moves)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_jit_training_matches_graph_mode(name):
    results = []
    for jit in (False, True):
        keras.utils.set_random_seed(7)
        rng = np.random.default_rng(7)
        model = keras.Sequential(
            [
                keras.Input((12, 3)),
                keras.layers.RNN(CELLS[name](8)),
                keras.layers.Dense(1),
            ]
        )
        model.compile(
            optimizer=tf_nnrnn.make_optimizer("sgd", 1e-2, 1e-2),
            loss="mse",
            jit_compile=jit,
        )
        x = rng.normal(size=(40, 12, 3)).astype("float32")
        y = rng.normal(size=(40, 1)).astype("float32")
        hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
        results.append((hist.history["loss"], model.get_weights()))
    (loss_a, w_a), (loss_b, w_b) = results
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-4)
    # SGD, not Adam: Adam's m/sqrt(v) turns float32 reordering noise in
    # near-zero gradient entries into full-size steps of either sign.
    for a, b in zip(w_a, w_b):
        np.testing.assert_allclose(a, b, atol=5e-5)


def _mixed_model(policy):
    keras.config.set_dtype_policy(policy)
    cell = tf_nnrnn.NNRNNCell(8)
    model = keras.Sequential(
        [
            keras.Input((6, 2)),
            keras.layers.RNN(cell),
            keras.layers.Dense(1, dtype="float32"),
        ]
    )
    return model, cell


def _loss_and_grads(model, x, y):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - y) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    assert all(g is not None for g in grads)
    return float(loss), [g.numpy().astype(np.float64) for g in grads]


def _kink_margins(cell, x):
    """Per sequence, the least `| |z| + b |` over steps and units: how far
    the float64 trajectory of `cell` on `x` stays from modReLU's kink, where
    its derivative `1[|z| + b > 0]` jumps from 0 to 1."""
    kernel = cell.kernel.numpy().astype(np.float64)
    bias = cell.modrelu_bias.numpy().astype(np.float64)
    w = cell.recurrent_matrix().numpy().astype(np.float64)
    h = np.zeros((x.shape[0], cell.units))
    margin = np.full(x.shape[0], np.inf)
    for t in range(x.shape[1]):
        z = x[:, t].astype(np.float64) @ kernel + h @ w
        pre = np.abs(z) + bias
        margin = np.minimum(margin, np.abs(pre).min(axis=1))
        h = np.sign(z) * np.maximum(pre, 0.0)
    return margin


def _away_from_kink(cell, rng, count, shape, margin):
    """`count` float32 sequences of `shape` whose trajectories stay at least
    `margin` from modReLU's kink (drawn from N(0, 1), the others dropped)."""
    kept = []
    while sum(len(k) for k in kept) < count:
        x = rng.normal(size=(4 * count, *shape)).astype("float32")
        kept.append(x[_kink_margins(cell, x) >= margin])
    return np.concatenate(kept)[:count]


def _sgd(policy):
    """SGD for both weight groups; under float16 inside Keras' loss scaling,
    started at 2^6 so that no step is skipped for overflow (the default
    2^15 skips the first ones, which float32 takes)."""
    optimizer = tf_nnrnn.make_optimizer("sgd", 0.01, 0.01)
    if policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(
            optimizer, initial_scale=2.0**6
        )
    return optimizer


# (outputs, losses and loss curves; gradients) tolerances relative to the
# largest entry. One rounding is 2^-11 = 4.9e-4 in float16, 2^-8 = 3.9e-3
# in bfloat16; measured worst (seed 0, 64 sequences kept KINK_MARGIN from
# modReLU's kink, batches of 32): float16 outputs 1.7e-3, loss curve
# 9.2e-4, gradients 8.1e-4; bfloat16 2.2e-2, 1.3e-2 and 2.6e-2. With 16
# unfiltered sequences (batches of 8) one pre-activation 4.8e-4 from the
# kink flipped its derivative in both half precisions: dL/dW off by 10%,
# the skew_kernel and theta gradients by 16% and 27%.
MIXED_TOL = {"mixed_float16": (4e-3, 5e-3), "mixed_bfloat16": (3e-2, 8e-2)}

# Least distance of a test input's pre-activations from modReLU's kink
# (|z| <= 5.5 here; float16's half ulp there is 2e-3).
KINK_MARGIN = 0.02


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision(policy):
    """Same weights, same data: the mixed-precision model's outputs,
    gradients and five epochs of SGD (through Keras' loss scaling under
    float16) match float32's to half precision; the parametrization runs
    in float32."""
    rng = np.random.default_rng(0)
    ref, ref_cell = _mixed_model("float32")
    perturb(ref_cell, rng)  # γ ≠ 1, T ≠ 0: a non-normal V
    model, cell = _mixed_model(policy)
    model.set_weights(ref.get_weights())
    assert cell.skew_kernel.dtype == "float32"
    assert cell.recurrent_matrix().dtype == tf.float32
    assert cell.compute_dtype == policy.split("_")[1]
    tol, grad_tol = MIXED_TOL[policy]
    # A pre-activation within rounding of modReLU's kink flips its
    # derivative between 0 and 1 in one precision and not the other: no
    # precision's gradient agrees there. Inputs keep KINK_MARGIN from it.
    x = _away_from_kink(ref_cell, rng, 64, (6, 2), KINK_MARGIN)
    y = rng.normal(size=(64, 1)).astype("float32")

    full = ref.layers[0](x).numpy()
    half = model.layers[0](x)
    assert half.dtype == policy.split("_")[1]
    np.testing.assert_allclose(
        np.asarray(half, np.float32),
        full,
        rtol=0,
        atol=tol * np.abs(full).max(),
    )
    loss_full, grads_full = _loss_and_grads(ref, x, y)
    loss_half, grads_half = _loss_and_grads(model, x, y)
    assert loss_half == pytest.approx(loss_full, rel=tol)
    for v, a, b in zip(ref.trainable_variables, grads_half, grads_full):
        scale = np.abs(b).max()
        assert scale > 0, v.path
        np.testing.assert_allclose(
            a, b, rtol=0, atol=grad_tol * scale, err_msg=v.path
        )

    histories = []
    for m, p in ((ref, "float32"), (model, policy)):
        m.compile(optimizer=_sgd(p), loss="mse")
        # Training moves some pre-activations onto the kink (flips then
        # happen); batches of 32 make each flip one term of many.
        hist = m.fit(x, y, batch_size=32, epochs=5, verbose=0, shuffle=False)
        histories.append(hist.history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=tol)
    assert histories[0][-1] < 0.5 * histories[0][0]  # it did train

    seen = {}
    orig = type(cell).matrix_from

    def spy(self, *params):
        w = orig(self, *params)
        seen["dtype"] = w.dtype
        return w

    type(cell).matrix_from = spy
    try:
        model(x, training=True)
    finally:
        type(cell).matrix_from = orig
    assert seen["dtype"] == tf.float32  # parametrization in full precision


def test_dropout_changes_training_outputs_only():
    cell = tf_nnrnn.ExpRNNCell(8, dropout=0.5, recurrent_dropout=0.5, seed=1)
    layer = keras.layers.RNN(cell)
    x = np.ones((4, 5, 3), "float32")
    np.testing.assert_array_equal(layer(x).numpy(), layer(x).numpy())
    assert not np.allclose(layer(x, training=True).numpy(), layer(x).numpy())


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: tf_nnrnn.NNRNNCell(0), "`units`"),
        (lambda: tf_nnrnn.NNRNNCell(8.0), "`units`"),
        (lambda: tf_nnrnn.ExpRNNCell(-3), "`units`"),
        (lambda: tf_nnrnn.NNRNNCell(7), "even"),
        (lambda: tf_nnrnn.NNRNNCell(8, skew_initializer="nope"), "skew_init"),
        (lambda: tf_nnrnn.ExpRNNCell(8, skew_initializer="bad"), "skew_init"),
        (lambda: tf_nnrnn.ScoRNNCell(8, num_negative_ones=9), "num_negative"),
        (lambda: tf_nnrnn.ScoRNNCell(8, num_negative_ones=-1), "num_negative"),
        (lambda: tf_nnrnn.NNRNNCell(8, triangular_mask="x"), "triangular_mask"),
        (lambda: tf_nnrnn.NNRNNCell(8, dropout=1.5), "`dropout`"),
        (lambda: tf_nnrnn.GammaRegularizer(-1.0), "`delta`"),
        (lambda: tf_nnrnn.GammaRegularizer(1.0, norm="l3"), "`norm`"),
        (lambda: tf_nnrnn.ClipRange(1.0, 0.0), "min_value"),
    ],
)
def test_bad_arguments_raise_value_error(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4, 5)])
def test_wrong_input_rank_raises(shape):
    layer = keras.layers.RNN(tf_nnrnn.NNRNNCell(4))
    with pytest.raises(ValueError, match="rank"):
        layer(np.zeros(shape, "float32"))


def test_odd_units_supported_by_orthogonal_cells():
    for cell in (tf_nnrnn.ExpRNNCell(5), tf_nnrnn.ScoRNNCell(5, 2)):
        keras.layers.RNN(cell)(np.zeros((1, 2, 3), "float32"))
        assert float(orthogonality_error(cell.recurrent_matrix())) < 1e-5


def test_subclassed_model_builds_with_default_skew_initializer():
    """Keras builds a subclassed model inside a stateless scope, where a
    skew initializer without a seed used to touch a global seed generator
    (AttributeError in fit)."""

    class Model(keras.Model):
        def __init__(self):
            super().__init__()
            self.rnn = keras.layers.RNN(tf_nnrnn.ExpRNNCell(4))
            self.out = keras.layers.Dense(2)

        def call(self, x):
            return self.out(self.rnn(x))

    model = Model()
    model.compile("sgd", "mse")
    x = np.ones((4, 5, 3), "float32")
    history = model.fit(x, np.ones((4, 2)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # Two initializers without seeds draw different matrices.
    a = tf_nnrnn.initializers.Henaff()((6, 6))
    b = tf_nnrnn.initializers.Henaff()((6, 6))
    assert not np.allclose(a, b)
    assert tf_nnrnn.initializers.Henaff().get_config() == {"seed": None}
