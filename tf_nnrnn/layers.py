"""Fused sequence layers: the parametrized cells with the loop hoisted.

`keras.layers.RNN(cell)` calls the cell once per step: every step multiplies
its input by the input kernel, and autodiff records (and keeps the
intermediates of) every op of the step. The layers here are
`keras.layers.RNN` subclasses over the same cells, as `keras.layers.LSTM`
is over `LSTMCell`: `RNN.call` handles `initial_state`, stateful state
variables, casting and `return_state`, and calls the cells' per-pass hook,
which computes the recurrent matrix `W` once (one expm / solve) and draws
the dropout masks. Only the time loop (`inner_loop`) is replaced: the input
projection `X @ kernel [+ bias]` of a whole chunk of steps is one matmul,
leaving `h_t = modReLU(z_t + h_{t-1} @ W)` inside the loop, which is
unrolled a few steps per iteration.

With modReLU (the cells' default) and no recurrent dropout, the whole
recurrence is one op with a hand-written backward pass (back-propagation
through time): per step `dz_t = (dh_t + c) σ'` and `c = dz_t Wᵀ`; per chunk
`dW += H_prevᵀ dZ`, `dkernel += Xᵀ dZ` as chunk-sized matmuls. modReLU's
derivative is read from the stored outputs (`σ'(z) = 1[h ≠ 0]`,
`∂σ/∂b = sign(h)`), so only `H` is kept from the forward pass. Other
activations, and recurrent dropout while training, run the same hoisted
loop under TensorFlow's automatic differentiation. `unroll=True` and
backends other than TensorFlow use `keras.layers.RNN`'s own loop.

The cell (`layer.cell`, e.g. an `NNRNNCell`) owns the weights and the
parametrization: the weights have the same names as under
`keras.layers.RNN(cell)`, `make_optimizer`'s default routing sends
the same variables, and outputs, gradients and dropout draws equal
`keras.layers.RNN(cell)`'s (`tests/test_layers.py`). Speed and memory:
`benchmarks/README.md`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tf_nnrnn._keras_private import DropoutRNNCell
from tf_nnrnn.cells.exprnn import ExpRNNCell
from tf_nnrnn.cells.nnrnn import NNRNNCell
from tf_nnrnn.cells.scornn import ScoRNNCell
from tf_nnrnn.fused_loop import _loop, _modrelu_rnn
from tf_nnrnn.validation import check_step_shapes

__all__ = ["FusedRNN", "NNRNN", "ExpRNN", "ScoRNN"]

# Arguments that belong to the layer itself; the rest configure the cell.
_LAYER_KWARGS = ("name", "dtype", "trainable", "autocast", "input_shape")
_LAYER_KWARGS += ("input_dim", "batch_input_shape", "batch_size")
_LAYER_KWARGS += ("activity_regularizer",)
_BASE_CONFIG = ("name", "trainable", "dtype", "activity_regularizer")


class FusedRNN(keras.layers.RNN):
    """Base of the fused layers: `keras.layers.RNN` with the loop hoisted.

    `h_t = σ(x_t @ kernel [+ bias] + h_{t-1} @ W)` (row convention) over a
    sequence, with `X @ kernel` computed for a chunk of steps at once and
    `W` the one the cell's per-pass hook prepared (computed when training,
    else read from the cell's cache while the weights are unchanged).
    Subclasses set `cell_class`; the layer builds `cell_class(units,
    **cell_kwargs)` and behaves as `keras.layers.RNN` of that cell.

    Args:
        units: positive integer, the state size.
        return_sequences: return every step's output `(batch, time, units)`
            instead of the last one.
        return_state: also return the last state.
        go_backwards: process the sequence in reverse (the sequence output
            is then in processing order, as in Keras).
        stateful: keep the last state of each sample as the initial state
            of the same sample in the next batch (a fixed batch size).
        unroll: unroll the time loop in the graph (`keras.layers.RNN`'s own
            loop; for short sequences).
        zero_output_for_mask: output zeros on masked steps instead of the
            previous output.
        **kwargs: the cell's arguments (initializers, regularizers,
            `dropout`, `recurrent_dropout`, `seed`, ...) and Keras layer
            arguments (`name`, `dtype`, `trainable`,
            `activity_regularizer`).

    Call arguments:
        sequences: `(batch, time, features)`.
        initial_state: optional `(batch, units)` tensor (or a list of one).
        mask: optional boolean `(batch, time)`; masked steps keep the state.
        training: whether dropout is active.

    Example:
        >>> import keras, numpy as np, tf_nnrnn
        >>> layer = tf_nnrnn.layers.ExpRNN(4, stateful=True)
        >>> x = np.ones((2, 3, 1), "float32")
        >>> first = layer(x)
        >>> second = layer(x)  # starts from the state `first` ended in
        >>> bool(np.allclose(first, second))
        False
        >>> layer.reset_states()
        >>> bool(np.allclose(layer(x), first))
        True
    """

    cell_class: type = None

    def __init__(
        self,
        units: int,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs,
    ):
        layer_kwargs = {k: kwargs.pop(k) for k in _LAYER_KWARGS if k in kwargs}
        cell = self.cell_class(
            units,
            dtype=layer_kwargs.get("dtype"),
            trainable=layer_kwargs.get("trainable", True),
            **kwargs,
        )
        super().__init__(
            cell,
            return_sequences=bool(return_sequences),
            return_state=bool(return_state),
            go_backwards=bool(go_backwards),
            stateful=bool(stateful),
            unroll=bool(unroll),
            zero_output_for_mask=bool(zero_output_for_mask),
            **layer_kwargs,
        )

    @property
    def units(self) -> int:
        return self.cell.units

    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank 3 (batch, "
                f"time, features), got shape {tuple(sequences_shape)}."
            )
        super().build(sequences_shape, initial_state_shape)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        """`keras.layers.RNN.call`, after checking the shapes it is given.

        Where `keras.layers.RNN(cell)` fails on a mask that does not match
        the sequences, a sequence of no steps, features other than those
        it was built for or an initial state of the wrong size, the fused
        layer fails too, up front, with a message naming the argument and
        the shapes (never returning the output of some of the steps).
        """
        check_call_shapes(self, sequences, initial_state, mask)
        return super().call(
            sequences, initial_state=initial_state, mask=mask, training=training
        )

    def _fused(self) -> bool:
        """Whether `inner_loop` runs the hoisted loop (else Keras')."""
        return keras.backend.backend() == "tensorflow" and not self.unroll

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """The time loop: `(last_output, outputs, new_states)`.

        As `keras.backend.rnn` returns them: `outputs` `(batch, time,
        units)` in processing order when `return_sequences`, else the last
        output `(batch, 1, units)`; on a masked step the state is carried
        over and the output is the previous output (zeros before the first
        unmasked step), or zeros with `zero_output_for_mask`.
        """
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if not self._fused():
            return super().inner_loop(
                sequences, initial_state, mask=mask, training=training
            )
        cell = self.cell
        dtype = cell.compute_dtype
        sequences = tf.cast(sequences, dtype)
        sequences, mask = _assert_runtime_shapes(sequences, mask)
        if isinstance(initial_state, (list, tuple)):
            h0 = initial_state[0]
        else:
            h0 = initial_state
        h0 = tf.cast(h0, dtype)
        # The masks RNN.call drew for this pass (in the cell's hook), as
        # the cell's own step reads them; applied only while training.
        in_mask = rec_mask = None
        if training:
            in_mask = DropoutRNNCell.get_dropout_mask(cell, sequences[:, 0])
            rec_mask = cell.get_recurrent_dropout_mask(h0)
        if in_mask is not None:
            sequences = sequences * tf.cast(in_mask, dtype)[:, None, :]
        if rec_mask is not None:
            rec_mask = tf.cast(rec_mask, dtype)
        if mask is not None:
            mask = tf.cast(mask, tf.bool)
            if mask.shape.rank == 3:
                mask = mask[:, :, 0]
            mask = tf.transpose(mask)[:, :, None]  # (T, B, 1)
        x = tf.transpose(sequences, (1, 0, 2))  # time-major
        if self.go_backwards:
            x = tf.reverse(x, [0])
            mask = None if mask is None else tf.reverse(mask, [0])
        # This pass's W, kernel and broadcast modReLU bias, from the hook.
        w = tf.cast(cell.step_matrix(), dtype)
        kernel, step_bias = cell.step_tensors()
        kernel = tf.cast(kernel, dtype)
        sequences_out = self.return_sequences
        if cell.activation == "modrelu" and rec_mask is None:
            in_bias = tf.zeros((cell.units,), dtype)
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

                def activate(z):
                    return cell.activate(z, step_bias)

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
        outputs = hs if sequences_out else last_output[:, None]
        return last_output, outputs, [state]

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        cell_config = {
            k: v
            for k, v in self.cell.get_config().items()
            if k not in _BASE_CONFIG
        }
        return {**config, **cell_config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # The cell is rebuilt from its arguments (no "cell" entry); a
        # config without `stateful`/`unroll` (older files) takes the
        # defaults. keras.layers.Layer's from_config handles dtype policies.
        return super(keras.layers.RNN, cls).from_config(config)


def _shape(shape) -> str:
    return str(tuple(shape))


def check_call_shapes(layer, sequences, initial_state, mask):
    """The static checks of `FusedRNN.call`: features, initial state, mask.

    Raises ValueError naming `sequences`, `initial_state` or `mask` with
    the expected and received shapes, and, for a sequence of no steps,
    the `InvalidArgumentError` that `keras.layers.RNN(cell)` raises there
    (it reads the first step before its loop). Dimensions unknown while
    tracing are checked when the loop runs (`_assert_runtime_shapes`).
    """
    cell = layer.cell
    shape = tuple(sequences.shape)
    batch, steps = shape[0], shape[1]
    if steps == 0:
        raise tf.errors.InvalidArgumentError(
            None,
            None,
            f"Received `sequences` of shape {_shape(shape)}: "
            f"{type(layer).__name__}, as keras.layers.RNN, needs at least "
            "one time step.",
        )
    states = initial_state
    if states is not None and not isinstance(states, (list, tuple)):
        states = [states]
    if states is not None and len(states) != 1:
        raise ValueError(
            "Received an invalid value for argument `initial_state`, "
            f"expected one state of shape ({batch}, {cell.units}), got "
            f"{len(states)} states."
        )
    check_step_shapes(
        type(layer).__name__,
        cell.kernel.shape[0],
        shape,
        [] if states is None else [(states[0].shape, cell.units)],
        inputs="sequences",
        state="initial_state",
    )
    if mask is None:
        return
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    if not hasattr(mask, "shape"):
        mask = keras.ops.convert_to_tensor(mask)
    got = tuple(mask.shape)
    bad = len(got) not in (2, 3) or (len(got) == 3 and got[2] not in (1, None))
    if not bad and None not in (got[1], steps):
        bad = got[1] != steps
    # A mask of batch 1 is broadcast to the batch, as keras.layers.RNN does.
    if not bad and None not in (got[0], batch):
        bad = got[0] not in (batch, 1)
    if bad:
        raise ValueError(
            "Received an invalid value for argument `mask`, expected a "
            f"boolean mask of shape ({batch}, {steps}) (batch, time) for "
            f"sequences of shape {_shape(shape)}, got shape {_shape(got)}."
        )


def _assert_runtime_shapes(sequences, mask):
    """`check_call_shapes` for dimensions unknown when traced: a graph
    assertion that the sequence has steps and the mask its shape."""
    checks = []
    steps = tf.shape(sequences)[1]
    if sequences.shape[1] is None:
        checks.append(
            tf.debugging.assert_positive(
                steps,
                message="`sequences` has no time step; keras.layers.RNN "
                "needs at least one",
            )
        )
    if mask is not None:
        if mask.shape[1] is None or sequences.shape[1] is None:
            checks.append(
                tf.debugging.assert_equal(
                    tf.shape(mask)[1],
                    steps,
                    message="`mask` must have as many steps as `sequences`",
                )
            )
        if mask.shape[0] is None or sequences.shape[0] is None:
            batch = tf.shape(sequences)[0]
            mask_batch = tf.shape(mask)[0]
            checks.append(
                tf.debugging.Assert(
                    tf.logical_or(
                        tf.equal(mask_batch, batch), tf.equal(mask_batch, 1)
                    ),
                    ["`mask` must have the batch size of `sequences` (or "
                     "1); got mask batch", mask_batch, "for batch", batch],
                )
            )  # fmt: skip
    if not checks:
        return sequences, mask
    with tf.control_dependencies(checks):
        sequences = tf.identity(sequences)
    return sequences, mask


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class NNRNN(FusedRNN):
    """Fused non-normal RNN layer: `keras.layers.RNN(NNRNNCell(...))`, faster.

    `h_t = modReLU(x_t @ kernel + h_{t-1} @ W)`, `W = (P (Λ + T) Pᵀ)ᵀ`
    computed once per call (see `NNRNNCell`); the input projection of a
    chunk of steps is one matmul inside the hoisted loop.

    Args:
        units: even positive integer.
        **kwargs: `return_sequences`, `return_state`, `go_backwards`,
            `stateful`, `unroll`, `zero_output_for_mask` (see `FusedRNN`),
            every argument of `NNRNNCell`, and Keras layer arguments.

    Example:
        >>> import keras, tf_nnrnn
        >>> layer = tf_nnrnn.layers.NNRNN(8, return_sequences=True)
        >>> layer(keras.ops.ones((2, 5, 3))).shape
        TensorShape([2, 5, 8])
        >>> isinstance(layer, keras.layers.RNN), type(layer.cell).__name__
        (True, 'NNRNNCell')
    """

    cell_class = NNRNNCell


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class ExpRNN(FusedRNN):
    """Fused expRNN layer: `keras.layers.RNN(ExpRNNCell(...))`, faster.

    `h_t = modReLU(x_t @ kernel + h_{t-1} @ W)`, `W` the orthogonal
    matrix of `expm(skew(X))` (`cell.recurrent_matrix()`, see
    `ExpRNNCell`) computed once per call.

    Args:
        units: positive integer.
        **kwargs: `return_sequences`, `return_state`, `go_backwards`,
            `stateful`, `unroll`, `zero_output_for_mask` (see `FusedRNN`),
            every argument of `ExpRNNCell`, and Keras layer arguments.

    Example:
        >>> import keras, tf_nnrnn
        >>> tf_nnrnn.layers.ExpRNN(8)(keras.ops.ones((2, 5, 3))).shape
        TensorShape([2, 8])
    """

    cell_class = ExpRNNCell


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class ScoRNN(FusedRNN):
    """Fused scoRNN layer: `keras.layers.RNN(ScoRNNCell(...))`, faster.

    `h_t = modReLU(x_t @ kernel + h_{t-1} @ W)`, `W` the orthogonal
    matrix of the scaled Cayley transform `(I + A)⁻¹ (I − A) D`
    (`cell.recurrent_matrix()`, see `ScoRNNCell`) computed once per call.

    Args:
        units: positive integer.
        num_negative_ones: ρ, the number of −1 entries of `D`.
        **kwargs: `return_sequences`, `return_state`, `go_backwards`,
            `stateful`, `unroll`, `zero_output_for_mask` (see `FusedRNN`),
            every argument of `ScoRNNCell`, and Keras layer arguments.

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
