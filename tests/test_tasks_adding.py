"""Tests of the adding problem pipeline (tf_nnrnn.experiments.tasks.adding)."""

import numpy as np
import pytest

from tf_nnrnn.experiments.tasks.adding import ADDING_BASELINE, AddingTask


def _batch(task, batch_size=64, seed=0):
    x, y = next(iter(task.train_dataset(batch_size, seed)))
    return x.numpy(), y.numpy()


@pytest.mark.parametrize("length", [2, 3, 10, 51])
def test_shapes_and_target_is_the_marked_sum(length):
    x, y = _batch(AddingTask(length=length))
    assert x.shape == (64, length, 2) and x.dtype == np.float32
    assert y.shape == (64, 1) and y.dtype == np.float32
    values, markers = x[..., 0], x[..., 1]
    assert np.all((values >= 0) & (values < 1))
    assert np.all(markers.sum(1) == 2) and set(np.unique(markers)) <= {0, 1}
    # One marker in each half, as in the reference code.
    first, second = length // 2, (length + 1) // 2
    assert np.all(markers[:, :first].sum(1) == 1)
    assert np.all(markers[:, second:].sum(1) == 1)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(1), rtol=1e-6)


def test_determinism():
    task = AddingTask(length=8)
    np.testing.assert_array_equal(
        _batch(task, seed=5)[0], _batch(task, 64, 5)[0]
    )
    assert not np.array_equal(_batch(task, seed=5)[0], _batch(task, seed=6)[0])


def test_predicting_one_scores_the_baseline():
    task = AddingTask(length=10, test_size=20000)
    y = np.concatenate([t.numpy() for _, t in task.test_dataset(5000, 0)])
    mse = float(task.loss()(y, np.ones_like(y)))
    assert ADDING_BASELINE == pytest.approx(1 / 6)
    assert mse == pytest.approx(task.baseline, abs=0.006)


def test_bad_length():
    with pytest.raises(ValueError, match="`length`"):
        AddingTask(length=1)
