"""Metrics of the papers' tasks: recall accuracy (copy) and bits per character.

Example:
    >>> m = BitsPerCharacter()
    >>> m.update_state([[1]], [[[0.0, 0.0]]])
    >>> round(float(m.result()), 4)
    1.0
"""

from __future__ import annotations

import math

import keras

from tf_nnrnn.validation import check_int

__all__ = ["RecallAccuracy", "BitsPerCharacter"]


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class RecallAccuracy(keras.metrics.Metric):
    """Accuracy of the class predictions on the last `copy_length` steps.

    `mean(argmax(logits[:, -L:]) == targets[:, -L:])`.

    Args:
        copy_length: L, the number of final steps scored.
        name: metric name.

    Example:
        >>> m = RecallAccuracy(copy_length=1)
        >>> m.update_state([[0, 2]], [[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])
        >>> float(m.result())
        1.0
    """

    def __init__(
        self, copy_length: int = 10, name: str = "recall_accuracy", **kwargs
    ):
        super().__init__(name=name, **kwargs)
        self.copy_length = check_int(
            "copy_length", copy_length, minimum=1, error=ValueError
        )
        self.correct = self.add_variable(
            shape=(), initializer="zeros", name="correct"
        )
        self.count = self.add_variable(
            shape=(), initializer="zeros", name="count"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = keras.ops.convert_to_tensor(y_true)
        y_pred = keras.ops.convert_to_tensor(y_pred)
        tail_true = keras.ops.cast(y_true[:, -self.copy_length :], "int32")
        tail_pred = keras.ops.argmax(y_pred[:, -self.copy_length :], axis=-1)
        hits = keras.ops.cast(
            keras.ops.equal(tail_true, keras.ops.cast(tail_pred, "int32")),
            self.dtype,
        )
        self.correct.assign_add(keras.ops.sum(hits))
        self.count.assign_add(keras.ops.cast(keras.ops.size(hits), self.dtype))

    def result(self):
        return keras.ops.divide_no_nan(self.correct, self.count)

    def reset_state(self):
        self.correct.assign(0.0)
        self.count.assign(0.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "copy_length": self.copy_length}


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class BitsPerCharacter(keras.metrics.Mean):
    """Mean cross-entropy in bits: `mean(-log2 softmax(logits)[target])`.

    Args:
        from_logits: predictions are logits (else probabilities).
        name: metric name.

    Example:
        >>> m = BitsPerCharacter()
        >>> m.update_state([[0]], [[[0.0, 0.0]]])
        >>> round(float(m.result()), 4)
        1.0
    """

    def __init__(self, from_logits: bool = True, name: str = "bpc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = from_logits

    def update_state(self, y_true, y_pred, sample_weight=None):
        nats = keras.losses.sparse_categorical_crossentropy(
            keras.ops.convert_to_tensor(y_true),
            keras.ops.convert_to_tensor(y_pred),
            from_logits=self.from_logits,
        )
        return super().update_state(
            nats / math.log(2.0), sample_weight=sample_weight
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "from_logits": self.from_logits}
