"""The adding problem (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

Each sequence has `T` steps and two channels: values `u_t ~ U(0, 1)` and a
marker channel with exactly two ones, one in the first half
(`t < floor(T/2)`) and one in the second (`t >= ceil(T/2)`), as in the nnRNN
reference code. The target is the sum of the two marked values, read from
the last step; the loss is the mean squared error. Predicting 1 always
scores `Var(u_a + u_b) = 2/12 ≈ 0.167`.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from tf_nnrnn.experiments.tasks import check_int, example_seed, seeded_range

__all__ = ["AddingTask", "adding_example", "ADDING_BASELINE"]

ADDING_BASELINE = 1.0 / 6.0


def adding_example(seed: Any, length: int) -> tuple[tf.Tensor, tf.Tensor]:
    """One adding-problem sequence from a stateless seed.

    Args:
        seed: shape-(2,) int tensor for the stateless random ops.
        length: T (>= 2).

    Returns:
        `(inputs, target)`: inputs `(T, 2)` float32 (values, markers),
        target `(1,)` float32, the sum of the two marked values.

    Example:
        >>> x, y = adding_example(tf.constant([0, 0]), length=6)
        >>> x.shape, y.shape
        (TensorShape([6, 2]), TensorShape([1]))
    """
    seeds = tf.random.experimental.stateless_split(seed, 3)
    values = tf.random.stateless_uniform([length], seed=seeds[0])
    first = tf.random.stateless_uniform(
        [], seed=seeds[1], minval=0, maxval=length // 2, dtype=tf.int32
    )
    second = tf.random.stateless_uniform(
        [],
        seed=seeds[2],
        minval=(length + 1) // 2,
        maxval=length,
        dtype=tf.int32,
    )
    markers = tf.one_hot(first, length) + tf.one_hot(second, length)
    inputs = tf.stack([values, markers], axis=-1)
    target = tf.reduce_sum(values * markers, keepdims=True)
    return inputs, target


class AddingTask:
    """Data, loss, metric and baseline of the adding problem.

    Args:
        length: T (>= 2).
        test_size: number of held-out sequences for the final evaluation.

    Example:
        >>> task = AddingTask(length=10)
        >>> x, y = next(iter(task.train_dataset(batch_size=4, seed=0)))
        >>> x.shape, y.shape
        (TensorShape([4, 10, 2]), TensorShape([4, 1]))
    """

    name = "adding"
    return_sequences = False
    uses_steps = True
    test_metric = "test_mse"
    monitor_metric = "mse"
    output_units = 1

    def __init__(self, length: int = 100, test_size: int = 1000):
        self.length = check_int("length", length, minimum=2)
        self.test_size = check_int("test_size", test_size, minimum=1)

    @property
    def input_shape(self) -> tuple[int, int]:
        return (self.length, 2)

    @property
    def baseline(self) -> float:
        return ADDING_BASELINE

    def _dataset(self, seed, stream, start, stop, batch_size):
        def make(index):
            return adding_example(
                example_seed(seed, stream, index), self.length
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
        """Batches of fresh sequences; batch `i` depends only on (seed, i)."""
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
        return keras.losses.MeanSquaredError()

    def metrics(self) -> list:
        return [keras.metrics.MeanSquaredError(name="mse")]

    def summarize(self, test_logs: dict) -> dict:
        return {"test_mse": float(test_logs["mse"]), "baseline": self.baseline}

    def describe(self, summary: dict) -> str:
        mse = summary["test_mse"]
        verdict = "below" if mse < self.baseline else "NOT below"
        return (
            f"adding T={self.length}: test MSE {mse:.4f} {verdict} the "
            f"predict-1 baseline {self.baseline:.3f}"
        )

    def config(self) -> dict:
        return {"length": self.length, "test_size": self.test_size}
