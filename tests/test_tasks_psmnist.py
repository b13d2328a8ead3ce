"""Tests of the psMNIST pipeline, offline with tfds.testing.mock_data."""

import socket
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tf_nnrnn.experiments.tasks import psmnist
from tf_nnrnn.experiments.tasks.psmnist import (
    PSMNISTTask,
    mnist_permutation,
    reference_split,
    tfds_record_order,
)


def test_permutation_is_a_fixed_permutation():
    p = mnist_permutation(1234)
    assert sorted(p.tolist()) == list(range(784))
    np.testing.assert_array_equal(p, mnist_permutation(1234))
    assert not np.array_equal(p, mnist_permutation(1235))
    assert not np.array_equal(p, np.arange(784))
    np.testing.assert_array_equal(mnist_permutation(None), np.arange(784))


def test_sequences_are_permuted_scaled_pixels():
    with tfds.testing.mock_data(num_examples=6):
        raw = tfds.load("mnist", split="test", as_supervised=True)
        images = np.stack([im.numpy() for im, _ in raw])
        labels = np.stack([lb.numpy() for _, lb in raw])
        task = PSMNISTTask(permutation_seed=7)
        x, y = next(iter(task.test_dataset(batch_size=6, seed=0)))
    x, y = x.numpy(), y.numpy()
    assert x.shape == (6, 784, 1) and x.dtype == np.float32
    assert y.dtype == np.int32
    assert 0.0 <= x.min() and x.max() <= 1.0
    flat = images.reshape(6, 784).astype(np.float32) / 255.0
    np.testing.assert_allclose(x[..., 0], flat[:, mnist_permutation(7)])
    np.testing.assert_array_equal(y, labels)


def test_training_order_is_seeded_and_limited():
    with tfds.testing.mock_data(num_examples=20):
        task = PSMNISTTask(train_examples=12)
        a = [x.numpy() for x, _ in task.train_dataset(4, seed=1)]
        b = [x.numpy() for x, _ in task.train_dataset(4, seed=1)]
        assert task.validation_dataset(4, 0) is not None
    assert len(a) == 3
    np.testing.assert_array_equal(np.concatenate(a), np.concatenate(b))


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST"):
        PSMNISTTask(data_dir=str(tmp_path), download=False)


def test_bad_permutation_seed():
    with pytest.raises(ValueError, match="`permutation_seed`"):
        PSMNISTTask(permutation_seed=-1)


# --- the reference split (sMNIST.py) --------------------------------------


def _smnist_split(seed, images=60000, offset=10000):
    """sMNIST.py, transcribed: the pixel order, then `R`, then
    `Subset(trainset, R[offset - length:offset])` over the accumulated
    lengths (50000, 10000)."""
    rng = np.random.RandomState(seed)
    order = rng.permutation(784)
    R = rng.permutation(images)
    lengths = (images - offset, offset)
    ends = np.cumsum(lengths)
    train, val = [R[end - length : end] for end, length in zip(ends, lengths)]
    return order, train, val


@pytest.mark.parametrize("seed", [1234, 7])
def test_reference_split_equals_smnist(seed):
    order, train, val = _smnist_split(seed)
    got_train, got_val = reference_split(seed)
    np.testing.assert_array_equal(got_train, train)
    np.testing.assert_array_equal(got_val, val)
    np.testing.assert_array_equal(mnist_permutation(seed), order)
    assert len(set(train) | set(val)) == 60000


def test_tfds_record_order_is_tfds_hash_order():
    from tensorflow_datasets.core import hashing

    hasher = hashing.Hasher("train")
    expected = sorted(range(300), key=hasher.hash_key)
    assert tfds_record_order(300).tolist() == expected
    assert tfds_record_order(300, "test").tolist() != expected


def _stored_train():
    raw = tfds.load("mnist", split="train", as_supervised=True)
    pairs = [(x.numpy(), y.numpy()) for x, y in raw]
    return np.stack([x for x, _ in pairs]), np.array([y for _, y in pairs])


def test_reference_pipeline_keeps_the_reference_order():
    with tfds.testing.mock_data(num_examples=24):
        images, labels = _stored_train()
        task = PSMNISTTask(permutation_seed=7, split="reference")
        epochs = [
            [(x.numpy(), y.numpy()) for x, y in task.train_dataset(5, seed=s)]
            for s in (0, 1)
        ]
        val = [(x.numpy(), y.numpy()) for x, y in task.validation_dataset(3, 0)]
    position = np.argsort(tfds_record_order(24))
    train_idx, val_idx = reference_split(7, 24)
    assert len(train_idx) == 20 and len(val_idx) == 4
    flat = images.reshape(24, 784).astype(np.float32) / 255.0
    flat = flat[:, mnist_permutation(7)]
    for got, idx in ((epochs[0], train_idx), (val, val_idx)):
        x = np.concatenate([b[0] for b in got])[..., 0]
        y = np.concatenate([b[1] for b in got])
        np.testing.assert_allclose(x, flat[position[idx]])
        np.testing.assert_array_equal(y, labels[position[idx]])
    # The same order in every epoch, whatever the seed (no shuffling).
    for a, b in zip(*epochs):
        np.testing.assert_array_equal(a[0], b[0])


def test_reference_split_checks_the_recovered_mnist_order():
    n = 60000
    order = tfds_record_order(n)  # stored record k is original order[k]

    def stored(first_labels):
        original = np.full(n, 3, np.int64)
        original[:10] = first_labels
        stored_labels = original[order]

        def as_dataset(self, split, **kwargs):
            count = n if split.startswith("train") else 4
            lab = stored_labels if count == n else np.zeros(4, np.int64)
            return tf.data.Dataset.from_tensor_slices(
                {"image": np.zeros((count, 28, 28, 1), np.uint8), "label": lab}
            )

        return as_dataset

    with tfds.testing.mock_data(
        as_dataset_fn=stored((5, 0, 4, 1, 9, 2, 1, 3, 1, 4))
    ):
        PSMNISTTask(split="reference")
    with tfds.testing.mock_data(as_dataset_fn=stored((0,) * 10)):
        with pytest.raises(RuntimeError, match="mnist_split='tail'"):
            PSMNISTTask(split="reference")


def test_bad_split():
    with pytest.raises(ValueError, match="`split`.*'random'"):
        PSMNISTTask(split="random")


# --- offline (issue 13) ---------------------------------------------------


def _no_network(monkeypatch):
    """Disable the network and record any download attempt."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")

    def download(self, *args, **kwargs):
        attempts.append("download_and_prepare")
        raise AssertionError("a download was started")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(
        tfds.core.DatasetBuilder, "download_and_prepare", download
    )
    return attempts


def test_offline_without_data_fails_fast_and_writes_nothing(
    tmp_path, monkeypatch
):
    data_dir = tmp_path / "data"
    attempts = _no_network(monkeypatch)
    start = time.monotonic()
    with pytest.raises(FileNotFoundError) as info:
        PSMNISTTask(data_dir=str(data_dir))
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert "cannot be reached" in message and "--data-dir" in message
    assert "download_and_prepare()" in message and "data_dir`" not in message
    assert "download_and_prepare" not in attempts  # only the socket probe
    assert not data_dir.exists()


def test_offline_example_exits_2_within_seconds(tmp_path, monkeypatch, capsys):
    from tf_nnrnn.experiments.cli import main

    data_dir, out = tmp_path / "data", tmp_path / "out"
    data_dir.mkdir()
    _no_network(monkeypatch)
    start = time.monotonic()
    with pytest.raises(SystemExit) as info:
        main("psmnist", ["--data-dir", str(data_dir), "--out", str(out)])
    assert time.monotonic() - start < 10
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--data-dir" in err[0] and "MNIST" in err[0]
    assert list(data_dir.iterdir()) == [] and not out.exists()


def test_interrupted_download_leaves_nothing_behind(tmp_path, monkeypatch):
    data_dir = tmp_path / "data"
    (data_dir / "downloads").mkdir(parents=True)
    (data_dir / "downloads" / "other.zip").write_text("kept")
    (data_dir / "keep.txt").write_text("kept")
    monkeypatch.setattr(psmnist, "_network_reachable", lambda: True)

    def interrupted(self, *args, **kwargs):
        (data_dir / "downloads" / "mnist.tmp.123").mkdir()
        (data_dir / "downloads" / "mnist.tmp.123" / "part").write_text("x")
        (data_dir / "mnist" / "3.0.1.incomplete").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(
        tfds.core.DatasetBuilder, "download_and_prepare", interrupted
    )
    with pytest.raises(KeyboardInterrupt):
        PSMNISTTask(data_dir=str(data_dir))
    left = sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*"))
    assert left == ["downloads", "downloads/other.zip", "keep.txt"]
