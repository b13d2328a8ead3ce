"""The shared machinery of the parametrized cells.

This is the only module that knows how Keras' `RNN` layer drives a cell.

The recurrent matrix of our cells depends only on the weights, so it must be
computed once per forward pass, not once per step (an expm per step costs
10–100× the whole training step). Keras 3's `RNN.call` has no public
per-sequence hook, but before it enters the step loop it calls, once per
forward pass and for every cell that inherits Keras' `DropoutRNNCell` mixin
(also inside `StackedRNNCells`), `cell.get_dropout_mask(first_step_input)`,
and after the loop `cell.reset_dropout_mask()` (`keras/src/layers/rnn/
rnn.py`, `RNN._maybe_config_dropout_masks` / `_maybe_reset_dropout_masks`).
This happens whether or not the user passes `initial_state`, unlike
`get_initial_state`. We override those two methods to build the matrix in
the hook and drop it after the loop; the step reads the cached tensor, which
the loop captures as a loop invariant, so autodiff accumulates `dL/dW` over
time and back-propagates through the parametrization once.

When the cell is called on its own (a hand-written loop), no cache exists
and each call computes the matrix itself: correct, only slower.
`tests/test_keras_hook.py` fails loudly if Keras stops calling the hook.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tf_nnrnn._keras_private import (
    CheckpointExclusion,
    DropoutRNNCell,
    keras_training_flag,
)
from tf_nnrnn.activations import modrelu
from tf_nnrnn.cells.matrix_cache import MatrixCache, cached_matrix
from tf_nnrnn.validation import (
    check_bool,
    check_float_dtype,
    check_matrix_fits,
    check_rate,
    check_step_shapes,
    check_units,
)

__all__ = [
    "RecurrentMatrixCell",
    "DropoutRNNCell",
    "check_units",
    "check_rate",
]


@tf.custom_gradient
def _modrelu_tf(z, bias):
    """`modrelu(z, bias)`, `bias` of `z`'s shape, gradient read from `h`.

    `σ'(z) = 1[h ≠ 0]` and `∂σ/∂b = sign(h)`, so autodiff through a step
    loop keeps one tensor per step (`h`) instead of four (`z`, `sign(z)`,
    `|z| + b`, its relu): 4× less training memory and fewer ops. The bias
    comes broadcast to the batch (inside `keras.layers.RNN` once per
    forward pass), so a step's bias gradient needs no reduction: 4 ops per
    step backward; the broadcast's own gradient sums once.
    """
    h = modrelu(z, bias)

    def grad(upstream):
        sign = tf.sign(h)  # |sign(h)| = 1[h ≠ 0]
        return upstream * tf.abs(sign), upstream * sign

    return h, grad


class RecurrentMatrixCell(
    CheckpointExclusion, keras.layers.Layer, DropoutRNNCell
):
    """Base of the cells `h_t = σ(x_t @ kernel [+ bias] + h_{t-1} @ W)`.

    Subclasses create their parametrization's weights in
    `build_recurrent()` (with `add_parametrization_weight`), list their
    attribute names in `parametrization_names`, and implement
    `matrix_from(*params)`, the parametrization as a function of those
    weights' values. `recurrent_matrix()` returns the `(units, units)`
    matrix `W` (row convention) in the variables' dtype (float32 under
    mixed precision: the parametrization never runs in half precision).

    A forward pass that trains (`training=True`) computes `W` once; any
    other forward pass reads it from a `MatrixCache` while the weights are
    unchanged (`tf_nnrnn/cells/matrix_cache.py`), so inference does not
    repeat the O(n³) parametrization on every call.

    Args:
        units: positive integer, the state size.
        activation: `"modrelu"` (default; adds the weight `modrelu_bias`),
            or any Keras activation.
        use_bias: whether to add a bias before the activation (default
            False: modReLU's bias plays that role).
        kernel_initializer: initializer of the input kernel (default
            Glorot normal, the nnRNN reference's `xavier_normal_`).
        bias_initializer: initializer of `bias`.
        modrelu_bias_initializer: initializer of `modrelu_bias`.
        kernel_regularizer, bias_regularizer: optional regularizers.
        kernel_constraint, bias_constraint: optional constraints.
        dropout: input dropout rate in [0, 1).
        recurrent_dropout: recurrent-state dropout rate in [0, 1).
        seed: seed of the dropout masks.
        cache_recurrent_matrix: keep `W` across forward passes that do not
            train (default True). False computes it on every call: for
            converters that reject the cache's variable writes (TFLite).
    """

    def __init__(
        self,
        units: int,
        activation="modrelu",
        use_bias: bool = False,
        kernel_initializer="glorot_normal",
        bias_initializer="zeros",
        modrelu_bias_initializer="default",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        cache_recurrent_matrix: bool = True,
        even_units: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # The parametrization (expm, solve) has no half-precision or
        # integer kernels; mixed policies keep it in float32.
        check_float_dtype(
            type(self).__name__, self.dtype_policy, ("float32", "float64")
        )
        self.units = check_units(units, even=even_units)
        if activation == "modrelu":
            self.activation = "modrelu"
        else:
            self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        if modrelu_bias_initializer == "default":
            modrelu_bias_initializer = keras.initializers.RandomUniform(
                -0.01, 0.01
            )
        self.modrelu_bias_initializer = keras.initializers.get(
            modrelu_bias_initializer
        )
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate(
            "recurrent_dropout", recurrent_dropout
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = self.units
        self.output_size = self.units
        self.cache_recurrent_matrix = check_bool(
            "cache_recurrent_matrix", cache_recurrent_matrix
        )
        self._recurrent_matrix_cache = None
        self._step_tensors = None
        self._matrix_cache = None

    #: TensorFlow checkpoints leave the matrix cache out: a restored cache
    #: would pair a stored `W` with its stored weights, and a cell whose
    #: constants differ (scoRNN's `D`, nnRNN's mask) or newer
    #: parametrization code would read a stale `W`; old checkpoints (no
    #: cache) would fail `assert_consumed`. SavedModel exports keep it, as
    #: their functions read it.
    _checkpoint_excluded = ("_matrix_cache",)

    #: Attribute names of the parametrization's weights, in the order of
    #: `matrix_from`'s arguments (set by every subclass).
    parametrization_names: tuple = ()

    # --- the once-per-forward-pass hook -------------------------------
    def get_dropout_mask(self, step_input):
        """Keras' per-sequence hook: also builds the recurrent matrix.

        `keras.layers.RNN` calls this once before its step loop; the step
        itself calls `DropoutRNNCell.get_dropout_mask` directly.
        """
        self._recurrent_matrix_cache = self.forward_matrix(
            keras_training_flag()
        )
        # Loop invariants read once per pass, not once per step: the input
        # kernel and (TensorFlow, modReLU) the bias broadcast to the batch.
        dtype = self.compute_dtype
        kernel = keras.ops.cast(self.kernel, dtype)
        bias = None
        if self.activation == "modrelu" and keras.backend.backend() == (
            "tensorflow"
        ):
            bias = tf.broadcast_to(
                keras.ops.cast(self.modrelu_bias, dtype),
                tf.stack([tf.shape(step_input)[0], self.units]),
            )
        self._step_tensors = (kernel, bias)
        return DropoutRNNCell.get_dropout_mask(self, step_input)

    def step_tensors(self):
        """`(kernel, modrelu_bias)` of the forward pass in progress, as the
        hook read them (the kernel in the compute dtype, the bias broadcast
        to the batch); `(kernel, None)` outside `keras.layers.RNN`."""
        return self._step_tensors or (self.kernel, None)

    def reset_dropout_mask(self):
        """Called by `keras.layers.RNN` after its loop: drop the cache."""
        self._recurrent_matrix_cache = None
        self._step_tensors = None
        DropoutRNNCell.reset_dropout_mask(self)

    def forward_matrix(self, training=None):
        """`W` for one forward pass, in the compute dtype.

        Computed afresh when `training` is True; otherwise read from the
        cell's `MatrixCache` while the weights are unchanged (the gradient
        is exact either way).
        """
        # One name scope for the parametrization's ops (and their
        # gradient's): profiles tell them apart (benchmarks/profile_step.py).
        with tf.name_scope("recurrent_matrix"):
            if training is True or self._matrix_cache is None:
                w = self.recurrent_matrix()
            else:
                w = cached_matrix(
                    self._matrix_cache,
                    self.parametrization_weights(),
                    lambda params: self.matrix_from(*params),
                )
            return keras.ops.cast(w, self.compute_dtype)

    def step_matrix(self):
        """`W` in the compute dtype: the one of the pass inside `RNN`, else
        computed (a cell stepped by hand)."""
        if self._recurrent_matrix_cache is not None:
            return self._recurrent_matrix_cache
        return self.forward_matrix(training=True)

    # --- Keras cell contract ------------------------------------------
    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"{type(self).__name__} expects step inputs of rank 2 "
                "(batch, features), i.e. sequences of rank 3 (batch, time, "
                f"features); got a step input shape {tuple(input_shape)}."
            )
        input_dim = input_shape[-1]
        # At least the parametrization's weight and W itself are n × n.
        check_matrix_fits(
            "units",
            self.units,
            self.units,
            self.units,
            np.dtype(self.dtype_policy.variable_dtype).itemsize,
            count=2,
            what="recurrent matrix",
        )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.units,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        else:
            self.bias = None
        if self.activation == "modrelu":
            self.modrelu_bias = self.add_weight(
                name="modrelu_bias",
                shape=(self.units,),
                initializer=self.modrelu_bias_initializer,
            )
        self.build_recurrent()
        if self.cache_recurrent_matrix and keras.backend.backend() == (
            "tensorflow"
        ):
            params = self.parametrization_weights()
            self._matrix_cache = MatrixCache(
                params, (self.units, self.units), params[0].dtype
            )

    def build_recurrent(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def parametrization_weights(self) -> list:
        """The variables `W` depends on, in `matrix_from`'s order."""
        return [getattr(self, name) for name in self.parametrization_names]

    def matrix_from(self, *params):  # pragma: no cover - abstract
        """`W` as a function of the parametrization weights' values."""
        raise NotImplementedError

    def recurrent_matrix(self):
        """The `(units, units)` matrix `W` of `h_{t-1} @ W`."""
        params = [
            tf.convert_to_tensor(v) for v in self.parametrization_weights()
        ]
        return self.matrix_from(*params)

    def add_parametrization_weight(self, name, shape, initializer, **kwargs):
        """A weight read in full precision (no autocast under mixed
        precision), for the O(n³) parametrization."""
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=initializer,
            autocast=False,
            **kwargs,
        )

    def activate(self, z, modrelu_bias=None):
        """The activation of `z`; `modrelu_bias`: the bias already
        broadcast to `z`'s shape (the RNN hook's), else broadcast here."""
        if self.activation == "modrelu":
            if modrelu_bias is not None:
                return _modrelu_tf(z, modrelu_bias)
            bias = keras.ops.cast(self.modrelu_bias, z.dtype)
            if keras.backend.backend() == "tensorflow":
                return _modrelu_tf(z, tf.broadcast_to(bias, tf.shape(z)))
            return modrelu(z, bias)
        return self.activation(z)

    def call(self, inputs, states, training=False):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        # Named shapes instead of `Matrix size-incompatible` in the loop.
        check_step_shapes(
            type(self).__name__,
            self.kernel.shape[0],
            inputs.shape,
            [(prev.shape, self.units)],
        )
        dp_mask = DropoutRNNCell.get_dropout_mask(self, inputs)
        rec_dp_mask = DropoutRNNCell.get_recurrent_dropout_mask(self, prev)
        if training and dp_mask is not None:
            inputs = inputs * dp_mask
        if training and rec_dp_mask is not None:
            prev = prev * rec_dp_mask
        kernel, step_bias = self.step_tensors()
        z = keras.ops.matmul(inputs, kernel)
        if self.bias is not None:
            z = z + self.bias
        z = z + keras.ops.matmul(prev, self.step_matrix())
        h = self.activate(z, step_bias)
        new_state = [h] if isinstance(states, (list, tuple)) else h
        return h, new_state

    def get_config(self):
        activation = (
            "modrelu"
            if self.activation == "modrelu"
            else keras.activations.serialize(self.activation)
        )
        config = {
            "units": self.units,
            "activation": activation,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(
                self.kernel_initializer
            ),
            "bias_initializer": keras.initializers.serialize(
                self.bias_initializer
            ),
            "modrelu_bias_initializer": keras.initializers.serialize(
                self.modrelu_bias_initializer
            ),
            "kernel_regularizer": keras.regularizers.serialize(
                self.kernel_regularizer
            ),
            "bias_regularizer": keras.regularizers.serialize(
                self.bias_regularizer
            ),
            "kernel_constraint": keras.constraints.serialize(
                self.kernel_constraint
            ),
            "bias_constraint": keras.constraints.serialize(
                self.bias_constraint
            ),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "cache_recurrent_matrix": self.cache_recurrent_matrix,
        }
        return {**super().get_config(), **config}
