"""Permuted sequential MNIST (psMNIST).

Each 28×28 image is flattened to 784 pixels scaled to [0, 1] and fed one
pixel per step, in one fixed random order `perm = RandomState(s).permutation
(784)`, `s` the permutation seed (1234 in the nnRNN reference code), chosen
independently from the model's seed. The class (10) is read from the last
step. Splits as in the reference: the first 50,000 training images train,
the last 10,000 validate, the 10,000 test images test. Data come from
`tensorflow_datasets.load("mnist")`.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tf_nnrnn.experiments.tasks import check_int

__all__ = ["PSMNISTTask", "mnist_permutation", "CHANCE_ACCURACY"]

CHANCE_ACCURACY = 0.1
SEQUENCE_LENGTH = 784


def mnist_permutation(seed: int | None) -> np.ndarray:
    """The fixed pixel order: `RandomState(seed).permutation(784)`.

    Args:
        seed: permutation seed; None gives the identity (sequential MNIST).

    Example:
        >>> sorted(mnist_permutation(1234)) == list(range(784))
        True
    """
    if seed is None:
        return np.arange(SEQUENCE_LENGTH)
    seed = check_int("permutation_seed", seed, minimum=0)
    return np.random.RandomState(seed).permutation(SEQUENCE_LENGTH)


class PSMNISTTask:
    """Data, loss, metric and baseline of permuted sequential MNIST.

    Args:
        permutation_seed: seed of the pixel permutation (None: unpermuted).
        data_dir: `tensorflow_datasets` data directory (None: its default).
        download: let tfds download MNIST when it is not in `data_dir`.
            The data are opened when the task is created, so a missing
            data set raises `FileNotFoundError` here.
        train_examples: use only the first N training images (quick runs);
            None uses all 50,000.

    Example:
        >>> import tensorflow_datasets as tfds
        >>> with tfds.testing.mock_data(num_examples=8):
        ...     x, y = next(iter(PSMNISTTask().train_dataset(4, seed=0)))
        >>> x.shape, y.shape
        (TensorShape([4, 784, 1]), TensorShape([4]))
    """

    name = "psmnist"
    return_sequences = False
    uses_steps = False
    test_metric = "test_accuracy"
    monitor_metric = "accuracy"
    output_units = 10
    input_shape = (SEQUENCE_LENGTH, 1)
    baseline = CHANCE_ACCURACY
    splits = {
        "train": "train[:50000]",
        "validation": "train[50000:]",
        "test": "test",
    }

    def __init__(
        self,
        permutation_seed: int | None = 1234,
        data_dir: str | None = None,
        download: bool = True,
        train_examples: int | None = None,
    ):
        self.permutation_seed = permutation_seed
        self.permutation = mnist_permutation(permutation_seed)
        self.data_dir = data_dir
        self.download = bool(download)
        if train_examples is not None:
            train_examples = check_int("train_examples", train_examples, 1)
        self.train_examples = train_examples
        # Load now, so that missing data fail before a run writes anything.
        self._raw = {split: self._load(split) for split in self.splits}

    def _load(self, split: str) -> tf.data.Dataset:
        import tensorflow_datasets as tfds

        try:
            return tfds.load(
                "mnist",
                split=self.splits[split],
                as_supervised=True,
                data_dir=self.data_dir,
                download=self.download,
                shuffle_files=False,
            )
        except Exception as error:  # tfds raises many kinds when offline
            raise FileNotFoundError(
                "Could not load MNIST with tensorflow_datasets (data_dir="
                f"{self.data_dir!r}): {type(error).__name__}: "
                f"{str(error).splitlines()[0] if str(error) else ''}. "
                "Prepare it once online or pass `data_dir` holding it."
            ) from error

    def _prepare(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        order = tf.constant(self.permutation, tf.int32)

        def to_sequence(image, label):
            pixels = tf.reshape(tf.cast(image, tf.float32) / 255.0, [-1])
            return tf.gather(pixels, order)[:, None], tf.cast(label, tf.int32)

        return ds.map(to_sequence, num_parallel_calls=tf.data.AUTOTUNE)

    def train_dataset(
        self, batch_size: int, seed: int, **unused
    ) -> tf.data.Dataset:
        """Shuffled training batches (order fixed by `seed`)."""
        batch_size = check_int("batch_size", batch_size, minimum=1)
        ds = self._raw["train"]
        if self.train_examples is not None:
            ds = ds.take(self.train_examples)
        ds = ds.cache().shuffle(
            10_000, seed=seed, reshuffle_each_iteration=True
        )
        return self._prepare(ds).batch(batch_size).prefetch(2)

    def validation_dataset(self, batch_size: int, seed: int) -> tf.data.Dataset:
        batch_size = check_int("batch_size", batch_size, minimum=1)
        ds = self._raw["validation"].cache()
        return self._prepare(ds).batch(batch_size).prefetch(2)

    def test_dataset(self, batch_size: int, seed: int) -> tf.data.Dataset:
        batch_size = check_int("batch_size", batch_size, minimum=1)
        ds = self._raw["test"]
        return self._prepare(ds).batch(batch_size).prefetch(2)

    def loss(self) -> keras.losses.Loss:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self) -> list:
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def summarize(self, test_logs: dict) -> dict:
        return {
            "test_accuracy": float(test_logs["accuracy"]),
            "test_loss": float(test_logs["loss"]),
            "baseline": self.baseline,
        }

    def describe(self, summary: dict) -> str:
        acc = summary["test_accuracy"]
        verdict = "above" if acc > self.baseline else "NOT above"
        return (
            f"psMNIST: test accuracy {acc:.4f} {verdict} chance "
            f"{self.baseline:.2f}"
        )

    def config(self) -> dict:
        return {
            "permutation_seed": self.permutation_seed,
            "data_dir": self.data_dir,
            "train_examples": self.train_examples,
        }
