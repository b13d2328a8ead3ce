"""Fused sequence layers: the parametrized cells with the loop hoisted.

`keras.layers.RNN(cell)` calls the cell once per step: every step multiplies
its input by the input kernel, and autodiff records (and keeps the
intermediates of) every op of the step. The layers here compute the
recurrent matrix `W` once per forward pass (one expm / solve) and the input
projection `X @ kernel [+ bias]` of a whole chunk of steps in one matmul,
leaving `h_t = modReLU(z_t + h_{t-1} @ W)` inside the loop, which is
unrolled a few steps per iteration.

With modReLU (the cells' default) and no recurrent dropout, the whole
recurrence is one op with a hand-written backward pass (back-propagation
through time): per step `dz_t = (dh_t + c) σ'` and `c = dz_t Wᵀ`; per chunk
`dW += H_prevᵀ dZ`, `dkernel += Xᵀ dZ` as chunk-sized matmuls. modReLU's
derivative is read from the stored outputs (`σ'(z) = 1[h ≠ 0]`,
`∂σ/∂b = sign(h)`), so only `H` is kept from the forward pass. Other
activations, and recurrent dropout while training, run the same hoisted
loop under TensorFlow's automatic differentiation.

Each layer holds a cell (`layer.cell`, e.g. an `NNRNNCell`) that owns the
weights and the parametrization, as `keras.layers.SimpleRNN` wraps a
`SimpleRNNCell`: the weights have the same names as under
`keras.layers.RNN(cell)`, `tf_nnrnn.optimizers.ORTHOGONAL_PATTERN` routes
the same variables, and outputs and gradients equal
`keras.layers.RNN(cell)`'s (`tests/test_layers.py`). Speed and memory:
`benchmarks/README.md`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tf_nnrnn.cells.exprnn import ExpRNNCell
from tf_nnrnn.cells.nnrnn import NNRNNCell
from tf_nnrnn.cells.scornn import ScoRNNCell
from tf_nnrnn.fused_loop import (
    _loop,
    _modrelu,
    _modrelu_rnn,
)

__all__ = ["FusedRNN", "NNRNN", "ExpRNN", "ScoRNN"]

# Arguments that belong to the layer itself; the rest configure the cell.
_LAYER_KWARGS = ("name", "dtype", "trainable", "autocast", "input_shape")
_LAYER_KWARGS += ("input_dim", "batch_input_shape", "batch_size")
_LAYER_KWARGS += ("activity_regularizer",)
_BASE_CONFIG = ("name", "trainable", "dtype", "activity_regularizer")


class FusedRNN(keras.layers.Layer):
    """Base of the fused layers: a cell's weights, the loop hoisted.

    `h_t = σ(x_t @ kernel [+ bias] + h_{t-1} @ W)` (row convention) over a
    sequence, with `X @ kernel` computed for all steps at once and
    `W = cell.forward_matrix(training)` once per call (computed when
    training, else read from the cell's cache while the weights are
    unchanged). Subclasses set
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
        self.stateful = False  # keras.layers.Bidirectional reads it
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
        w = tf.cast(cell.forward_matrix(training), dtype)
        sequences_out = self.return_sequences
        if cell.activation == "modrelu" and rec_mask is None:
            in_bias = tf.zeros((self.units,), dtype)
            if cell.bias is not None:
                in_bias = tf.cast(cell.bias, dtype)
            bias = tf.cast(cell.modrelu_bias, dtype)
            result = _modrelu_rnn(
                x, kernel, in_bias, w, h0, bias, mask, sequences_out
            )
            # Batch-major H (B, T, n).
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
            hs = tf.transpose(hs, (1, 0, 2)) if sequences_out else None
        if mask is not None:
            # Keras outputs the previous *output* on a masked step (zeros
            # before the first unmasked one), or zeros if asked to.
            if self.zero_output_for_mask:
                seen = mask
            else:
                seen = tf.cast(tf.cumsum(tf.cast(mask, dtype), axis=0), bool)
            if hs is not None:
                seen_b = tf.transpose(seen, (1, 0, 2))  # (B, T, 1)
                hs = tf.where(seen_b, hs, tf.zeros_like(hs))
            last_output = tf.where(seen[-1], state, tf.zeros_like(state))
        else:
            last_output = state
        output = hs if self.return_sequences else last_output
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
