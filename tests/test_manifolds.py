"""Orthogonal / Stiefel constraints on Keras layers (tf_nnrnn.manifolds)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.helpers import assert_config_roundtrip, assert_saved_model_identical
from tf_nnrnn.constraints import BlockOrthogonal, Orthogonal, Stiefel
from tf_nnrnn.manifolds import (
    polar_retraction,
    qr_retraction,
    split_blocks,
    stiefel_error,
)


def np_polar(y):
    u, _, vt = np.linalg.svd(y, full_matrices=False)
    return u @ vt


def np_qr(y):
    wide = y.shape[0] < y.shape[1]
    q, r = np.linalg.qr(y.T if wide else y)
    q = q * np.where(np.diag(r) < 0, -1.0, 1.0)
    return q.T if wide else q


def np_blocks_error(w, blocks):
    """Per-block `max |WᵀW − I|` (`WWᵀ` for wide blocks), NumPy."""
    worst = 0.0
    for b in np.split(np.asarray(w, np.float64), blocks, axis=1):
        gram = b.T @ b if b.shape[0] >= b.shape[1] else b @ b.T
        worst = max(worst, np.abs(gram - np.eye(len(gram))).max())
    return worst


@pytest.mark.parametrize("shape", [(5, 5), (7, 3), (3, 7)])
def test_retractions_match_numpy(shape):
    y = np.random.default_rng(0).normal(size=shape)
    np.testing.assert_allclose(polar_retraction(y), np_polar(y), atol=1e-10)
    np.testing.assert_allclose(qr_retraction(y), np_qr(y), atol=1e-10)


def test_polar_is_the_closest_point_and_fixes_the_manifold():
    rng = np.random.default_rng(1)
    q = np_polar(rng.normal(size=(6, 6)))
    np.testing.assert_allclose(polar_retraction(q), q, atol=1e-12)
    y = q + 0.1 * rng.normal(size=(6, 6))
    best = np.linalg.norm(y - polar_retraction(y).numpy())
    for _ in range(20):  # no random orthogonal matrix is closer
        other = np_polar(polar_retraction(y).numpy() + 0.05 * rng.normal(
            size=(6, 6)))
        assert np.linalg.norm(y - other) >= best - 1e-12


def test_blocks_are_retracted_one_by_one():
    """Orthogonal(4) on `(n, 4n)` is the polar factor of each `n × n`
    block, not of the whole wide matrix (whose rows would be orthonormal
    but whose blocks would not)."""
    w = np.random.default_rng(2).normal(size=(3, 12))
    out = Orthogonal(blocks=4)(tf.constant(w)).numpy()
    for b_out, b in zip(np.split(out, 4, axis=1), np.split(w, 4, axis=1)):
        np.testing.assert_allclose(b_out, np_polar(b), atol=1e-10)
    assert np_blocks_error(out, 4) < 1e-12
    assert float(stiefel_error(out, blocks=4)) < 1e-12
    assert np_blocks_error(Stiefel()(tf.constant(w)).numpy(), 4) > 0.1


def test_split_blocks_layout():
    w = np.arange(12.0).reshape(2, 6)
    np.testing.assert_array_equal(split_blocks(w, 3)[1], w[:, 2:4])


def test_qr_constraint_and_stiefel_on_rectangles():
    w = np.random.default_rng(3).normal(size=(4, 6))
    out = Stiefel(blocks=2, retraction="qr")(tf.constant(w)).numpy()
    for b_out, b in zip(np.split(out, 2, axis=1), np.split(w, 2, axis=1)):
        np.testing.assert_allclose(b_out, np_qr(b), atol=1e-10)


@pytest.mark.parametrize(
    "make, shape, match",
    [
        (lambda: Orthogonal(blocks=2), (3, 5), "multiple of 2"),
        (lambda: Orthogonal(), (3, 5), "square blocks"),
        (lambda: Orthogonal(), (3,), "2-D"),
    ],
)
def test_shape_errors_name_the_problem(make, shape, match):
    with pytest.raises(ValueError, match=match):
        make()(tf.ones(shape))


def test_argument_errors():
    with pytest.raises(ValueError, match="`blocks`"):
        Orthogonal(blocks=0)
    with pytest.raises(ValueError, match="`retraction`"):
        Stiefel(retraction="cayley")


@pytest.mark.parametrize(
    "obj", [Orthogonal(4), Stiefel(2, "qr"), BlockOrthogonal(3, seed=1)]
)
def test_config_roundtrip(obj):
    assert_config_roundtrip(obj)


def test_block_orthogonal_initializer():
    w = BlockOrthogonal(blocks=4, seed=0)((6, 24))
    assert np_blocks_error(w, 4) < 1e-5
    # Keras' own Orthogonal leaves the blocks of a (n, 4n) kernel far off.
    k = keras.initializers.Orthogonal(seed=0)((6, 24))
    assert np_blocks_error(k, 4) > 0.1


#: (shape, blocks, constraint): Keras' LSTM / GRU / SimpleRNN recurrent
#: kernels and a Dense kernel with orthonormal columns.
#: (XLA compiles an SVD in ~10 s a shape on a loaded 2-core CPU: two here.)
KERNELS = [
    ((6, 24), 4, Orthogonal(4)),
    ((6, 18), 3, Orthogonal(3, "qr")),
    ((6, 6), 1, Orthogonal(retraction="qr")),
    ((8, 4), 1, Stiefel()),
]


@pytest.mark.parametrize("jit", [False, True])
def test_200_large_updates_stay_on_the_manifold(jit):
    """Keras' own update path (optimizer.apply assigns constraint(variable)
    after each step), compiled with XLA or not: Adam at lr 0.1 moves every
    entry by ~0.1 a step, the constraint retracts."""
    rng = np.random.default_rng(0)
    variables = []
    for i, (shape, blocks, constraint) in enumerate(KERNELS):
        variables.append(keras.Variable(BlockOrthogonal(blocks, seed=i)(shape)))
        variables[-1].constraint = constraint  # as add_weight(constraint=)
    targets = [tf.constant(rng.normal(size=v.shape), "float32")
               for v in variables]
    start = [v.numpy() for v in variables]
    opt = keras.optimizers.Adam(0.1)

    @tf.function(jit_compile=jit)
    def step(noise):
        with tf.GradientTape() as tape:
            loss = sum(
                tf.reduce_sum((v * (1.0 + noise) - t) ** 2)
                for v, t in zip(variables, targets)
            )
        opt.apply(tape.gradient(loss, variables), variables)

    for _ in range(200):
        step(tf.random.normal(()))
    assert int(opt.iterations) == 200
    for v, w0, (_, blocks, _) in zip(variables, start, KERNELS):
        assert np.abs(v.numpy() - w0).max() > 0.1  # it did move
        assert np_blocks_error(v.numpy(), blocks) < 1e-5


UNITS = 6


def recurrent_model(constraints, jit=False):
    """LSTM, GRU and SimpleRNN side by side, a Stiefel Dense head."""
    inputs = keras.Input((5, 3))
    outputs = []
    for layer_cls, blocks in (
        (keras.layers.LSTM, 4),
        (keras.layers.GRU, 3),
        (keras.layers.SimpleRNN, 1),
    ):
        layer = layer_cls(
            UNITS,
            recurrent_initializer=BlockOrthogonal(blocks, seed=blocks),
            recurrent_constraint=constraints[blocks],
        )
        outputs.append(layer(inputs))
    h = keras.layers.Concatenate()(outputs)
    h = keras.layers.Dense(4, kernel_constraint=Stiefel())(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.compile(
        optimizer=keras.optimizers.Adam(0.1),  # large: 0.1 per entry a step
        loss="mse",
        jit_compile=jit,
        steps_per_execution=50,
    )
    return model


def recurrent_layers(model):
    return [
        layer for layer in model.layers if hasattr(layer, "cell")
    ]


@pytest.mark.parametrize(
    "jit", [False, pytest.param(True, marks=pytest.mark.slow)]
)
def test_keras_layers_fit_200_large_updates(jit):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1600, 5, 3)).astype("float32")
    y = rng.normal(size=(1600, 1)).astype("float32")
    model = recurrent_model({b: Orthogonal(b) for b in (1, 3, 4)}, jit)
    start = [layer.cell.recurrent_kernel.numpy()
             for layer in recurrent_layers(model)]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # 200 updates
    assert int(model.optimizer.iterations) == 200
    for layer, w0 in zip(recurrent_layers(model), start):
        w = layer.cell.recurrent_kernel.numpy()
        assert np.abs(w - w0).max() > 0.1  # it did move
        blocks = w.shape[1] // w.shape[0]
        assert np_blocks_error(w, blocks) < 1e-5, layer.name
    dense = [la for la in model.layers if la.name.startswith("dense")][0]
    assert np_blocks_error(dense.kernel.numpy(), 1) < 1e-5


def test_keras_round_trip_of_constrained_layers(tmp_path):
    model = recurrent_model({b: Orthogonal(b, "qr") for b in (1, 3, 4)})
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype("float32")
    loaded = assert_saved_model_identical(model, x, tmp_path)
    for layer in recurrent_layers(loaded):
        constraint = layer.cell.recurrent_constraint
        blocks = {"lstm": 4, "gru": 3}.get(layer.name.split("_")[0], 1)
        assert isinstance(constraint, Orthogonal)
        assert constraint.get_config() == {"blocks": blocks,
                                           "retraction": "qr"}
        assert isinstance(layer.cell.recurrent_initializer, BlockOrthogonal)
    dense = [la for la in loaded.layers if la.name.startswith("dense")][0]
    assert isinstance(dense.kernel_constraint, Stiefel)
