"""Permuted sequential MNIST (psMNIST).

Each 28×28 image is flattened to 784 pixels scaled to [0, 1] and fed one
pixel per step, in one fixed random order `perm = RandomState(s).permutation
(784)`, `s` the permutation seed (1234 in the nnRNN reference code), chosen
independently from the model's seed. The class (10) is read from the last
step. The 10,000 test images test; the 60,000 training images are split
in one of two ways (`split`):

- `"tail"`: the first 50,000 train, in an order reshuffled every epoch
  from the run's seed, and the last 10,000 validate.
- `"reference"`, the nnRNN reference's `sMNIST.py`: the generator that drew
  the pixel order draws next `R = permutation(60000)` over MNIST's
  training images in their original order; `R[:50000]` train, in that
  order every epoch (no shuffling), `R[50000:]` validate
  (`reference_split`).

Data come from `tensorflow_datasets` ("mnist"). TFDS stores a split's
records sorted by `md5(split name + key)` (its `core/hashing.py`, stable
within a dataset version), the key of MNIST's record `i` being its index
`i` in the original file, so `tfds_record_order` recovers the original
order; the reference split checks it on the first ten labels of MNIST.

Without a prepared copy under `data_dir` the task downloads MNIST only
when the download host answers within a few seconds, else it raises one
`FileNotFoundError` that says how to bring MNIST to an offline machine,
having written nothing; an interrupted download leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket

import keras
import numpy as np
import tensorflow as tf

from tf_nnrnn.experiments.tasks import check_int

__all__ = [
    "PSMNISTTask",
    "mnist_permutation",
    "reference_split",
    "tfds_record_order",
    "CHANCE_ACCURACY",
    "SPLITS",
]

CHANCE_ACCURACY = 0.1
SEQUENCE_LENGTH = 784
SPLITS = ("tail", "reference")
#: Where tfds downloads MNIST from (tensorflow_datasets' mnist.py).
DOWNLOAD_HOST = ("storage.googleapis.com", 443)
#: The labels of MNIST's first ten training images, in the original order.
FIRST_TRAIN_LABELS = (5, 0, 4, 1, 9, 2, 1, 3, 1, 4)
_HELP = (
    "To use MNIST on a machine without network, prepare it once on a "
    'machine with network: python -c "import tensorflow_datasets as tfds; '
    "tfds.builder('mnist', data_dir='DIR').download_and_prepare()\", then "
    "copy DIR/mnist to the offline machine and pass --data-dir (Python: "
    "data_dir=) the folder holding it."
)


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


def reference_split(
    seed: int | None, images: int = 60_000
) -> tuple[np.ndarray, np.ndarray]:
    """The reference's training and validation images, in its order.

    `sMNIST.py`: `rng = RandomState(seed)`; `rng.permutation(784)` is the
    pixel order, then `R = rng.permutation(images)`; the training set is
    `R[:images - images // 6]` (50,000 of 60,000) in that order, the
    validation set the rest.

    Args:
        seed: the permutation seed (None: 1234, the reference's).
        images: number of training images (60,000).

    Returns:
        `(train, validation)`: indices into the original training order.

    Example:
        >>> train, validation = reference_split(1234)
        >>> len(train), len(validation), int(max(train.max(), validation.max()))
        (50000, 10000, 59999)
    """
    seed = 1234 if seed is None else check_int("permutation_seed", seed, 0)
    images = check_int("images", images, minimum=2)
    rng = np.random.RandomState(seed)
    rng.permutation(SEQUENCE_LENGTH)  # the pixel order is drawn first
    order = rng.permutation(images)
    cut = images - images // 6
    return order[:cut], order[cut:]


def tfds_record_order(records: int, split: str = "train") -> np.ndarray:
    """Original index of each stored record of a TFDS split.

    TFDS writes a split's records sorted by the 128-bit
    `md5(split.encode() + str(key).encode())` of their keys; MNIST's keys
    are the records' indices in the original files.

    Example:
        >>> order = tfds_record_order(5)
        >>> sorted(order.tolist())
        [0, 1, 2, 3, 4]
    """
    salt = hashlib.md5(split.encode("utf-8"))

    def digest(key: int) -> int:
        md5 = salt.copy()
        md5.update(str(key).encode("utf-8"))
        return int(md5.hexdigest(), 16)

    return np.array(sorted(range(records), key=digest), dtype=np.int64)


def _network_reachable(address=DOWNLOAD_HOST, timeout: float = 3.0) -> bool:
    try:
        socket.create_connection(address, timeout=timeout).close()
        return True
    except OSError:
        return False


def _snapshot(root: str) -> set:
    """Paths up to two levels under `root/mnist` and `root/downloads`."""
    seen = {root} if os.path.exists(root) else set()
    for top in ("mnist", "downloads"):
        base = os.path.join(root, top)
        if not os.path.isdir(base):
            continue
        seen.add(base)
        for name in os.listdir(base):
            path = os.path.join(base, name)
            seen.add(path)
            if os.path.isdir(path):
                seen.update(os.path.join(path, n) for n in os.listdir(path))
    return seen


def _remove_new(root: str, before: set) -> None:
    """Delete what a failed or interrupted download added under `root`."""
    for path in sorted(_snapshot(root) - before, key=len):
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.exists(path):
            os.remove(path)


class PSMNISTTask:
    """Data, loss, metric and baseline of permuted sequential MNIST.

    Args:
        permutation_seed: seed of the pixel permutation (None: unpermuted).
        data_dir: `tensorflow_datasets` data directory (None: its default).
        download: let tfds download MNIST when it is not in `data_dir`
            (only if the download host answers). The data are opened when
            the task is created, so missing data raise `FileNotFoundError`
            here, before a run writes anything.
        train_examples: use only the first N training images (quick runs);
            None uses all 50,000.
        split: `"tail"` (default) or `"reference"`, see the module
            docstring.

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
        split: str = "tail",
    ):
        self.permutation_seed = permutation_seed
        self.permutation = mnist_permutation(permutation_seed)
        self.data_dir = data_dir
        self.download = bool(download)
        if train_examples is not None:
            train_examples = check_int("train_examples", train_examples, 1)
        self.train_examples = train_examples
        if split not in SPLITS:
            raise ValueError(
                "Received an invalid value for argument `split`, expected "
                f"one of {list(SPLITS)}, got {split!r}."
            )
        self.split = split
        # Load now, so that missing data fail before a run writes anything.
        builder = self._builder()
        if split == "tail":
            self._raw = {
                name: self._open(builder, spec)
                for name, spec in self.splits.items()
            }
        else:
            self._raw = self._reference(builder)

    # Data access.

    def _builder(self):
        """The prepared tfds builder; downloads only when that can work."""
        import tensorflow_datasets as tfds

        builder = tfds.builder("mnist", data_dir=self.data_dir)
        try:  # prepared (or mocked by tfds.testing.mock_data)
            builder.as_dataset(split="test[:1]")
            return builder
        except Exception as error:  # tfds: AssertionError when absent
            missing = error
        root = os.path.dirname(os.path.dirname(str(builder.data_path)))
        where = (
            f"--data-dir {self.data_dir!r}"
            if self.data_dir is not None
            else f"the default data dir {root!r} (no --data-dir)"
        )
        if not self.download:
            raise FileNotFoundError(
                f"MNIST is not prepared under {where}. {_HELP}"
            ) from missing
        host = DOWNLOAD_HOST[0]
        if not _network_reachable():
            raise FileNotFoundError(
                f"MNIST is not prepared under {where}, and the download "
                f"host {host} cannot be reached (no network?); nothing was "
                f"downloaded or written. {_HELP}"
            ) from missing
        before = _snapshot(root)
        try:
            builder.download_and_prepare()
        except BaseException as error:  # also Ctrl-C: no half-written data
            _remove_new(root, before)
            if not isinstance(error, Exception):
                raise
            first = (str(error).splitlines() or [""])[0][:200]
            raise FileNotFoundError(
                f"Could not download MNIST into {where} "
                f"({type(error).__name__}: {first}); what the download "
                f"had written was removed. {_HELP}"
            ) from error
        return builder

    def _open(self, builder, spec: str) -> tf.data.Dataset:
        return builder.as_dataset(
            split=spec, as_supervised=True, shuffle_files=False
        )

    def _reference(self, builder) -> dict:
        """`reference_split` of the training images, in memory."""
        batches = [
            (x.numpy(), y.numpy())
            for x, y in self._open(builder, "train").batch(10_000)
        ]
        images = np.concatenate([x for x, _ in batches])
        labels = np.concatenate([y for _, y in batches])
        count = len(labels)
        order = tfds_record_order(count)  # stored record k is image order[k]
        if count == 60_000:  # the real MNIST: check the recovered order
            first = labels[np.argsort(order)[:10]]
            if tuple(first.tolist()) != FIRST_TRAIN_LABELS:
                raise RuntimeError(
                    "This copy of MNIST does not store its training images "
                    "in TFDS's documented order, so the reference split "
                    "cannot be reproduced: the first ten labels in the "
                    f"original order came out as {first.tolist()}, expected "
                    f"{list(FIRST_TRAIN_LABELS)}. Use mnist_split='tail'."
                )
        position = np.argsort(order)  # original index -> stored record
        train, validation = reference_split(self.permutation_seed, count)
        out = {}
        for name, index in (("train", train), ("validation", validation)):
            rows = position[index]
            out[name] = tf.data.Dataset.from_tensor_slices(
                (images[rows], labels[rows])
            )
        out["test"] = self._open(builder, "test")
        return out

    def _prepare(self, ds: tf.data.Dataset) -> tf.data.Dataset:
        order = tf.constant(self.permutation, tf.int32)

        def to_sequence(image, label):
            pixels = tf.reshape(tf.cast(image, tf.float32) / 255.0, [-1])
            return tf.gather(pixels, order)[:, None], tf.cast(label, tf.int32)

        return ds.map(to_sequence, num_parallel_calls=tf.data.AUTOTUNE)

    def train_dataset(
        self, batch_size: int, seed: int, **unused
    ) -> tf.data.Dataset:
        """Training batches: reshuffled from `seed` every epoch ("tail"),
        or the reference's one order ("reference")."""
        batch_size = check_int("batch_size", batch_size, minimum=1)
        ds = self._raw["train"]
        if self.train_examples is not None:
            ds = ds.take(self.train_examples)
        ds = ds.cache()
        if self.split == "tail":
            ds = ds.shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
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
            "split": self.split,
        }
