"""modReLU, the magnitude nonlinearity of unitary and orthogonal RNNs."""

from __future__ import annotations

import keras

__all__ = ["modrelu", "ModReLU"]


def modrelu(z, bias):
    """Real modReLU: `σ(z) = sign(z) · relu(|z| + b)`.

    It changes the magnitude of each unit and never its sign (Arjovsky et
    al. 2016, real form).

    Args:
        z: pre-activations `(..., units)`.
        bias: per-unit bias `(units,)`, broadcast over `z`.

    Returns:
        Tensor shaped like `z`.

    Example:
        >>> z = keras.ops.array([-2.0, 0.5])
        >>> y = modrelu(z, keras.ops.array([-1.0, -1.0]))
        >>> keras.ops.convert_to_numpy(y).tolist()
        [-1.0, 0.0]
    """
    return keras.ops.sign(z) * keras.ops.relu(keras.ops.abs(z) + bias)


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class ModReLU(keras.layers.Layer):
    """modReLU as a layer with its trainable bias `b` (`units` entries).

    `y = sign(x) · relu(|x| + b)`; `b` initialised U(-0.01, 0.01) as in the
    reference code.

    Args:
        bias_initializer: initializer for `b`.
        bias_regularizer: optional regularizer for `b`.
        bias_constraint: optional constraint for `b`.

    Call arguments:
        inputs: `(..., units)`.

    Example:
        >>> y = ModReLU()(keras.ops.ones((2, 3)))
        >>> tuple(y.shape)
        (2, 3)
    """

    def __init__(
        self,
        bias_initializer="default",
        bias_regularizer=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if bias_initializer == "default":
            bias_initializer = keras.initializers.RandomUniform(-0.01, 0.01)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    def build(self, input_shape):
        self.bias = self.add_weight(
            name="bias",
            shape=(input_shape[-1],),
            initializer=self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def call(self, inputs):
        return modrelu(inputs, self.bias)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "bias_initializer": keras.initializers.serialize(
                self.bias_initializer
            ),
            "bias_regularizer": keras.regularizers.serialize(
                self.bias_regularizer
            ),
            "bias_constraint": keras.constraints.serialize(
                self.bias_constraint
            ),
        }
