"""The Riemannian (Cayley-retraction) optimizer, tf_nnrnn.riemannian."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import assert_config_roundtrip
from tf_nnrnn.constraints import BlockOrthogonal
from tf_nnrnn.optimizers import (
    RiemannianOptimizer,
    make_optimizer,
    orthogonal_multi_optimizer,
)


def np_cayley_step(w, d):
    """Wisdom et al.'s rule, float64: `A = D Wᵀ − W Dᵀ`,
    `W ← (I + A/2)⁻¹ (I − A/2) W`; a wide `W` through its transpose."""
    wide = w.shape[0] < w.shape[1]
    if wide:
        w, d = w.T, d.T
    a = d @ w.T - w @ d.T
    eye = np.eye(len(a))
    new = np.linalg.solve(eye + a / 2, (eye - a / 2) @ w)
    return new.T if wide else new


def np_blocks_error(w, blocks):
    worst = 0.0
    for b in np.split(np.asarray(w, np.float64), blocks, axis=1):
        gram = b.T @ b if b.shape[0] >= b.shape[1] else b @ b.T
        worst = max(worst, np.abs(gram - np.eye(len(gram))).max())
    return worst


def random_stiefel(shape, blocks=1, seed=0):
    """Column blocks with orthonormal columns (rows if wide), float64."""
    g = np.random.default_rng(seed).normal(size=shape)
    out = []
    for b in np.split(g, blocks, axis=1):
        u, _, vt = np.linalg.svd(b, full_matrices=False)
        out.append(u @ vt)
    return np.concatenate(out, axis=1)


@pytest.mark.parametrize(
    "shape, blocks", [((5, 5), 1), ((6, 3), 1), ((3, 6), 1), ((3, 9), 3)]
)
def test_sgd_step_equals_numpy_transcription(shape, blocks):
    """With SGD the step is `D = η G`: the authors' geo_SGD rule. (`G`
    from another seed than `W`: `G = W P` would give `A = 0`.)"""
    rng = np.random.default_rng(10)
    w0 = random_stiefel(shape, blocks)
    g = rng.normal(size=shape)
    lr = float(np.float32(0.7))  # Keras keeps the learning rate in float32
    w = keras.Variable(w0, dtype="float64")
    opt = RiemannianOptimizer(keras.optimizers.SGD(lr), blocks=blocks)
    opt.apply([tf.constant(g)], [w])
    expected = np.concatenate(
        [
            np_cayley_step(wb, db)
            for wb, db in zip(
                np.split(w0, blocks, axis=1), np.split(lr * g, blocks, axis=1)
            )
        ],
        axis=1,
    )
    assert np.abs(w.numpy() - w0).max() > 0.1  # a real step
    np.testing.assert_allclose(w.numpy(), expected, rtol=0, atol=1e-12)
    assert np_blocks_error(w.numpy(), blocks) < 1e-12
    assert int(opt.iterations) == 1


def test_rmsprop_step_uses_the_inner_direction():
    """`D` is the step plain RMSprop would take, then retracted."""
    rng = np.random.default_rng(11)
    w0 = random_stiefel((4, 4))
    grads = [rng.normal(size=(4, 4)) for _ in range(2)]
    plain = keras.Variable(w0, dtype="float64")
    rms = keras.optimizers.RMSprop(0.05, rho=0.9)
    w = keras.Variable(w0, dtype="float64")
    opt = RiemannianOptimizer(keras.optimizers.RMSprop(0.05, rho=0.9))
    expected = w0
    for g in grads:
        plain.assign(expected)
        rms.apply([tf.constant(g)], [plain])
        expected = np_cayley_step(expected, expected - plain.numpy())
        opt.apply([tf.constant(g)], [w])
        np.testing.assert_allclose(w.numpy(), expected, atol=1e-12)


def test_float32_step_matches_float64_transcription():
    rng = np.random.default_rng(12)
    w0 = random_stiefel((6, 6))
    g = rng.normal(size=(6, 6))
    w = keras.Variable(w0.astype("float32"))
    opt = RiemannianOptimizer(keras.optimizers.SGD(0.3))
    opt.apply([tf.constant(g, "float32")], [w])
    d = np.float32(0.3) * g.astype("float32")  # the inner step, in float32
    expected = np_cayley_step(w0.astype("float32").astype(np.float64), d)
    np.testing.assert_allclose(w.numpy(), expected, atol=2e-7)


def test_procrustes_reaches_the_target_rotation():
    """min ½‖W − Q‖² over SO(n): gradient descent on the manifold reaches
    the target rotation Q (from a start in the same component)."""
    n = 6
    q = random_stiefel((n, n), seed=3)
    w0 = random_stiefel((n, n), seed=4)
    if np.linalg.det(q) * np.linalg.det(w0) < 0:
        w0[:, 0] *= -1
    w = keras.Variable(w0.astype("float32"))
    target = tf.constant(q, "float32")
    opt = RiemannianOptimizer(keras.optimizers.SGD(0.5))

    @tf.function(jit_compile=True)
    def step():
        with tf.GradientTape() as tape:
            loss = 0.5 * tf.reduce_sum((w - target) ** 2)
        opt.apply(tape.gradient(loss, [w]), [w])
        return loss

    losses = [float(step()) for _ in range(150)]
    assert losses[-1] < losses[0]
    assert np.all(np.diff(losses) <= 1e-6)  # monotone descent
    assert np.abs(w.numpy() - q).max() < 1e-4
    assert np_blocks_error(w.numpy(), 1) < 1e-5


#: Keras' LSTM / GRU / SimpleRNN recurrent kernels, a Stiefel Dense kernel.
KERNELS = [((6, 24), 4), ((6, 18), 3), ((6, 6), 1), ((8, 4), 1)]


@pytest.mark.parametrize("jit", [False, True])
def test_200_large_updates_stay_on_the_manifold(jit):
    rng = np.random.default_rng(0)
    variables = [
        keras.Variable(BlockOrthogonal(b, seed=i)(shape))
        for i, (shape, b) in enumerate(KERNELS)
    ]
    targets = [tf.constant(rng.normal(size=v.shape), "float32")
               for v in variables]
    start = [v.numpy() for v in variables]
    opts = [
        RiemannianOptimizer(keras.optimizers.RMSprop(0.1), blocks=b)
        for _, b in KERNELS
    ]

    @tf.function(jit_compile=jit)
    def step(noise):
        with tf.GradientTape() as tape:
            loss = sum(
                tf.reduce_sum((v * (1.0 + noise) - t) ** 2)
                for v, t in zip(variables, targets)
            )
        grads = tape.gradient(loss, variables)
        for opt, g, v in zip(opts, grads, variables):
            opt.apply([g], [v])

    for _ in range(200):
        step(tf.random.normal(()))
    for v, w0, (_, blocks) in zip(variables, start, KERNELS):
        assert np.abs(v.numpy() - w0).max() > 0.1  # it did move
        assert np_blocks_error(v.numpy(), blocks) < 1e-5


def lstm_model(optimizer, jit=False):
    inputs = keras.Input((5, 3))
    h = keras.layers.LSTM(
        6, recurrent_initializer=BlockOrthogonal(4, seed=0)
    )(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit)
    return model


def routed(lr=0.05):
    """Riemannian RMSprop for the recurrent kernel, Adam for the rest."""
    return orthogonal_multi_optimizer(
        keras.optimizers.Adam(1e-2),
        RiemannianOptimizer(keras.optimizers.RMSprop(lr), blocks=4),
        pattern=r".*recurrent_kernel",
    )


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5, 3)).astype("float32")
    return x, x[:, :2, 0].sum(axis=1, keepdims=True)


@pytest.mark.parametrize(
    "jit", [False, pytest.param(True, marks=pytest.mark.slow)]
)
def test_routed_lstm_fit_keeps_gate_blocks_orthogonal(jit):
    x, y = data(1600)
    model = lstm_model(routed(0.1), jit)
    cell = model.layers[1].cell
    w0 = cell.recurrent_kernel.numpy()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # 200 updates
    w = cell.recurrent_kernel.numpy()
    assert np.abs(w - w0).max() > 0.1
    assert np_blocks_error(w, 4) < 1e-5
    riem, adam = model.optimizer.optimizers
    assert isinstance(riem, RiemannianOptimizer)
    assert int(riem.iterations) == 200


def test_save_and_resume_identically(tmp_path):
    x, y = data()
    model = lstm_model(routed())
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "riemannian.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    riem = loaded.optimizer.optimizers[0]
    assert isinstance(riem, RiemannianOptimizer)
    assert isinstance(riem.inner_optimizer, keras.optimizers.RMSprop)
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_make_optimizer_orthogonal_wrapper():
    opt = make_optimizer(
        "rmsprop",
        1e-3,
        1e-2,
        pattern=r".*recurrent_kernel",
        orthogonal_wrapper=lambda o: RiemannianOptimizer(o, blocks=4),
    )
    riem, rest = opt.optimizers
    assert isinstance(riem, RiemannianOptimizer)
    assert float(riem.learning_rate) == pytest.approx(1e-2)
    assert isinstance(rest, keras.optimizers.RMSprop)
    model = lstm_model(opt)
    model.fit(*data(), batch_size=16, epochs=1, verbose=0)
    assert np_blocks_error(model.layers[1].cell.recurrent_kernel, 4) < 1e-5


def test_config_roundtrip_and_errors():
    opt = RiemannianOptimizer(
        keras.optimizers.Adam(3e-3), blocks=3, retraction_dtype="float32"
    )
    clone = assert_config_roundtrip(opt)
    assert isinstance(clone.inner_optimizer, keras.optimizers.Adam)
    with pytest.raises(TypeError, match="`inner_optimizer`"):
        RiemannianOptimizer("rmsprop")
    with pytest.raises(ValueError, match="`blocks`"):
        RiemannianOptimizer(keras.optimizers.SGD(), blocks=0)
    with pytest.raises(ValueError, match="multiple of 3"):
        opt.build([keras.Variable(np.zeros((2, 4), "float32"))])
