"""The copy (copying-memory) task of the nnRNN, expRNN and scoRNN papers.

An input sequence of length `T + 20` holds ten symbols drawn uniformly from
{1..8}, then `T - 1` blanks (0), a cue (9) and ten more blanks. The target
is `T + 10` blanks followed by the ten symbols. The network emits one of 9
classes (blank or a symbol) at every step; the loss is the cross-entropy
averaged over all `T + 20` steps, as in the reference code. A memoryless
strategy (blanks, then a uniform guess over the 8 symbols) scores

    baseline = copy_length · ln(num_symbols) / (T + 2 · copy_length),

`10 ln 8 / (T + 20)` = 0.0945 at T = 200. Accuracy is measured on the last
`copy_length` steps (the recall).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from tf_nnrnn.experiments.tasks import (
    check_bool,
    check_int,
    example_seed,
    seeded_range,
)
from tf_nnrnn.metrics import RecallAccuracy  # noqa: F401 (old path)

__all__ = ["CopyTask", "RecallAccuracy", "copy_example", "copy_baseline"]


def copy_baseline(
    time_lag: int, num_symbols: int = 8, copy_length: int = 10
) -> float:
    """Cross-entropy of the memoryless strategy.

    `copy_length · ln(num_symbols) / (time_lag + 2 · copy_length)`.

    Args:
        time_lag: T, the number of steps between the last symbol and the cue
            plus one.
        num_symbols: size of the alphabet the symbols are drawn from.
        copy_length: number of symbols to recall.

    Returns:
        The baseline loss as a Python float.

    Example:
        >>> round(copy_baseline(200), 4)
        0.0945
    """
    time_lag = check_int("time_lag", time_lag, minimum=1)
    return copy_length * math.log(num_symbols) / (time_lag + 2 * copy_length)


def copy_example(
    seed: Any,
    time_lag: int,
    num_symbols: int = 8,
    copy_length: int = 10,
    one_hot: bool = True,
) -> tuple[tf.Tensor, tf.Tensor]:
    """One copy-task sequence from a stateless seed.

    Input ids: `symbols (copy_length) | 0 × (T - 1) | cue | 0 × copy_length`
    with the cue `num_symbols + 1`; targets: `0 × (T + copy_length) |
    symbols`.

    Args:
        seed: shape-(2,) int tensor for `tf.random.stateless_uniform`.
        time_lag: T.
        num_symbols: alphabet size (symbols are 1..num_symbols).
        copy_length: number of symbols to remember.
        one_hot: one-hot inputs of depth `num_symbols + 2`, else the id as a
            single float feature.

    Returns:
        `(inputs, targets)`: inputs `(T + 2·copy_length, num_symbols + 2)` or
        `(T + 2·copy_length, 1)` float32, targets `(T + 2·copy_length,)`
        int32.

    Example:
        >>> x, y = copy_example(tf.constant([0, 0]), time_lag=5)
        >>> x.shape, y.shape
        (TensorShape([25, 10]), TensorShape([25]))
    """
    symbols = tf.random.stateless_uniform(
        [copy_length],
        seed=seed,
        minval=1,
        maxval=num_symbols + 1,
        dtype=tf.int32,
    )
    blanks = tf.zeros([time_lag - 1], tf.int32)
    cue = tf.fill([1], num_symbols + 1)
    tail = tf.zeros([copy_length], tf.int32)
    ids = tf.concat([symbols, blanks, cue, tail], axis=0)
    targets = tf.concat(
        [tf.zeros([time_lag + copy_length], tf.int32), symbols], axis=0
    )
    if one_hot:
        inputs = tf.one_hot(ids, num_symbols + 2, dtype=tf.float32)
    else:
        inputs = tf.cast(ids, tf.float32)[:, None]
    return inputs, targets


class CopyTask:
    """Data, loss, metrics and baseline of the copy task.

    Args:
        time_lag: T (>= 1); sequences have `T + 2·copy_length` steps.
        one_hot: one-hot inputs (the papers' ~18.9K-parameter models), else a
            scalar input feature.
        num_symbols: alphabet size (8 in the papers).
        copy_length: symbols to remember (10 in the papers).
        test_size: number of held-out sequences for the final evaluation.

    Example:
        >>> task = CopyTask(time_lag=5)
        >>> x, y = next(iter(task.train_dataset(batch_size=4, seed=0)))
        >>> x.shape, y.shape
        (TensorShape([4, 25, 10]), TensorShape([4, 25]))
    """

    name = "copy"
    return_sequences = True
    uses_steps = True
    test_metric = "test_loss"
    monitor_metric = "cross_entropy"

    def __init__(
        self,
        time_lag: int = 200,
        one_hot: bool = True,
        num_symbols: int = 8,
        copy_length: int = 10,
        test_size: int = 500,
    ):
        self.time_lag = check_int("time_lag", time_lag, minimum=1)
        self.one_hot = check_bool("one_hot", one_hot)
        self.num_symbols = check_int("num_symbols", num_symbols, minimum=1)
        self.copy_length = check_int("copy_length", copy_length, minimum=1)
        self.test_size = check_int("test_size", test_size, minimum=1)

    @property
    def sequence_length(self) -> int:
        return self.time_lag + 2 * self.copy_length

    @property
    def input_shape(self) -> tuple[int, int]:
        depth = self.num_symbols + 2 if self.one_hot else 1
        return (self.sequence_length, depth)

    @property
    def output_units(self) -> int:
        return self.num_symbols + 1

    @property
    def baseline(self) -> float:
        return copy_baseline(self.time_lag, self.num_symbols, self.copy_length)

    def _dataset(self, seed, stream, start, stop, batch_size):
        def make(index):
            return copy_example(
                example_seed(seed, stream, index),
                self.time_lag,
                self.num_symbols,
                self.copy_length,
                self.one_hot,
            )

        ds = seeded_range(start, stop).map(
            make, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )
        return ds.batch(batch_size, drop_remainder=True).prefetch(2)

    def train_dataset(
        self,
        batch_size: int,
        seed: int,
        start_step: int = 0,
        steps: int | None = None,
    ) -> tf.data.Dataset:
        """Batches of fresh sequences; batch `i` depends only on (seed, i).

        Args:
            batch_size: sequences per batch.
            seed: data seed.
            start_step: index of the first batch (to resume a run).
            steps: number of batches, or None for an endless stream.
        """
        batch_size = check_int("batch_size", batch_size, minimum=1)
        start = start_step * batch_size
        stop = None if steps is None else (start_step + steps) * batch_size
        return self._dataset(seed, 0, start, stop, batch_size)

    def test_dataset(self, batch_size: int, seed: int) -> tf.data.Dataset:
        """`test_size` sequences from a stream disjoint from training."""
        batch_size = min(check_int("batch_size", batch_size, 1), self.test_size)
        return self._dataset(seed, 1, 0, self.test_size, batch_size)

    def validation_dataset(self, batch_size: int, seed: int):
        return None

    def loss(self) -> keras.losses.Loss:
        """Cross-entropy averaged over every step and sequence."""
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self) -> list:
        return [
            keras.metrics.SparseCategoricalCrossentropy(
                from_logits=True, name="cross_entropy"
            ),
            RecallAccuracy(self.copy_length),
        ]

    def summarize(self, test_logs: dict) -> dict:
        """The result fields of a final evaluation."""
        return {
            "test_loss": float(test_logs["cross_entropy"]),
            "test_accuracy": float(test_logs["recall_accuracy"]),
            "baseline": self.baseline,
        }

    def describe(self, summary: dict) -> str:
        """One line comparing the result with the memoryless baseline."""
        loss = summary["test_loss"]
        verdict = "below" if loss < self.baseline else "NOT below"
        return (
            f"copy T={self.time_lag}: test loss {loss:.4f} {verdict} the "
            f"memoryless baseline {self.baseline:.4f}; recall accuracy "
            f"{summary['test_accuracy']:.3f} (chance "
            f"{1 / self.num_symbols:.3f})"
        )

    def config(self) -> dict:
        return {
            "time_lag": self.time_lag,
            "one_hot": self.one_hot,
            "num_symbols": self.num_symbols,
            "copy_length": self.copy_length,
            "test_size": self.test_size,
        }
