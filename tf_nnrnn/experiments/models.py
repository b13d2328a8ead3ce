"""Models for a (task, cell, settings) triple: where cells and tasks meet.

Cells come from the registry (`tf_nnrnn.cells.registry`): `nnrnn`,
`exprnn`, `scornn`, `nru` (this package), any cell registered later, and
the papers' baselines built from Keras' own cells:

- `lstm`: `keras.layers.LSTMCell`, Glorot-normal kernels (the reference
  code's `xavier_normal_`);
- `rnn`: `keras.layers.SimpleRNNCell`, tanh, Glorot-normal kernels;
- `rnn_orth`: `ModReLURNNCell`, a `SimpleRNNCell` with a random orthogonal
  recurrent kernel and modReLU, as the nnRNN reference code's RNN-orth (an
  unconstrained RNN initialised orthogonal, `h_t = modReLU(x_t U + b +
  h_{t-1} W)`);
- `gru`: `keras.layers.GRUCell`, Glorot-normal kernels;
- `lstm_orth`, `gru_orth`, `rnn_orth_constraint`: the same Keras cells
  with each gate's recurrent block initialised Haar-orthogonal
  (`manifolds.BlockOrthogonal`) and projected back onto the orthogonal
  group after every update (`manifolds.Orthogonal(blocks=4 | 3 | 1)`);
- `rnn_orth_riemannian`: RNN-orth whose recurrent kernel is moved on the
  orthogonal group by `riemannian.RiemannianOptimizer` around the run's
  optimizer at `lr_orth` (the entry's `orthogonal_wrapper`, applied by
  `training.compile_model`).

expRNN and nnRNN read `trivialization` ("static" | "dynamic") and
`rebase_every`; the runner adds the `DynamicTrivialization` callback that
re-bases a dynamic cell.

Heads: the copy task reads 9 logits at every step, the adding problem one
number and psMNIST 10 logits from the last step; PTB embeds characters,
runs a stateful RNN over `bptt`-long segments and reads logits per step.
"""

from __future__ import annotations

import math
from typing import Any

import keras

from tf_nnrnn.cells.modrelu_rnn import ModReLURNNCell  # noqa: F401
from tf_nnrnn.cells.registry import cell_names, get_cell

__all__ = [
    "CELL_NAMES",
    "ModReLURNNCell",
    "build_cell",
    "build_model",
    "free_parameters",
]

#: The built-in cells (a snapshot; `cell_names()` also lists cells
#: registered later).
CELL_NAMES = cell_names()


def build_cell(cell: str, settings: Any):
    """The recurrent cell `cell` configured from `settings`.

    Reads the cell registry (`tf_nnrnn.cells.registry`): the entry's class
    called with the entry's arguments for these settings.

    Args:
        cell: a registered cell name (`cell_names()`).
        settings: a `Settings` (the entry reads `units` and what it needs,
            e.g. `skew_init`, `kernel_init`, `delta`, `t_decay`).

    Example:
        >>> from tf_nnrnn.experiments.presets import Settings
        >>> build_cell("rnn_orth", Settings(units=4)).units
        4
    """
    return get_cell(cell).build(settings)


def build_model(task: Any, cell: str, settings: Any) -> keras.Model:
    """The Keras model of `cell` on `task` (a `tf_nnrnn.experiments.tasks`
    object).

    Args:
        task: a task object (`CopyTask`, `AddingTask`, `PSMNISTTask`,
            `PTBTask`).
        cell: a registered cell name.
        settings: a `tf_nnrnn.experiments.training.Settings`.

    Returns:
        An uncompiled `keras.Model` producing logits (or the adding sum).

    Example:
        >>> from tf_nnrnn.experiments.tasks.copy import CopyTask
        >>> from tf_nnrnn.experiments.training import Settings
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
