"""Tests of the psMNIST pipeline, offline with tfds.testing.mock_data."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from tf_nnrnn.experiments.tasks.psmnist import PSMNISTTask, mnist_permutation


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
