"""Fused sequence layers: the parametrized cells with the loop hoisted.

`keras.layers.RNN(cell)` calls the cell once per step, so every step
multiplies its input by the input kernel and autodiff records every op of
the step. The layers here compute, once per forward pass, the input
projection of every step in one matmul (`Z_x = X @ kernel [+ bias]`) and
the recurrent matrix `W` (one expm / solve), and leave only
`h_t = σ(Z_x[t] + h_{t-1} @ W)` inside the loop. With modReLU (the
default) and no recurrent dropout, the backward pass through the loop is
written by hand (back-propagation through time as a custom gradient): one
`dz_t @ Wᵀ` per step, then `dL/dW = Σ_t h_{t-1}ᵀ dz_t` and `dL/dkernel` as
single large matmuls after the loop. modReLU's derivative is read from the
stored outputs (`σ'(z) = 1[h ≠ 0]`, `∂σ/∂b = sign(h)`), so nothing else is
kept per step. Other activations, and recurrent dropout while training, use
the same hoisted loop with TensorFlow's automatic differentiation.

Each layer holds a cell (`layer.cell`, e.g. an `NNRNNCell`) that owns the
weights and the parametrization, as `keras.layers.SimpleRNN` wraps a
`SimpleRNNCell`: the weights have the same names and paths as under
`keras.layers.RNN(cell)`, `tf_nnrnn.optimizers.ORTHOGONAL_PATTERN` routes
the same variables, and the outputs equal `keras.layers.RNN(cell)`'s.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tf_nnrnn.cells.exprnn import ExpRNNCell
from tf_nnrnn.cells.nnrnn import NNRNNCell
from tf_nnrnn.cells.scornn import ScoRNNCell

__all__ = ["FusedRNN", "NNRNN", "ExpRNN", "ScoRNN"]

# Arguments that belong to the layer itself; the rest configure the cell.
_LAYER_KWARGS = ("name", "dtype", "trainable", "autocast", "input_shape")
_LAYER_KWARGS += ("input_dim", "batch_input_shape", "batch_size")
_LAYER_KWARGS += ("activity_regularizer",)
_BASE_CONFIG = ("name", "trainable", "dtype", "activity_regularizer")
#: Steps unrolled inside one iteration of the time loop.
UNROLL = 8


def _chunk(x, k):
    """`(T, ...)` → `(ceil(T/k), k, ...)`, zero-padded at the end in time."""
    pad = -tf.shape(x)[0] % k
    paddings = tf.concat(
        [[[0, pad]], tf.zeros((tf.rank(x) - 1, 2), tf.int32)], 0
    )
    x = tf.pad(x, paddings)
    return tf.reshape(x, tf.concat([[-1, k], tf.shape(x)[1:]], 0))


def _unchunk(x, steps):
    """Inverse of `_chunk`: `(C, k, ...)` → `(steps, ...)`."""
    return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))[:steps]


def _loop(xz, w, h0, activate, mask=None, rec_mask=None, unroll=None):
    """`H[t] = σ(xz[t] + h_{t-1} @ W)` over time-major `xz` `(T, B, n)`.

    Masked steps (`mask[t]` False, shape `(T, B, 1)`) carry the state over.
    `rec_mask` `(B, n)` is recurrent dropout applied to `h_{t-1}`. The
    loop runs over chunks of `unroll` steps, unrolled inside the body, to
    pay the loop's per-iteration overhead once per chunk (the time axis is
    padded to a multiple of `unroll`; padded steps come after the last
    real one and are dropped).
    """
    unroll = unroll or UNROLL
    steps = tf.shape(xz)[0]
    chunks = _chunk(xz, unroll)
    num = tf.shape(chunks)[0]
    inputs = tf.TensorArray(xz.dtype, size=num).unstack(chunks)
    masks = None
    if mask is not None:
        masks = tf.TensorArray(tf.bool, size=num).unstack(_chunk(mask, unroll))
    outputs = tf.TensorArray(xz.dtype, size=num)

    def body(c, h, outputs):
        xs = tf.unstack(inputs.read(c), num=unroll)
        ms = None if masks is None else tf.unstack(masks.read(c), num=unroll)
        hs = []
        for k in range(unroll):
            prev = h if rec_mask is None else h * rec_mask
            new = activate(xs[k] + tf.matmul(prev, w))
            h = new if ms is None else tf.where(ms[k], new, h)
            hs.append(h)
        return c + 1, h, outputs.write(c, tf.stack(hs))

    _, _, outputs = tf.while_loop(
        lambda c, *_: c < num, body, (tf.constant(0), h0, outputs)
    )
    return _unchunk(outputs.stack(), steps)


def _modrelu(bias):
    def activate(z):
        return tf.sign(z) * tf.nn.relu(tf.abs(z) + bias)

    return activate


def _modrelu_bptt(xz, w, h0, bias, mask=None, unroll=None):
    """`_loop` with modReLU and a hand-written backward pass.

    Backward, with `D_t = 1[H_t ≠ 0]` (modReLU's derivative, also 0 on
    masked steps) and the carried gradient `c`:
    `dz_t = (dH_t + c) D_t`, `c ← dz_t Wᵀ (+ (dH_t + c)(1 − m_t))`; then
    `dW = Σ_t h_{t-1}ᵀ dz_t`, `db = Σ_t dz_t sign(H_t)`, `dxz = dz`,
    `dh_0 = c`.
    """

    unroll = unroll or UNROLL

    @tf.custom_gradient
    def run(xz, w, h0, bias):
        hs = _loop(xz, w, h0, _modrelu(bias), mask, unroll=unroll)

        def grad(dhs):
            steps = tf.shape(hs)[0]
            active = tf.not_equal(hs, 0)
            if mask is not None:
                active = tf.logical_and(active, mask)
            # Padded steps get zero upstream and gate: their dz is zero.
            parts = [dhs, tf.cast(active, hs.dtype)]
            if mask is not None:
                parts.append(1.0 - tf.cast(mask, hs.dtype))
            parts = [_chunk(p, unroll) for p in parts]
            num = tf.shape(parts[0])[0]
            tas = [tf.TensorArray(hs.dtype, size=num).unstack(p) for p in parts]
            dzs = tf.TensorArray(hs.dtype, size=num)

            def body(c, carry, dzs):
                read = [tf.unstack(ta.read(c), num=unroll) for ta in tas]
                out = [None] * unroll
                for k in reversed(range(unroll)):
                    dh = read[0][k] + carry
                    dz = dh * read[1][k]
                    carry = tf.matmul(dz, w, transpose_b=True)
                    if mask is not None:
                        carry = carry + dh * read[2][k]
                    out[k] = dz
                return c - 1, carry, dzs.write(c, tf.stack(out))

            _, dh0, dzs = tf.while_loop(
                lambda c, *_: c >= 0,
                body,
                (num - 1, tf.zeros_like(h0), dzs),
            )
            dz = _unchunk(dzs.stack(), steps)
            n = tf.shape(w)[0]
            prev = tf.concat([h0[None], hs[:-1]], axis=0)
            dw = tf.matmul(
                tf.reshape(prev, (-1, n)),
                tf.reshape(dz, (-1, n)),
                transpose_a=True,
            )
            dbias = tf.reduce_sum(dz * tf.sign(hs), axis=(0, 1))
            return dz, dw, dh0, dbias

        return hs, grad

    return run(xz, w, h0, bias)


class FusedRNN(keras.layers.Layer):
    """Base of the fused layers: a cell's weights, the loop hoisted.

    `h_t = σ(x_t @ kernel [+ bias] + h_{t-1} @ W)` (row convention) over a
    sequence, with `X @ kernel` computed for all steps at once and
    `W = cell.recurrent_matrix()` once per call. Subclasses set
    `cell_class`.

    Args:
        units: positive integer, the state size.
        return_sequences: return every step's output `(batch, time, units)`
            instead of the last one.
        return_state: also return the last state.
        go_backwards: process the sequence in reverse (the sequence output
            is then in processing order, as in Keras).
        zero_output_for_mask: output zeros on masked steps instead of the
            previous output.
        **kwargs: the cell's arguments (initializers, regularizers,
            `dropout`, `recurrent_dropout`, ...) and Keras layer arguments
            (`name`, `dtype`, `trainable`).

    Call arguments:
        sequences: `(batch, time, features)`.
        initial_state: optional `(batch, units)` tensor (or a list of one).
        mask: optional boolean `(batch, time)`; masked steps keep the state.
        training: whether dropout is active.
    """

    cell_class: type = None

    def __init__(
        self,
        units: int,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs,
    ):
        layer_kwargs = {k: kwargs.pop(k) for k in _LAYER_KWARGS if k in kwargs}
        super().__init__(**layer_kwargs)
        self.cell = self.cell_class(
            units,
            dtype=layer_kwargs.get("dtype"),
            trainable=layer_kwargs.get("trainable", True),
            **kwargs,
        )
        self.units = self.cell.units
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.state_size = self.units

    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank 3 (batch, "
                f"time, features), got shape {tuple(sequences_shape)}."
            )
        if not self.cell.built:
            self.cell.build((sequences_shape[0], sequences_shape[-1]))
            self.cell.built = True

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        if self.return_sequences:
            output = (batch, steps, self.units)
        else:
            output = (batch, self.units)
        if self.return_state:
            return output, (batch, self.units)
        return output

    def compute_mask(self, _, mask):
        mask = mask[0] if isinstance(mask, (list, tuple)) else mask
        output_mask = mask if self.return_sequences else None
        return [output_mask, None] if self.return_state else output_mask

    def _dropout_masks(self, sequences, state, training):
        """Input and recurrent masks, drawn as `keras.layers.RNN` does."""
        cell = self.cell
        in_mask = rec_mask = None
        if training and cell.dropout > 0:
            in_mask = keras.random.dropout(
                keras.ops.ones_like(sequences[:, 0]),
                rate=cell.dropout,
                seed=cell.seed_generator,
            )
        if training and cell.recurrent_dropout > 0:
            rec_mask = keras.random.dropout(
                keras.ops.ones_like(state),
                rate=cell.recurrent_dropout,
                seed=cell.seed_generator,
            )
        return in_mask, rec_mask

    def call(self, sequences, initial_state=None, mask=None, training=False):
        cell = self.cell
        dtype = self.compute_dtype
        sequences = tf.cast(sequences, dtype)
        if isinstance(initial_state, (list, tuple)):
            initial_state = initial_state[0]
        if initial_state is None:
            h0 = tf.zeros((tf.shape(sequences)[0], self.units), dtype)
        else:
            h0 = tf.cast(initial_state, dtype)
        in_mask, rec_mask = self._dropout_masks(sequences, h0, training)
        if in_mask is not None:
            sequences = sequences * in_mask[:, None, :]
        xz = tf.einsum("btf,fn->tbn", sequences, tf.cast(cell.kernel, dtype))
        if cell.bias is not None:
            xz = xz + tf.cast(cell.bias, dtype)
        if mask is not None:
            mask = tf.transpose(tf.cast(mask, tf.bool))[:, :, None]
        if self.go_backwards:
            xz = tf.reverse(xz, [0])
            mask = None if mask is None else tf.reverse(mask, [0])
        w = tf.cast(cell.recurrent_matrix(), dtype)
        if cell.activation == "modrelu":
            bias = tf.cast(cell.modrelu_bias, dtype)
            if rec_mask is None:
                hs = _modrelu_bptt(xz, w, h0, bias, mask)
            else:
                hs = _loop(xz, w, h0, _modrelu(bias), mask, rec_mask)
        else:
            hs = _loop(xz, w, h0, cell.activation, mask, rec_mask)
        state = hs[-1]
        outputs = hs
        if mask is not None:
            # Keras outputs the previous *output* on a masked step (zeros
            # before the first unmasked one), or zeros if asked to.
            if self.zero_output_for_mask:
                seen = mask
            else:
                seen = tf.cast(tf.cumsum(tf.cast(mask, dtype), axis=0), bool)
            outputs = tf.where(seen, hs, tf.zeros_like(hs))
        if self.return_sequences:
            output = tf.transpose(outputs, (1, 0, 2))
        else:
            output = outputs[-1]
        if self.return_state:
            return output, state
        return output

    def get_config(self):
        config = {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        cell_config = {
            k: v
            for k, v in self.cell.get_config().items()
            if k not in _BASE_CONFIG
        }
        return {**super().get_config(), **config, **cell_config}


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class NNRNN(FusedRNN):
    """Fused non-normal RNN layer: `keras.layers.RNN(NNRNNCell(...))`, faster.

    `h_t = modReLU(x_t @ kernel + h_{t-1} @ W)`, `W = (P (Λ + T) Pᵀ)ᵀ`
    computed once per call (see `NNRNNCell`); the input projection of every
    step is one matmul before the loop.

    Args:
        units: even positive integer.
        **kwargs: `return_sequences`, `return_state`, `go_backwards`,
            `zero_output_for_mask` (see `FusedRNN`), every argument of
            `NNRNNCell`, and Keras layer arguments.

    Example:
        >>> import keras, tf_nnrnn
        >>> layer = tf_nnrnn.layers.NNRNN(8, return_sequences=True)
        >>> layer(keras.ops.ones((2, 5, 3))).shape
        TensorShape([2, 5, 8])
    """

    cell_class = NNRNNCell


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class ExpRNN(FusedRNN):
    """Fused expRNN layer: `keras.layers.RNN(ExpRNNCell(...))`, faster.

    `h_t = modReLU(x_t @ kernel + h_{t-1} @ W)`, `W = expm(skew(X))`
    computed once per call (see `ExpRNNCell`).

    Args:
        units: positive integer.
        **kwargs: `return_sequences`, `return_state`, `go_backwards`,
            `zero_output_for_mask` (see `FusedRNN`), every argument of
            `ExpRNNCell`, and Keras layer arguments.

    Example:
        >>> import keras, tf_nnrnn
        >>> tf_nnrnn.layers.ExpRNN(8)(keras.ops.ones((2, 5, 3))).shape
        TensorShape([2, 8])
    """

    cell_class = ExpRNNCell


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class ScoRNN(FusedRNN):
    """Fused scoRNN layer: `keras.layers.RNN(ScoRNNCell(...))`, faster.

    `h_t = modReLU(x_t @ kernel + h_{t-1} @ W)`, `W = (I + A)⁻¹ (I − A) D`
    computed once per call (see `ScoRNNCell`).

    Args:
        units: positive integer.
        num_negative_ones: ρ, the number of −1 entries of `D`.
        **kwargs: `return_sequences`, `return_state`, `go_backwards`,
            `zero_output_for_mask` (see `FusedRNN`), every argument of
            `ScoRNNCell`, and Keras layer arguments.

    Example:
        >>> import keras, tf_nnrnn
        >>> tf_nnrnn.layers.ScoRNN(8, 2)(keras.ops.ones((2, 5, 3))).shape
        TensorShape([2, 8])
    """

    cell_class = ScoRNNCell

    def __init__(
        self, units: int, num_negative_ones: int | None = None, **kwargs
    ):
        super().__init__(units, num_negative_ones=num_negative_ones, **kwargs)
