"""The papers' RNN-orth baseline: a Keras simple RNN cell with modReLU."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from tf_nnrnn.activations import modrelu
from tf_nnrnn.validation import (
    check_float_dtype,
    check_matrix_fits,
    check_step_shapes,
    check_units,
)

__all__ = ["ModReLURNNCell"]


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class ModReLURNNCell(keras.layers.SimpleRNNCell):
    """Simple RNN cell with modReLU: `h_t = modReLU(x_t U + b + h_{t-1} W)`.

    `modReLU(z) = sign(z) · relu(|z| + c)` with a trainable per-unit `c`
    (`modrelu_bias`, U(-0.01, 0.01) as in the reference code). The default
    recurrent initializer is orthogonal: the papers' RNN-orth baseline.
    `W` is not constrained during training.

    Args:
        units: positive integer.
        recurrent_initializer: default `"orthogonal"`.
        kernel_initializer: default `"glorot_normal"`.
        modrelu_bias_initializer: default U(-0.01, 0.01).
        **kwargs: the other `keras.layers.SimpleRNNCell` arguments except
            `activation`.

    Call arguments:
        sequence: `(batch, features)`; states: `[(batch, units)]`.

    Example:
        >>> layer = keras.layers.RNN(ModReLURNNCell(4))
        >>> tuple(layer(keras.ops.ones((2, 3, 5))).shape)
        (2, 4)
    """

    def __init__(
        self,
        units: int,
        recurrent_initializer="orthogonal",
        kernel_initializer="glorot_normal",
        modrelu_bias_initializer="default",
        **kwargs: Any,
    ):
        kwargs.pop("activation", None)
        # A plain int: Keras' `state_size` check refuses NumPy integers.
        units = check_units(units)
        super().__init__(
            units,
            activation=None,
            recurrent_initializer=recurrent_initializer,
            kernel_initializer=kernel_initializer,
            **kwargs,
        )
        if modrelu_bias_initializer == "default":
            modrelu_bias_initializer = keras.initializers.RandomUniform(
                -0.01, 0.01
            )
        self.modrelu_bias_initializer = keras.initializers.get(
            modrelu_bias_initializer
        )
        allowed = ("float16", "bfloat16", "float32", "float64")
        orthogonal = keras.initializers.Orthogonal
        if isinstance(self.recurrent_initializer, orthogonal):
            allowed = ("float16", "float32", "float64")  # QR has no bfloat16
        check_float_dtype("ModReLURNNCell", self.dtype_policy, allowed)

    def build(self, input_shape):
        check_matrix_fits(
            "units",
            self.units,
            self.units,
            self.units,
            np.dtype(self.dtype_policy.variable_dtype).itemsize,
            what="recurrent kernel",
        )
        super().build(input_shape)
        self.modrelu_bias = self.add_weight(
            name="modrelu_bias",
            shape=(self.units,),
            initializer=self.modrelu_bias_initializer,
        )

    def call(self, sequence, states, training=False):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        check_step_shapes(
            "ModReLURNNCell",
            self.kernel.shape[0],
            sequence.shape,
            [(prev.shape, self.units)],
        )
        z, _ = super().call(sequence, states, training=training)
        h = modrelu(z, self.modrelu_bias)
        return h, ([h] if isinstance(states, (list, tuple)) else h)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("activation", None)
        config["modrelu_bias_initializer"] = keras.initializers.serialize(
            self.modrelu_bias_initializer
        )
        return config
