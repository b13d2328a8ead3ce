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
PARALLEL = 2


def _unroll_for(steps) -> int:
    """Steps per loop iteration: `UNROLL`, or a near value dividing `steps`.

    A divisor of a static `steps` avoids padding the time axis.
    """
    if isinstance(steps, int):
        for k in (UNROLL, 10, 9, 7, 6, 5, 4):
            if k <= UNROLL + 2 and steps % k == 0:
                return k
    return UNROLL


def _chunk(x, k):
    """`(T, ...)` → `(ceil(T/k), k, ...)`, zero-padded at the end in time.

    A reshape (no copy) when `T` is statically a multiple of `k`.
    """
    steps = x.shape[0]
    if steps is None or steps % k:
        pad = -tf.shape(x)[0] % k
        paddings = tf.concat(
            [[[0, pad]], tf.zeros((tf.rank(x) - 1, 2), tf.int32)], 0
        )
        x = tf.pad(x, paddings)
    return tf.reshape(x, tf.concat([[-1, k], tf.shape(x)[1:]], 0))


def _unchunk(x, steps):
    """Inverse of `_chunk`: `(C, k, ...)` → `(steps, ...)`."""
    flat = tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))
    if isinstance(steps, int) and x.shape[0] is not None:
        if x.shape[0] * x.shape[1] == steps:
            return flat
    return flat[:steps]


def _chunked_mask(mask, steps, k):
    """Chunked step mask, padded steps masked out; None if not needed.

    `mask`: boolean `(T, B, 1)` or None. Padded steps count as masked, so
    the state (and, backwards, the gradient) passes through them.
    """
    padded = not isinstance(steps, int) or steps % k
    if mask is None and not padded:
        return None
    if mask is None:
        mask = tf.ones((steps, 1, 1), tf.bool)
    return _chunk(mask, k)  # zero padding is False


def _modrelu(bias):
    def activate(z):
        return tf.sign(z) * tf.nn.relu(tf.abs(z) + bias)

    return activate


def _loop(xz, w, h0, activate, mask=None, rec_mask=None):
    """`H[t] = σ(xz[t] + h_{t-1} @ W)`, time-major `xz` `(T, B, n)`.

    The path of automatic differentiation (any activation, recurrent
    dropout): TensorArrays hold the inputs, so that the gradient of the
    inputs is kept per step. Masked steps (`mask[t]` False, `(T, B, 1)`)
    carry the state over; `rec_mask` `(B, n)` is recurrent dropout applied
    to `h_{t-1}`. The loop runs over chunks of a few steps, unrolled in
    its body, to pay the per-iteration overhead once per chunk.
    """
    steps = xz.shape[0] if xz.shape[0] is not None else tf.shape(xz)[0]
    k = _unroll_for(steps)
    chunks = _chunk(xz, k)
    num = tf.shape(chunks)[0]
    inputs = tf.TensorArray(xz.dtype, size=num).unstack(chunks)
    mchunks = _chunked_mask(mask, steps, k)
    if mchunks is not None:
        masks = tf.TensorArray(tf.bool, size=num).unstack(mchunks)

    def body(c, h, outputs):
        xs = tf.unstack(inputs.read(c), num=k)
        ms = None if mchunks is None else tf.unstack(masks.read(c), num=k)
        hs = []
        for i in range(k):
            prev = h if rec_mask is None else h * rec_mask
            new = activate(xs[i] + tf.matmul(prev, w))
            h = new if ms is None else tf.where(ms[i], new, h)
            hs.append(h)
        return c + 1, h, outputs.write(c, tf.stack(hs))

    outputs = tf.TensorArray(xz.dtype, size=num)
    _, _, outputs = tf.while_loop(
        lambda c, *_: c < num, body, (tf.constant(0), h0, outputs)
    )
    return _unchunk(outputs.stack(), steps)


def _modrelu_rnn(x, kernel, in_bias, w, h0, bias, mask, sequences):
    """The whole modReLU recurrence as one op with a hand-written gradient.

    Forward, over time-major `x` `(T, B, F)`, chunk by chunk:
    `Z_x = X_c @ kernel + in_bias` for the chunk's steps in one matmul,
    then `h_t = modReLU(Z_x[t] + h_{t-1} @ W)`. Returns `(H, h_T)` if
    `sequences` else `(h_T,)`; only `H` is kept for the backward pass.

    Backward (back-propagation through time), chunk by chunk in reverse,
    with `D_t = 1[h_t ≠ 0]` (modReLU's derivative; 0 on masked steps) and
    the carried gradient `c` (initially `dL/dh_T`):
    `dz_t = (dH_t + c) D_t`, `c ← dz_t Wᵀ (+ (dH_t + c)(1 − m_t))`, and per
    chunk `dW += H_{prev}ᵀ dz`, `dkernel += X_cᵀ dz`, `dX_c = dz kernelᵀ`,
    `db += Σ dz sign(H)`. Nothing of size `(T, B, units)` is made besides
    `H` (and `dH` when the sequence is an output).
    """
    steps = x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]
    k = _unroll_for(steps)
    mchunks = _chunked_mask(mask, steps, k)

    def project(xc, kernel, in_bias):
        flat = tf.reshape(xc, (-1, tf.shape(xc)[-1]))
        z = tf.matmul(flat, kernel) + in_bias
        return tf.reshape(z, tf.concat([tf.shape(xc)[:2], [-1]], 0))

    @tf.custom_gradient
    def run(x, kernel, in_bias, w, h0, bias):
        xchunks = _chunk(x, k)
        num = tf.shape(xchunks)[0]
        activate = _modrelu(bias)

        def body(c, h, outputs, firsts):
            firsts = firsts.write(c, h)  # h_{t-1} of the chunk's first step
            zs = tf.unstack(project(xchunks[c], kernel, in_bias), num=k)
            ms = None if mchunks is None else tf.unstack(mchunks[c], num=k)
            hs = []
            for i in range(k):
                new = activate(zs[i] + tf.matmul(h, w))
                h = new if ms is None else tf.where(ms[i], new, h)
                hs.append(h)
            return c + 1, h, outputs.write(c, tf.stack(hs)), firsts

        init = (tf.constant(0), h0)
        init += tuple(tf.TensorArray(x.dtype, size=num) for _ in range(2))
        _, last, outputs, firsts = tf.while_loop(
            lambda c, *_: c < num, body, init, parallel_iterations=PARALLEL
        )
        firsts = firsts.stack()
        # Kept for the gradient: the stacked H when it is an output anyway
        # (the TensorArray is then freed), else the TensorArray itself, so
        # that H is never held twice.
        if sequences:
            hstack = outputs.stack()  # (C, k, B, n)

            def hchunk(c):
                return hstack[c]

        else:
            hchunk = outputs.read

        def grad(*upstream):
            dlast = upstream[-1]
            gchunks = _chunk(upstream[0], k) if sequences else None
            n = tf.shape(w)[0]

            def body(c, carry, dw, dk, dib, db, dxs):
                hc = hchunk(c)
                gate = tf.not_equal(hc, 0)
                if mchunks is not None:
                    mc = mchunks[c]
                    gate = tf.logical_and(gate, mc)
                    keeps = tf.unstack(1 - tf.cast(mc, hc.dtype), num=k)
                gates = tf.unstack(tf.cast(gate, hc.dtype), num=k)
                ups = None if gchunks is None else tf.unstack(gchunks[c], k)
                out = [None] * k
                for i in reversed(range(k)):
                    dh = carry if ups is None else ups[i] + carry
                    out[i] = dh * gates[i]
                    carry = tf.matmul(out[i], w, transpose_b=True)
                    if mchunks is not None:
                        carry = carry + dh * keeps[i]
                dz = tf.reshape(tf.stack(out), (-1, n))
                prev = tf.concat([firsts[c][None], hc[:-1]], axis=0)
                xc = xchunks[c]
                xflat = tf.reshape(xc, (-1, tf.shape(xc)[-1]))
                dw += tf.matmul(tf.reshape(prev, (-1, n)), dz, transpose_a=True)
                dk += tf.matmul(xflat, dz, transpose_a=True)
                dib += tf.reduce_sum(dz, axis=0)
                db += tf.reduce_sum(dz * tf.reshape(tf.sign(hc), (-1, n)), 0)
                dx = tf.matmul(dz, kernel, transpose_b=True)
                return (
                    c - 1,
                    carry,
                    dw,
                    dk,
                    dib,
                    db,
                    dxs.write(c, tf.reshape(dx, tf.shape(xc))),
                )

            init = (
                num - 1,
                dlast,
                tf.zeros_like(w),
                tf.zeros_like(kernel),
                tf.zeros_like(in_bias),
                tf.zeros_like(bias),
                tf.TensorArray(x.dtype, size=num),
            )
            # Two chunks in flight: the next chunk's recurrence overlaps this
            # one's weight-gradient matmuls, without holding the
            # temporaries of ten chunks at once (the default).
            _, dh0, dw, dk, dib, db, dxs = tf.while_loop(
                lambda c, *_: c >= 0, body, init, parallel_iterations=PARALLEL
            )
            dx = _unchunk(dxs.stack(), steps)
            return dx, dk, dib, dw, dh0, db

        if sequences:
            return (_unchunk(hstack, steps), last), grad
        return (last,), grad

    return run(x, kernel, in_bias, w, h0, bias)


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
        if mask is not None:
            mask = tf.transpose(tf.cast(mask, tf.bool))[:, :, None]
        x = tf.transpose(sequences, (1, 0, 2))  # time-major
        if self.go_backwards:
            x = tf.reverse(x, [0])
            mask = None if mask is None else tf.reverse(mask, [0])
        kernel = tf.cast(cell.kernel, dtype)
        w = tf.cast(cell.recurrent_matrix(), dtype)
        sequences_out = self.return_sequences
        if cell.activation == "modrelu" and rec_mask is None:
            in_bias = tf.zeros((self.units,), dtype)
            if cell.bias is not None:
                in_bias = tf.cast(cell.bias, dtype)
            bias = tf.cast(cell.modrelu_bias, dtype)
            result = _modrelu_rnn(
                x, kernel, in_bias, w, h0, bias, mask, sequences_out
            )
            hs, state = result if sequences_out else (None, result[0])
        else:
            xz = tf.einsum("tbf,fn->tbn", x, kernel)
            if cell.bias is not None:
                xz = xz + tf.cast(cell.bias, dtype)
            if cell.activation == "modrelu":
                activate = _modrelu(tf.cast(cell.modrelu_bias, dtype))
            else:
                activate = cell.activation
            hs = _loop(xz, w, h0, activate, mask, rec_mask)
            state = hs[-1]
        if mask is not None:
            # Keras outputs the previous *output* on a masked step (zeros
            # before the first unmasked one), or zeros if asked to.
            if self.zero_output_for_mask:
                seen = mask
            else:
                seen = tf.cast(tf.cumsum(tf.cast(mask, dtype), axis=0), bool)
            if hs is not None:
                hs = tf.where(seen, hs, tf.zeros_like(hs))
            last_output = tf.where(seen[-1], state, tf.zeros_like(state))
        else:
            last_output = state
        if self.return_sequences:
            output = tf.transpose(hs, (1, 0, 2))
        else:
            output = last_output
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
