"""Tests of the copy task pipeline (tf_nnrnn.experiments.tasks.copy)."""

import math

import keras
import numpy as np
import pytest

from tf_nnrnn.experiments.tasks import get_task, task_class
from tf_nnrnn.experiments.tasks.copy import (
    CopyTask,
    RecallAccuracy,
    copy_baseline,
)


def _batch(task, batch_size=16, seed=0, **kwargs):
    x, y = next(iter(task.train_dataset(batch_size, seed, **kwargs)))
    return x.numpy(), y.numpy()


@pytest.mark.parametrize("time_lag", [1, 5, 37])
def test_shapes_dtypes_and_target_rule(time_lag):
    task = CopyTask(time_lag=time_lag)
    x, y = _batch(task)
    length = time_lag + 20
    assert x.shape == (16, length, 10) and x.dtype == np.float32
    assert y.shape == (16, length) and y.dtype == np.int32
    ids = x.argmax(-1)
    assert np.all(x.sum(-1) == 1.0)  # one-hot
    # Ten symbols in 1..8, blanks, the cue 9 at step T + 9, ten blanks.
    assert np.all((ids[:, :10] >= 1) & (ids[:, :10] <= 8))
    assert np.all(ids[:, 10 : time_lag + 9] == 0)
    assert np.all(ids[:, time_lag + 9] == 9)
    assert np.all(ids[:, time_lag + 10 :] == 0)
    # Targets: T + 10 blanks, then the first ten inputs.
    assert np.all(y[:, : time_lag + 10] == 0)
    np.testing.assert_array_equal(y[:, -10:], ids[:, :10])


def test_scalar_inputs_carry_the_ids():
    x1, y1 = _batch(CopyTask(time_lag=7))
    x2, y2 = _batch(CopyTask(time_lag=7, one_hot=False))
    assert x2.shape == (16, 27, 1)
    np.testing.assert_array_equal(x2[..., 0], x1.argmax(-1))
    np.testing.assert_array_equal(y1, y2)


def test_same_seed_same_data_other_seed_other_data():
    task = CopyTask(time_lag=5)
    a, _ = _batch(task, seed=3)
    b, _ = _batch(task, seed=3)
    c, _ = _batch(task, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_resume_offset_continues_the_stream():
    task = CopyTask(time_lag=5)
    stream = list(task.train_dataset(4, seed=1, steps=3))
    later = next(iter(task.train_dataset(4, seed=1, start_step=2)))
    np.testing.assert_array_equal(stream[2][0].numpy(), later[0].numpy())


def test_test_set_is_fixed_and_disjoint_from_training():
    task = CopyTask(time_lag=5, test_size=32)
    t1 = np.concatenate([x.numpy() for x, _ in task.test_dataset(10, 0)])
    t2 = np.concatenate([x.numpy() for x, _ in task.test_dataset(10, 0)])
    assert t1.shape[0] == 30  # whole batches only
    np.testing.assert_array_equal(t1, t2)
    train = next(iter(task.train_dataset(30, 0)))[0].numpy()
    assert not np.array_equal(train[:, :10], t1[:, :10])


def test_symbols_are_uniform():
    x, _ = _batch(CopyTask(time_lag=1), batch_size=2000)
    counts = np.bincount(x.argmax(-1)[:, :10].ravel(), minlength=9)[1:]
    assert counts.min() > 0.9 * counts.mean()


def test_baseline():
    assert copy_baseline(200) == pytest.approx(10 * math.log(8) / 220)
    assert round(CopyTask(time_lag=200).baseline, 4) == 0.0945


def test_memoryless_strategy_scores_the_baseline():
    # Blanks with certainty, then a uniform guess over the 8 symbols.
    task = CopyTask(time_lag=20)
    x, y = _batch(task, batch_size=64)
    logits = np.full((64, 40, 9), -1e9, np.float32)
    logits[:, :30, 0] = 0.0
    logits[:, 30:, 1:] = 0.0
    loss = task.loss()(y, logits)
    assert float(loss) == pytest.approx(task.baseline, rel=1e-5)


def test_recall_accuracy_reads_only_the_last_steps():
    metric = RecallAccuracy(copy_length=2)
    y = np.array([[0, 0, 3, 4]])
    logits = keras.ops.one_hot(np.array([[5, 5, 3, 1]]), 9)
    metric.update_state(y, logits)
    assert float(metric.result()) == 0.5
    config = metric.get_config()
    assert RecallAccuracy.from_config(config).copy_length == 2


@pytest.mark.parametrize(
    "kwargs, name",
    [({"time_lag": 0}, "time_lag"), ({"time_lag": 2.5}, "time_lag")],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        CopyTask(**kwargs)
    with pytest.raises(ValueError, match="`batch_size`"):
        CopyTask().train_dataset(0, 0)


def test_registry():
    assert task_class("copy") is CopyTask
    assert get_task("copy", time_lag=3).sequence_length == 23
    with pytest.raises(ValueError, match="`task`"):
        get_task("nope")
