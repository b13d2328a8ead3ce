"""The cells and fused layers against an independent NumPy/SciPy oracle.

The other tests compare the package with itself (a cell with its fused
layer, one expm gradient with another). Here every number is checked
against `tests/oracle.py`, written from the papers' equations in their
column convention with `scipy.linalg.expm` / `numpy.linalg.solve`, sharing
no code with `tf_nnrnn`. The package works in Keras' row convention,
`h_t = σ(x_t @ kernel [+ bias] + h_{t-1} @ W)`, so `recurrent_matrix()`
must equal `Vᵀ` and `kernel = Uᵀ`.

Every weight gets random, non-trivial values through `variable.assign`:
a non-symmetric `skew_kernel` (its lower triangle must be ignored), a
`triangular_kernel` nonzero everywhere (the cell must apply its mask),
`gamma ≠ 1`, nonzero biases. Forward checks run in float32; the gradients
of the fused layers (hand-written back-propagation through time for
modReLU, automatic differentiation for tanh) and of
`keras.layers.RNN(cell)` run in float64 against central finite differences
of the oracle's loss in random directions. Sequences have 11 steps, not a
multiple of the fused loop's unroll, so that several chunks and a padded
one are exercised.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests import oracle
from tf_nnrnn import ExpRNNCell, NNRNNCell, ScoRNNCell
from tf_nnrnn.layers import NNRNN, ExpRNN, ScoRNN

FEATURES, BATCH = 4, 3

# name -> (cell class, fused layer class, units, constructor arguments)
SPECS = {
    "nnrnn_block": (NNRNNCell, NNRNN, 6, {"triangular_mask": "block"}),
    "nnrnn_strict": (NNRNNCell, NNRNN, 6, {"triangular_mask": "strict"}),
    "exprnn": (ExpRNNCell, ExpRNN, 6, {}),
    "scornn": (ScoRNNCell, ScoRNN, 6, {"num_negative_ones": 2}),
}


def _rng(*parts):
    # hash() of strings is salted per process: derive a stable seed.
    text = "/".join(str(p) for p in parts)
    return np.random.default_rng([ord(c) for c in text])


def random_weights(spec, n, rng, use_bias, activation, dtype):
    """Random non-trivial values for every weight, rounded to `dtype`."""
    weights = {
        "kernel": rng.normal(0.0, 0.6, (FEATURES, n)),
        # Full and non-symmetric: skew() must drop the lower triangle.
        "skew_kernel": rng.normal(0.0, 0.7, (n, n)),
    }
    if use_bias:
        weights["bias"] = rng.normal(0.0, 0.3, n)
    if activation == "modrelu":
        weights["modrelu_bias"] = rng.uniform(-0.4, 0.4, n)
    if spec.startswith("nnrnn"):
        weights["theta"] = rng.uniform(0.0, 2.0 * np.pi, n // 2)
        weights["gamma"] = rng.uniform(0.6, 0.95, n // 2)
        # Nonzero everywhere: the cell must apply its own mask.
        weights["triangular_kernel"] = rng.normal(0.0, 0.5, (n, n))
    return {k: v.astype(dtype).astype(np.float64) for k, v in weights.items()}


def oracle_V(spec, weights, **kwargs):
    """The oracle's column-convention `V` for a spec's weights."""
    x = weights["skew_kernel"]
    n = x.shape[0]
    if spec.startswith("nnrnn"):
        mask = kwargs.get("mask", kwargs.get("triangular_mask"))
        return oracle.nnrnn_V(
            x,
            weights["theta"],
            weights["gamma"],
            weights["triangular_kernel"],
            oracle.nnrnn_mask(n, mask),
        )
    if spec == "exprnn":
        return oracle.exprnn_V(x)
    rho = kwargs["num_negative_ones"]
    return oracle.scornn_V(x, oracle.scornn_d(n, rho))


def assign(cell, weights):
    """Set every weight of `cell` by name; all of them must be given."""
    variables = {v.name: v for v in cell.weights}
    assert set(variables) == set(weights), (set(variables), set(weights))
    for name, value in weights.items():
        variables[name].assign(value.astype(variables[name].dtype))


def close(got, want, tol=1e-5):
    got = np.asarray(got, dtype=np.float64)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * scale)


def far(a, b, tol=1e-5):
    """`a` and `b` differ by far more than the comparison tolerance."""
    scale = max(1.0, float(np.abs(b).max()))
    return float(np.abs(np.asarray(a) - b).max()) > 100 * tol * scale


def oracle_sequence(spec, weights, xs, activation="modrelu", **kwargs):
    """Oracle outputs for weights given in the package's names."""
    seq_kwargs = {
        k: kwargs.pop(k) for k in ("h0", "mask", "go_backwards") if k in kwargs
    }
    V = oracle_V(spec, weights, **kwargs)
    return oracle.sequence(
        V,
        weights["kernel"].T,
        weights.get("bias"),
        weights.get("modrelu_bias"),
        xs,
        activation=activation,
        **seq_kwargs,
    )


# --------------------------------------------------------------------------
# The recurrent matrix.

MATRIX_CASES = [
    ("nnrnn_block", 6, {"triangular_mask": "block"}),
    ("nnrnn_strict", 6, {"triangular_mask": "strict"}),
    ("nnrnn_block", 8, {"triangular_mask": "block"}),
    ("exprnn", 6, {}),
    ("exprnn", 7, {}),
    ("scornn", 7, {"num_negative_ones": 0}),
    ("scornn", 7, {"num_negative_ones": 3}),
    ("scornn", 7, {"num_negative_ones": 7}),
]


@pytest.mark.parametrize(
    "spec,n,kwargs",
    MATRIX_CASES,
    ids=[
        "-".join([s, f"n{n}"] + [f"{v}" for v in k.values()])
        for s, n, k in MATRIX_CASES
    ],
)
def test_recurrent_matrix_is_oracle_V_transposed(spec, n, kwargs):
    cell_class = SPECS[spec][0]
    cell = cell_class(n, **kwargs)
    cell.build((None, FEATURES))
    weights = random_weights(
        spec, n, _rng(spec, n, kwargs), False, "modrelu", np.float32
    )
    assign(cell, weights)
    V = oracle_V(spec, weights, **kwargs)
    got = keras.ops.convert_to_numpy(cell.recurrent_matrix())
    close(got, V.T)
    # The comparison can tell W from V (V is not symmetric).
    assert far(V, V.T)
    if spec.startswith("nnrnn"):
        # ... and one mask from the other (T is nonzero where they differ),
        # and T from no T.
        other = "strict" if kwargs["triangular_mask"] == "block" else "block"
        assert far(oracle_V(spec, weights, mask=other).T, V.T)
        no_t = dict(weights, triangular_kernel=np.zeros((n, n)))
        assert far(oracle_V(spec, no_t, **kwargs).T, V.T)
        # The block mask gives exactly the eigenvalues γ_i e^{±iθ_i}.
        if kwargs["triangular_mask"] == "block":
            want = np.concatenate(
                [
                    weights["gamma"] * np.exp(1j * weights["theta"]),
                    weights["gamma"] * np.exp(-1j * weights["theta"]),
                ]
            )
            got_eig = np.linalg.eigvals(got.astype(np.float64))
            for value in want:
                assert np.min(np.abs(got_eig - value)) < 1e-4
    if spec == "scornn":
        rho = kwargs["num_negative_ones"]
        d = oracle.scornn_d(n, rho)
        wrong = [d[::-1], -d, np.ones(n)]
        wrong += [
            oracle.scornn_d(n, r) for r in (rho - 1, rho + 1) if 0 <= r <= n
        ]
        for bad in wrong:
            if np.array_equal(bad, d):
                continue
            # A wrong D gives a different oracle: the test is sensitive.
            assert far(oracle.scornn_V(weights["skew_kernel"], bad).T, got)
        # W is orthogonal with det(D)·1 determinant.
        close(got.T @ got, np.eye(n))
        assert np.isclose(np.linalg.det(got), (-1.0) ** rho, atol=1e-4)


# --------------------------------------------------------------------------
# One step of the cell, called by hand.

STEP_CASES = [
    (spec, use_bias, "modrelu") for spec in SPECS for use_bias in (False, True)
] + [("nnrnn_block", True, "tanh"), ("scornn", False, "tanh")]


@pytest.mark.parametrize(
    "spec,use_bias,activation",
    STEP_CASES,
    ids=[f"{s}-bias{b}-{a}" for s, b, a in STEP_CASES],
)
def test_cell_step(spec, use_bias, activation):
    cell_class, _, n, kwargs = SPECS[spec]
    rng = _rng("step", spec, use_bias, activation)
    cell = cell_class(n, use_bias=use_bias, activation=activation, **kwargs)
    x = rng.normal(size=(BATCH, FEATURES)).astype(np.float32)
    h = rng.normal(size=(BATCH, n)).astype(np.float32)
    cell(x, [h])  # builds
    weights = random_weights(spec, n, rng, use_bias, activation, np.float32)
    assign(cell, weights)
    out, state = cell(x, [h])
    V = oracle_V(spec, weights, **kwargs)
    want = oracle.step(
        V,
        weights["kernel"].T,
        weights.get("bias"),
        weights.get("modrelu_bias"),
        x.T.astype(np.float64),
        h.T.astype(np.float64),
        activation,
    ).T
    close(keras.ops.convert_to_numpy(out), want)
    close(keras.ops.convert_to_numpy(state[0]), want)
    if activation == "modrelu":
        # Sensitive to the modReLU bias and to its sign.
        for bad in (0.0, -weights["modrelu_bias"]):
            wrong = oracle.step(
                V,
                weights["kernel"].T,
                weights.get("bias"),
                bad + np.zeros(n),
                x.T.astype(np.float64),
                h.T.astype(np.float64),
            ).T
            assert far(wrong, want)


# --------------------------------------------------------------------------
# Sequences: keras.layers.RNN(cell) and the fused layers.

STEPS = 11  # not a multiple of the fused loop's unroll: padded chunks
MODES = ("plain", "mask", "backwards", "mask_backwards")
SEQUENCE_CASES = [
    (spec, mode, impl)
    for spec in SPECS
    for mode in MODES
    for impl in ("rnn", "fused")
    if spec != "nnrnn_strict" or mode == "plain"
]


def _mask(batch, steps):
    mask = np.ones((batch, steps), bool)
    mask[1, :3] = False  # masked at the start: outputs zeros, state h0
    mask[1, 6] = False
    mask[2, 4:6] = False
    mask[2, -1] = False
    mask[0, 7:] = False  # masked at the end
    return mask


def _build_layer(spec, impl, activation, dtype, use_bias, **layer_kwargs):
    """`keras.layers.RNN(cell)` or the fused layer, same cell arguments."""
    cell_class, layer_class, n, kwargs = SPECS[spec]
    kwargs = dict(kwargs, activation=activation, use_bias=use_bias)
    if impl == "rnn":
        cell = cell_class(n, dtype=dtype, **kwargs)
        return keras.layers.RNN(cell, dtype=dtype, **layer_kwargs)
    return layer_class(n, dtype=dtype, **kwargs, **layer_kwargs)


@pytest.mark.parametrize(
    "spec,mode,impl",
    SEQUENCE_CASES,
    ids=[f"{s}-{m}-{i}" for s, m, i in SEQUENCE_CASES],
)
def test_sequence(spec, mode, impl):
    _, _, n, kwargs = SPECS[spec]
    rng = _rng("sequence", spec, mode, impl)
    backwards = "backwards" in mode
    use_bias = mode != "plain"
    layer = _build_layer(
        spec,
        impl,
        "modrelu",
        "float32",
        use_bias=use_bias,
        return_sequences=True,
        return_state=True,
        go_backwards=backwards,
    )
    xs = rng.normal(size=(BATCH, STEPS, FEATURES)).astype(np.float32)
    h0 = rng.normal(0.0, 0.5, size=(BATCH, n)).astype(np.float32)
    mask = _mask(BATCH, STEPS) if "mask" in mode else None
    layer(xs, initial_state=[h0])  # builds
    weights = random_weights(spec, n, rng, use_bias, "modrelu", np.float32)
    assign(layer.cell, weights)
    out, state = layer(xs, initial_state=[h0], mask=mask)
    want, want_state = oracle_sequence(
        spec,
        weights,
        xs,
        h0=h0,
        mask=mask,
        go_backwards=backwards,
        **kwargs,
    )
    close(keras.ops.convert_to_numpy(out), want, 2e-5)
    close(keras.ops.convert_to_numpy(state), want_state, 2e-5)
    if backwards:
        # Sensitive to the order of the outputs.
        assert far(want[:, ::-1], want, 2e-5)


# --------------------------------------------------------------------------
# Gradients (float64) against finite differences of the oracle.

# (spec, activation, mode, impl): "fused" with modReLU runs the hand-written
# BPTT, with tanh TensorFlow's autodiff; "rnn" is keras.layers.RNN(cell)
# (autodiff through the cell's own modReLU gradient).
GRAD_CASES = [
    ("nnrnn_block", "modrelu", "plain", "fused"),
    ("nnrnn_strict", "modrelu", "plain", "fused"),
    ("exprnn", "modrelu", "plain", "fused"),
    ("scornn", "modrelu", "plain", "fused"),
    ("nnrnn_block", "modrelu", "mask_backwards", "fused"),
    ("scornn", "modrelu", "last", "fused"),
    ("nnrnn_block", "tanh", "plain", "fused"),
    ("exprnn", "tanh", "mask_backwards", "fused"),
    ("nnrnn_block", "modrelu", "mask_backwards", "rnn"),
    ("scornn", "modrelu", "plain", "rnn"),
]
GRAD_STEPS = 11
DIRECTIONS = 3
EPS = 1e-6


def _ignored_entries(name, spec, n):
    """0/1 pattern of the raw entries the parametrization must ignore."""
    if name == "skew_kernel":
        return np.tril(np.ones((n, n)))
    if name == "triangular_kernel":
        kind = "strict" if spec == "nnrnn_strict" else "block"
        return 1.0 - oracle.nnrnn_mask(n, kind)
    return None


@pytest.mark.parametrize(
    "spec,activation,mode,impl",
    GRAD_CASES,
    ids=[f"{s}-{a}-{m}-{i}" for s, a, m, i in GRAD_CASES],
)
def test_gradient_against_finite_differences(spec, activation, mode, impl):
    _, _, n, kwargs = SPECS[spec]
    rng = _rng("gradient", spec, activation, mode, impl)
    sequences = mode != "last"
    backwards = "backwards" in mode
    layer = _build_layer(
        spec,
        impl,
        activation,
        "float64",
        use_bias=True,
        return_sequences=sequences,
        go_backwards=backwards,
    )
    xs = rng.normal(size=(BATCH, GRAD_STEPS, FEATURES))
    h0 = rng.normal(0.0, 0.5, size=(BATCH, n))
    mask = _mask(BATCH, GRAD_STEPS) if "mask" in mode else None
    layer(xs, initial_state=[h0])  # builds
    weights = random_weights(spec, n, rng, True, activation, np.float64)
    assign(layer.cell, weights)
    out_shape = (BATCH, GRAD_STEPS, n) if sequences else (BATCH, n)
    probe = rng.normal(size=out_shape)

    def oracle_loss(w):
        outs, state = oracle_sequence(
            spec,
            w,
            xs,
            activation=activation,
            h0=h0,
            mask=mask,
            go_backwards=backwards,
            **kwargs,
        )
        return float(np.sum((outs if sequences else state) * probe))

    variables = {v.name: v for v in layer.cell.weights}
    with tf.GradientTape() as tape:
        out = layer(xs, initial_state=[h0], mask=mask, training=True)
        loss = tf.reduce_sum(out * probe)
    grads = tape.gradient(loss, list(variables.values()))
    grads = dict(zip(variables, grads))
    base = oracle_loss(weights)
    assert np.isclose(float(loss), base, rtol=1e-10, atol=1e-10)

    assert set(grads) == set(weights)
    for name, value in weights.items():
        g = keras.ops.convert_to_numpy(tf.convert_to_tensor(grads[name]))
        directions = [rng.normal(size=value.shape) for _ in range(DIRECTIONS)]
        ignored = _ignored_entries(name, spec, n)
        if ignored is not None:
            # Only entries the parametrization ignores: gradient 0.
            directions.append(rng.normal(size=value.shape) * ignored)
            np.testing.assert_allclose(g * ignored, 0.0, atol=1e-12)
        for u in directions:
            plus = oracle_loss(dict(weights, **{name: value + EPS * u}))
            minus = oracle_loss(dict(weights, **{name: value - EPS * u}))
            fd = (plus - minus) / (2 * EPS)
            analytic = float(np.sum(g * u))
            tol = 1e-6 * (abs(fd) + np.linalg.norm(g) * np.linalg.norm(u))
            assert abs(analytic - fd) <= tol + 1e-9, (name, analytic, fd)
