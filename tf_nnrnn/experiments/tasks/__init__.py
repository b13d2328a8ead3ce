"""The benchmark tasks of the nnRNN paper as `tf.data` pipelines.

Each task module defines one class with the same small interface, used by
`tf_nnrnn.experiments.training`: `input_shape`, `output_units`,
`return_sequences`,
`uses_steps` (endless synthetic data counted in updates) or epochs over a
fixed data set, `train_dataset`, `validation_dataset`, `test_dataset`,
`loss()`, `metrics()`, `baseline`, `summarize(test_logs)` and
`describe(summary)`.

Modules are imported on first use (`get_task`), so that the copy task does
not pay for importing `tensorflow_datasets`.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

import tensorflow as tf

from tf_nnrnn import validation

__all__ = ["TASK_NAMES", "get_task", "task_class"]

TASK_NAMES = ("copy", "adding", "psmnist", "ptb")
_CLASSES = {
    "copy": "CopyTask",
    "adding": "AddingTask",
    "psmnist": "PSMNISTTask",
    "ptb": "PTBTask",
}


def task_class(name: str) -> type:
    """The task class registered under `name`.

    Args:
        name: one of `TASK_NAMES`.

    Example:
        >>> task_class("copy").__name__
        'CopyTask'
    """
    if name not in _CLASSES:
        raise ValueError(
            "Received an invalid value for argument `task`, expected one of "
            f"{list(TASK_NAMES)}, got {name!r}."
        )
    module = importlib.import_module(f"tf_nnrnn.experiments.tasks.{name}")
    return getattr(module, _CLASSES[name])


def get_task(name: str, **kwargs: Any):
    """Instantiate the task `name` with its keyword arguments.

    Example:
        >>> get_task("copy", time_lag=5).sequence_length
        25
    """
    return task_class(name)(**kwargs)


# Shared helpers of the task modules (not part of the public API).


#: Argument checks of the task classes (tf_nnrnn.validation, ValueError).
check_int = functools.partial(validation.check_int, error=ValueError)
check_bool = validation.check_bool
check_fraction = functools.partial(
    validation.check_float, low=0.0, high=1.0, error=ValueError
)


def example_seed(seed: Any, stream: int, index: Any) -> tf.Tensor:
    """Stateless seed of example `index` of `stream` (0 train, 1 test, ...).

    Streams never share a seed, so test data never overlaps training data.
    """
    seed = tf.cast(seed, tf.int64)
    return tf.stack([seed * 4 + stream, tf.cast(index, tf.int64)])


def seeded_range(start: int, stop: int | None) -> tf.data.Dataset:
    """Example indices `start, start + 1, ...` (endless if `stop` is None)."""
    if stop is None:
        return tf.data.Dataset.counter(start, dtype=tf.int64)
    return tf.data.Dataset.range(start, stop)
