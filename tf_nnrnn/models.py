"""Models for a (task, cell, settings) triple: where cells and tasks meet.

Cells: `nnrnn`, `exprnn`, `scornn` (this package), `nru` (this package),
and the papers' baselines built from Keras' own cells:

- `lstm`: `keras.layers.LSTMCell`, Glorot-normal kernels (the reference
  code's `xavier_normal_`);
- `rnn`: `keras.layers.SimpleRNNCell`, tanh, Glorot-normal kernels;
- `rnn_orth`: `ModReLURNNCell`, a `SimpleRNNCell` with a random orthogonal
  recurrent kernel and modReLU, as the nnRNN reference code's RNN-orth (an
  unconstrained RNN initialised orthogonal, `h_t = modReLU(x_t U + b +
  h_{t-1} W)`).

Heads: the copy task reads 9 logits at every step, the adding problem one
number and psMNIST 10 logits from the last step; PTB embeds characters,
runs a stateful RNN over `bptt`-long segments and reads logits per step.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from tf_nnrnn.activations import modrelu

__all__ = [
    "CELL_NAMES",
    "ModReLURNNCell",
    "build_cell",
    "build_model",
    "free_parameters",
]

CELL_NAMES = ("nnrnn", "exprnn", "scornn", "nru", "lstm", "rnn", "rnn_orth")


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

    def build(self, input_shape):
        super().build(input_shape)
        self.modrelu_bias = self.add_weight(
            name="modrelu_bias",
            shape=(self.units,),
            initializer=self.modrelu_bias_initializer,
        )

    def call(self, sequence, states, training=False):
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


def _maybe(kwargs: dict, **optional: Any) -> dict:
    """`kwargs` plus the `optional` entries that are not None."""
    return {**kwargs, **{k: v for k, v in optional.items() if v is not None}}


def build_cell(cell: str, settings: Any):
    """The recurrent cell `cell` configured from `settings`.

    Args:
        cell: one of `CELL_NAMES`.
        settings: a `tf_nnrnn.training.Settings` (reads `units`,
            `skew_init`, `kernel_init`, `delta`, `gamma_penalty`,
            `t_decay`, `triangular_mask`, `num_negative_ones`,
            `memory_size`, `num_heads`).

    Example:
        >>> from tf_nnrnn.training import Settings
        >>> build_cell("rnn_orth", Settings(units=4)).units
        4
    """
    import tf_nnrnn
    from tf_nnrnn.regularizers import GammaRegularizer

    units = settings.units
    if cell == "nnrnn":
        kwargs = _maybe(
            {"triangular_mask": settings.triangular_mask},
            skew_initializer=settings.skew_init,
            kernel_initializer=settings.kernel_init,
        )
        if settings.delta:
            kwargs["gamma_regularizer"] = GammaRegularizer(
                settings.delta, settings.gamma_penalty
            )
        if settings.t_decay:
            # PyTorch weight_decay=wd adds wd·T to the gradient: (wd/2)‖T‖².
            kwargs["triangular_regularizer"] = keras.regularizers.L2(
                settings.t_decay / 2
            )
        return tf_nnrnn.NNRNNCell(units, **kwargs)
    if cell == "exprnn":
        return tf_nnrnn.ExpRNNCell(
            units,
            **_maybe(
                {},
                skew_initializer=settings.skew_init,
                kernel_initializer=settings.kernel_init,
            ),
        )
    if cell == "scornn":
        return tf_nnrnn.ScoRNNCell(
            units,
            **_maybe(
                {},
                num_negative_ones=settings.num_negative_ones,
                skew_initializer=settings.skew_init,
                kernel_initializer=settings.kernel_init,
            ),
        )
    if cell == "nru":
        return tf_nnrnn.NRUCell(
            units,
            memory_size=settings.memory_size,
            num_heads=settings.num_heads,
            **_maybe({}, kernel_initializer=settings.kernel_init),
        )
    if cell == "lstm":
        return keras.layers.LSTMCell(
            units,
            kernel_initializer=settings.kernel_init or "glorot_normal",
            recurrent_initializer="glorot_normal",
        )
    if cell == "rnn":
        return keras.layers.SimpleRNNCell(
            units,
            activation="tanh",
            kernel_initializer=settings.kernel_init or "glorot_normal",
            recurrent_initializer="glorot_normal",
        )
    if cell == "rnn_orth":
        return ModReLURNNCell(
            units, kernel_initializer=settings.kernel_init or "glorot_normal"
        )
    raise ValueError(
        "Received an invalid value for argument `cell`, expected one of "
        f"{list(CELL_NAMES)}, got {cell!r}."
    )


def build_model(task: Any, cell: str, settings: Any) -> keras.Model:
    """The Keras model of `cell` on `task` (a `tf_nnrnn.tasks` object).

    Args:
        task: a task object (`CopyTask`, `AddingTask`, `PSMNISTTask`,
            `PTBTask`).
        cell: one of `CELL_NAMES`.
        settings: a `tf_nnrnn.training.Settings`.

    Returns:
        An uncompiled `keras.Model` producing logits (or the adding sum).

    Example:
        >>> from tf_nnrnn.tasks.copy import CopyTask
        >>> from tf_nnrnn.training import Settings
        >>> model = build_model(CopyTask(time_lag=5), "lstm", Settings(units=8))
        >>> model.output_shape
        (None, 25, 9)
    """
    recurrent_cell = build_cell(cell, settings)
    head_init = "glorot_normal"
    if getattr(task, "stateful", False):
        inputs = keras.Input(
            batch_shape=(settings.batch_size, *task.input_shape),
            dtype="int32",
            name="characters",
        )
        init = keras.initializers.RandomUniform(-0.1, 0.1)
        x = keras.layers.Embedding(
            task.vocabulary_size,
            task.embedding_dim,
            embeddings_initializer=init,
            name="embedding",
        )(inputs)
        head_init = init
        rnn = keras.layers.RNN(
            recurrent_cell, return_sequences=True, stateful=True, name="rnn"
        )
    else:
        inputs = keras.Input(shape=task.input_shape, name="sequence")
        x = inputs
        rnn = keras.layers.RNN(
            recurrent_cell,
            return_sequences=task.return_sequences,
            name="rnn",
        )
    x = rnn(x)
    outputs = keras.layers.Dense(
        task.output_units, kernel_initializer=head_init, name="head"
    )(x)
    return keras.Model(inputs, outputs, name=f"{task.name}_{cell}")


def free_parameters(model: keras.Model) -> int:
    """Trainable parameters counted as the papers do.

    A `skew_kernel` (n × n) holds n(n-1)/2 free numbers and a
    `triangular_kernel` those its mask leaves free (n(n-1)/2 for the
    reference's strict mask, n(n-1)/2 - n/2 for the block mask); every
    other trainable weight counts in full.
    """
    total = 0
    for layer in model.layers:
        cell = getattr(layer, "cell", None)
        mask = getattr(cell, "triangular_mask", None)
        for w in layer.trainable_weights:
            n = int(w.shape[0]) if len(w.shape) == 2 else 0
            name = w.path.rsplit("/", 1)[-1]
            if name == "skew_kernel":
                total += n * (n - 1) // 2
            elif name == "triangular_kernel":
                free = n * (n - 1) // 2
                total += free - (n // 2 if mask == "block" else 0)
            else:
                total += int(math.prod(w.shape))
    return total
