"""Two learning rates through keras.optimizers.MultiOptimizer."""

import keras
import numpy as np
import pytest

import tf_nnrnn
from tf_nnrnn.optimizers import make_optimizer, orthogonal_multi_optimizer


def build_model(cell=None):
    cell = cell or tf_nnrnn.NNRNNCell(6)
    return keras.Sequential(
        [keras.Input((8, 2)), keras.layers.RNN(cell), keras.layers.Dense(1)]
    )


def data(seed=0, n=32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 2)).astype("float32")
    return x, np.sum(x[:, :2, 0], axis=1, keepdims=True)


def test_routes_skew_kernels_to_orthogonal_optimizer():
    model = build_model()
    opt = make_optimizer("rmsprop", 1e-3, 1e-5, rho=0.99)
    model.compile(optimizer=opt, loss="mse")
    model.fit(*data(), epochs=1, verbose=0)
    orth, rest = opt.optimizers
    assert float(orth.learning_rate) == pytest.approx(1e-5)
    assert float(rest.learning_rate) == pytest.approx(1e-3)
    assert float(orth.rho) == pytest.approx(0.99)
    routed = {v.path: opt._optimizer_map(v) for v in model.trainable_variables}
    for path, o in routed.items():
        assert (o is orth) == path.endswith("skew_kernel"), path


def test_orthogonal_lr_actually_used():
    """With lr_orth = 0 the skew kernel does not move; the rest does."""
    model = build_model()
    cell = model.layers[0].cell
    model.compile(optimizer=make_optimizer("sgd", 1e-2, 1e-30), loss="mse")
    x0, t0 = cell.skew_kernel.numpy(), cell.triangular_kernel.numpy()
    model.fit(*data(), epochs=1, verbose=0)
    np.testing.assert_allclose(cell.skew_kernel.numpy(), x0, atol=1e-12)
    assert not np.allclose(cell.triangular_kernel.numpy(), t0)


def head_only_optimum(model, x, y):
    """The least training MSE that any Dense head can reach on the
    recurrent layer's outputs as they are now: least squares of `y` on
    `[h_T, 1]` (what training the head alone converges to)."""
    h = np.asarray(model.layers[0](x), np.float64)
    a = np.hstack([h, np.ones((h.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(a, y.astype(np.float64), rcond=None)
    return float(np.mean((a @ coef - y) ** 2))


@pytest.mark.parametrize(
    "jit, name",
    [
        (False, "rmsprop"),
        (True, "adam"),
        # the other two pairs in the slow lane (XLA compiles cost ~8 s each)
        pytest.param(False, "adam", marks=pytest.mark.slow),
        pytest.param(True, "rmsprop", marks=pytest.mark.slow),
    ],
)
def test_trains_with_and_without_xla(name, jit):
    """y = x_0 + x_1 (first channel) is linear in the inputs, but the
    initial recurrent layer keeps only a 6-dimensional mix of all 16 of
    them: the best Dense head on its initial outputs leaves an MSE of 1.49
    (var(y) = 1.76), and a head trained alone cannot go below that. The
    trained model must reach half of it, so the recurrent weights learned.
    Measured after 40 epochs (seed as here): rmsprop 0.14, adam 0.16
    without XLA; 0.30 and 0.48 with it (float reordering changes the
    path)."""
    x, y = data(n=64)
    model = build_model()
    baseline = head_only_optimum(model, x, y)
    assert baseline > 0.5 * np.var(y)  # the initial layer cannot do it
    model.compile(
        optimizer=make_optimizer(name, 2e-2, 2e-3),
        loss="mse",
        jit_compile=jit,
        steps_per_execution=8,  # an epoch per call: same numbers, 2x faster
    )
    hist = model.fit(x, y, epochs=40, batch_size=8, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    final = model.evaluate(x, y, verbose=0)
    assert final < 0.5 * baseline, (final, baseline)


def test_save_load_resumes_identically(tmp_path):
    x, y = data(n=64)
    model = build_model()
    model.compile(
        optimizer=make_optimizer("adam", 5e-3, 5e-4, clipnorm=1.0), loss="mse"
    )
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    opt = loaded.optimizer
    assert isinstance(opt, keras.optimizers.MultiOptimizer)
    lrs = sorted(float(o.learning_rate) for o in opt.optimizers)
    assert lrs == pytest.approx([5e-4, 5e-3])
    assert int(opt.iterations) == int(model.optimizer.iterations) == 8
    for a, b in zip(model.optimizer.variables, opt.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    h1 = model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    h2 = loaded.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    np.testing.assert_allclose(
        h1.history["loss"], h2.history["loss"], rtol=1e-6
    )
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-7)


def test_optimizer_instance_as_template():
    opt = make_optimizer(keras.optimizers.RMSprop(rho=0.5), 1e-3, 1e-4)
    orth, rest = opt.optimizers
    assert float(orth.rho) == pytest.approx(0.5)
    assert float(rest.rho) == pytest.approx(0.5)
    assert float(orth.learning_rate) == pytest.approx(1e-4)
    assert float(rest.learning_rate) == pytest.approx(1e-3)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"optimizer": "adagrad2"}, ValueError, "`optimizer`"),
        ({"optimizer": 3}, TypeError, "`optimizer`"),
        ({"learning_rate": 0.0}, ValueError, "`learning_rate`"),
        ({"orthogonal_learning_rate": -1.0}, ValueError, "orthogonal"),
    ],
)
def test_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        make_optimizer(**kwargs)
    with pytest.raises(TypeError, match="default_optimizer"):
        orthogonal_multi_optimizer("rmsprop", keras.optimizers.SGD())


def test_global_clipnorm_clips_both_groups_jointly(tmp_path):
    """SGD step with a huge loss: the whole update has norm lr * c."""
    model = build_model(tf_nnrnn.ExpRNNCell(6))
    opt = make_optimizer("sgd", 1.0, 1.0, global_clipnorm=0.5)
    assert isinstance(opt, tf_nnrnn.optimizers.GlobalClipMultiOptimizer)
    assert all(o.global_clipnorm is None for o in opt.optimizers)
    model.compile(optimizer=opt, loss="mse")
    x, y = data(n=8)
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.fit(x, 1e4 * y + 1e4, batch_size=8, epochs=1, verbose=0)
    deltas = [
        v.numpy() - b for v, b in zip(model.trainable_variables, before)
    ]
    total = np.sqrt(sum(np.sum(d**2) for d in deltas))
    assert total == pytest.approx(0.5, rel=1e-4)
    orth = [
        d
        for d, v in zip(deltas, model.trainable_variables)
        if v.path.endswith("skew_kernel")
    ]
    # Per-group clipping would give the skew kernel alone norm 0.5.
    assert np.sqrt(np.sum(orth[0] ** 2)) < 0.5 - 1e-3
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.optimizer.joint_clipnorm == 0.5
