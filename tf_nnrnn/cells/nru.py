"""The Non-saturating Recurrent Unit (NRU) of Chandar et al. (AAAI 2019)."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tf_nnrnn._keras_private import DropoutRNNCell
from tf_nnrnn.cells.nru_memory import _factorised_update, _generic_update
from tf_nnrnn.validation import (
    check_bool,
    check_float,
    check_float_dtype,
    check_int,
    check_matrix_fits,
    check_rate,
    check_step_shapes,
)

__all__ = ["NRUCell"]


def _get_initializer(identifier: Any) -> keras.initializers.Initializer:
    """`keras.initializers.get`, with None meaning PyTorch's Linear init."""
    if identifier is None:
        # U(-1/sqrt(fan_in), 1/sqrt(fan_in)): the authors' (PyTorch) default.
        return keras.initializers.VarianceScaling(
            scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
        )
    return keras.initializers.get(identifier)


def _nearest_memory_sizes(memory_size: int, num_heads: int) -> list[int]:
    """Memory sizes next to `memory_size` with `num_heads * M` a square."""
    # k * M = s^2 exactly when M = c * j^2, c the square-free part of k.
    c = num_heads
    for p in range(2, math.isqrt(num_heads) + 1):
        while c % (p * p) == 0:
            c //= p * p
    j = math.isqrt(memory_size // c)
    return sorted({c * max(j, 1) ** 2, c * (j + 1) ** 2})


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class NRUCell(keras.layers.Layer, DropoutRNNCell):
    """Cell of the Non-saturating Recurrent Unit (Chandar et al., AAAI 2019).

    A ReLU hidden state `h` reads from a memory vector `m` that is written
    and erased additively, with linear (non-saturating) strengths. With
    `z_t = [h_t; m_{t-1}]`, `k = num_heads`, `M = memory_size` and
    `s = sqrt(k M)` (as in the authors' code, row-vector convention):

        h_t = ReLU(LN?([x_t; h_{t-1}; m_{t-1}] W_h + b))
        [α; β; a_w; b_w; a_e; b_e] = z_t W_m + b_m   (α, β ∈ R^k; a, b ∈ R^s)
        V_w = rownorm_5(reshape(a_w b_wᵀ, (k, M)))   (same for V_e)
        m_t = m_{t-1} + (1/k) Σ_i (α_i V_w,i − β_i V_e,i)

    where `rownorm_5(V)_i = V_i / max(||V_i||_5, epsilon)` and `LN?` is an
    optional layer normalisation. The output is `h_t`; the state is
    `[h_t, m_t]` (`state_size = [units, memory_size]`). No gate squashes
    `m`, so a constant write strength makes `||m_t||` grow linearly in t.
    Where `k` divides `s` and without `memory_relu` (TensorFlow backend),
    the update is computed as `(1/k) Σ_d (Σ_i c_i a_i) bᵀ` (one rank-1 term
    per direction, no `(k, M)` tensors) with a hand-written gradient:
    the same values up to rounding, a few times faster.

    Args:
        units: Positive int, size of the hidden state `h` (and the output).
        memory_size: Positive int `M`, size of the memory vector. Default 64.
        num_heads: Positive int `k`, number of write and erase heads;
            `num_heads * memory_size` must be a perfect square. Default 4.
        use_layer_norm: Whether to layer-normalise the hidden pre-activation
            (learned scale and offset) before the ReLU. Default False.
        memory_relu: Apply a ReLU to the strengths α, β and to the outer
            products before the normalisation (the authors' `use_relu`
            flag; off in their experiments). Default False.
        kernel_initializer: Initializer of `kernel` (`W_h`, of shape
            `(input_dim + units + memory_size, units)`, acting on
            `[x; h; m]`). Default None: PyTorch's `nn.Linear` default
            `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, which the authors' code
            uses, i.e. `VarianceScaling(1/3, "fan_in", "uniform")`.
            (Glorot is about twice as large here and lets `m` explode.)
        memory_initializer: Initializer of `memory_kernel` (`W_m`, of shape
            `(units + memory_size, 2k + 4s)`, from `z` to the strengths and
            direction factors). Default None: same as `kernel_initializer`.
        bias_initializer: Initializer of `bias` and `memory_bias`.
            Default "zeros".
        kernel_regularizer, memory_regularizer, bias_regularizer: Optional
            regularizers of the same weights.
        kernel_constraint, memory_constraint, bias_constraint: Optional
            constraints of the same weights.
        epsilon: Positive float, floor of the L5 norm in the direction
            normalisation (the authors use 1e-12). Default 1e-12.
        layer_norm_epsilon: Positive float added to the variance in the layer
            normalisation (PyTorch's default). Default 1e-5.
        dropout: Float in [0, 1), rate of the input dropout (one mask per
            sequence). Default 0.
        recurrent_dropout: Float in [0, 1), dropout rate of `h_{t-1}` where
            it enters `W_h` (one mask per sequence; the carried state and
            the memory are not dropped). Default 0.
        seed: Optional int, seed of the dropout masks.
        **kwargs: Base `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        inputs: `(batch, input_dim)` tensor, one time step.
        states: list `[h, m]` of `(batch, units)` and `(batch, memory_size)`.
        training: Whether dropout is applied.

    Returns:
        `(h_t, [h_t, m_t])`.

    Example:

    >>> import numpy as np, keras
    >>> from tf_nnrnn.cells.nru import NRUCell
    >>> cell = NRUCell(16, memory_size=16, num_heads=4)
    >>> layer = keras.layers.RNN(cell, return_state=True)
    >>> h, h_last, m_last = layer(np.ones((2, 5, 3), "float32"))
    >>> tuple(h.shape), tuple(m_last.shape)
    ((2, 16), (2, 16))
    """

    def __init__(
        self,
        units: int,
        memory_size: int = 64,
        num_heads: int = 4,
        use_layer_norm: bool = False,
        memory_relu: bool = False,
        kernel_initializer: Any = None,
        memory_initializer: Any = None,
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        memory_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        memory_constraint: Any = None,
        bias_constraint: Any = None,
        epsilon: float = 1e-12,
        layer_norm_epsilon: float = 1e-5,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_float_dtype(
            "NRUCell",
            self.dtype_policy,
            ("float16", "bfloat16", "float32", "float64"),
        )
        self.units = check_int("units", units, 1, error=ValueError)
        self.memory_size = check_int(
            "memory_size", memory_size, 1, error=ValueError
        )
        self.num_heads = check_int("num_heads", num_heads, 1, error=ValueError)
        side = math.isqrt(num_heads * memory_size)
        if side * side != num_heads * memory_size:
            near = " or ".join(
                str(m) for m in _nearest_memory_sizes(memory_size, num_heads)
            )
            raise ValueError(
                "Received an invalid combination of arguments `memory_size`"
                f"={memory_size} and `num_heads`={num_heads}: the write and "
                "erase directions are outer products of two vectors of "
                "length sqrt(num_heads * memory_size), so num_heads * "
                "memory_size must be a perfect square (e.g. memory_size=256, "
                f"num_heads=4), got {num_heads} * {memory_size} = "
                f"{num_heads * memory_size}. With num_heads={num_heads} the "
                f"nearest accepted memory_size is {near}."
            )
        self.direction_size = side
        self.use_layer_norm = check_bool("use_layer_norm", use_layer_norm)
        self.memory_relu = check_bool("memory_relu", memory_relu)
        self._factorised = (
            keras.backend.backend() == "tensorflow"
            and not memory_relu
            and side % num_heads == 0
        )
        self.epsilon = check_float("epsilon", epsilon, 0.0, error=ValueError)
        self.layer_norm_epsilon = check_float(
            "layer_norm_epsilon", layer_norm_epsilon, 0.0, error=ValueError
        )
        self.kernel_initializer = _get_initializer(kernel_initializer)
        self.memory_initializer = _get_initializer(memory_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.memory_regularizer = keras.regularizers.get(memory_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.memory_constraint = keras.constraints.get(memory_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = check_rate("dropout", dropout)
        self.recurrent_dropout = check_rate(
            "recurrent_dropout", recurrent_dropout
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = [self.units, self.memory_size]
        self.output_size = self.units

    def build(self, input_shape: Any) -> None:
        if len(input_shape) != 2 or input_shape[-1] is None:
            raise ValueError(
                "NRUCell expects one time step of shape (batch, input_dim) "
                f"with a known input_dim, got input shape {input_shape}."
            )
        k, s = self.num_heads, self.direction_size
        z_dim = self.units + self.memory_size
        check_matrix_fits(
            "units",
            self.units,
            input_shape[-1] + z_dim,
            self.units,
            np.dtype(self.dtype_policy.variable_dtype).itemsize,
            what="kernel",
        )
        # Rows: [x (input_dim) | h (units) | m (memory_size)].
        self.kernel = self.add_weight(
            shape=(input_shape[-1] + z_dim, self.units),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
            name="kernel",
        )
        self.bias = self.add_weight(
            shape=(self.units,),
            initializer=self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
            name="bias",
        )
        # Columns: [alpha (k) | beta (k) | a_w (s) | b_w (s) | a_e | b_e].
        self.memory_kernel = self.add_weight(
            shape=(z_dim, 2 * k + 4 * s),
            initializer=self.memory_initializer,
            regularizer=self.memory_regularizer,
            constraint=self.memory_constraint,
            name="memory_kernel",
        )
        self.memory_bias = self.add_weight(
            shape=(2 * k + 4 * s,),
            initializer=self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
            name="memory_bias",
        )
        if self.use_layer_norm:
            self.layer_norm_gamma = self.add_weight(
                shape=(self.units,), initializer="ones", name="layer_norm_gamma"
            )
            self.layer_norm_beta = self.add_weight(
                shape=(self.units,), initializer="zeros", name="layer_norm_beta"
            )

    def call(self, inputs: Any, states: Any, training: bool = False):
        h_prev, m_prev = states[0], states[1]
        check_step_shapes(
            "NRUCell",
            self.kernel.shape[0] - self.units - self.memory_size,
            inputs.shape,
            [(h_prev.shape, self.units), (m_prev.shape, self.memory_size)],
        )
        # Variational dropout: one mask per sequence (Keras' mixin caches it).
        dp_mask = self.get_dropout_mask(inputs)
        rec_dp_mask = self.get_recurrent_dropout_mask(h_prev)
        h_in = h_prev
        if training and dp_mask is not None:
            inputs = inputs * dp_mask
        if training and rec_dp_mask is not None:
            h_in = h_prev * rec_dp_mask
        xhm = ops.concatenate([inputs, h_in, m_prev], axis=-1)
        pre = ops.matmul(xhm, self.kernel) + self.bias
        if self.use_layer_norm:
            mean = ops.mean(pre, axis=-1, keepdims=True)
            var = ops.var(pre, axis=-1, keepdims=True)
            pre = (pre - mean) * ops.rsqrt(var + self.layer_norm_epsilon)
            pre = pre * self.layer_norm_gamma + self.layer_norm_beta
        h = ops.relu(pre)

        z = ops.concatenate([h, m_prev], axis=-1)
        proj = ops.matmul(z, self.memory_kernel) + self.memory_bias
        k, size = self.num_heads, self.memory_size
        if self._factorised:  # 16-bit floats: 1/||V_i|| can overflow them
            work = "float64" if proj.dtype == tf.float64 else "float32"
            r = self.direction_size // k
            delta = _factorised_update(ops.cast(proj, work), k, r, self.epsilon)
            delta = ops.cast(delta, proj.dtype)
        else:
            delta = _generic_update(
                proj, k, size, self.epsilon, self.memory_relu
            )
        return h, [h, m_prev + delta]

    def get_initial_state(self, batch_size: Any = None) -> list:
        return [
            ops.zeros((batch_size, self.units), dtype=self.compute_dtype),
            ops.zeros((batch_size, self.memory_size), dtype=self.compute_dtype),
        ]

    def get_config(self) -> dict:
        ser_init = keras.initializers.serialize
        ser_reg = keras.regularizers.serialize
        ser_con = keras.constraints.serialize
        config = {
            "units": self.units,
            "memory_size": self.memory_size,
            "num_heads": self.num_heads,
            "use_layer_norm": self.use_layer_norm,
            "memory_relu": self.memory_relu,
            "kernel_initializer": ser_init(self.kernel_initializer),
            "memory_initializer": ser_init(self.memory_initializer),
            "bias_initializer": ser_init(self.bias_initializer),
            "kernel_regularizer": ser_reg(self.kernel_regularizer),
            "memory_regularizer": ser_reg(self.memory_regularizer),
            "bias_regularizer": ser_reg(self.bias_regularizer),
            "kernel_constraint": ser_con(self.kernel_constraint),
            "memory_constraint": ser_con(self.memory_constraint),
            "bias_constraint": ser_con(self.bias_constraint),
            "epsilon": self.epsilon,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
