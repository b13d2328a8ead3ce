"""Tests of the PTB character pipeline on a small text fixture."""

import math

import keras
import numpy as np
import pytest

from tf_nnrnn.experiments.presets import resolve
from tf_nnrnn.experiments.schedules import (
    PlateauDecay,
    learning_rate_optimizers,
)
from tf_nnrnn.experiments.tasks.ptb import (
    BitsPerCharacter,
    PTBTask,
    batchify,
    load_ptb_chars,
    stream_segments,
)
from tf_nnrnn.experiments.training import load_metrics, run
from tf_nnrnn.optimizers import make_optimizer

LINES = ["a b _ c a", "b a _ a _ c c", "c _ b"]


@pytest.fixture
def ptb_dir(tmp_path):
    for split, n in (("train", 30), ("valid", 10), ("test", 10)):
        text = "\n".join(LINES[i % 3] for i in range(n)) + "\n"
        (tmp_path / f"ptb.char.{split}.txt").write_text(text)
    return str(tmp_path)


def test_vocabulary_and_ids(ptb_dir):
    data = load_ptb_chars(ptb_dir)
    assert data["vocabulary"] == ["<eos>", "_", "a", "b", "c"]
    first = [data["vocabulary"][i] for i in data["train"][:6]]
    assert first == ["a", "b", "_", "c", "a", "<eos>"]
    assert data["train"].dtype == np.int32


def test_batchify_streams_and_shifted_targets():
    x, y = batchify(np.arange(23), batch_size=2, bptt=4)
    # 11 tokens per stream -> (11 - 1) // 4 = 2 full segments.
    assert x.shape == (2, 2, 4)
    np.testing.assert_array_equal(x[0], [[0, 1, 2, 3], [11, 12, 13, 14]])
    np.testing.assert_array_equal(x[1], [[4, 5, 6, 7], [15, 16, 17, 18]])
    np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(ValueError, match="segment"):
        batchify(np.arange(5), batch_size=2, bptt=4)


def test_segments_continue_each_stream(ptb_dir):
    task = PTBTask(ptb_dir, bptt=5, embedding_dim=4)
    segs = [(x.numpy(), y.numpy()) for x, y in task.train_dataset(3, seed=0)]
    stream = task.ids["train"][: len(task.ids["train"]) // 3]
    joined = np.concatenate([x[0] for x, _ in segs])
    np.testing.assert_array_equal(joined, stream[: len(joined)])
    for x, y in segs:
        assert x.shape == (3, 5) and y.shape == (3, 5)
        np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    assert task.vocabulary_size == 5 and task.output_units == 5


def test_unigram_baseline_and_bpc(ptb_dir):
    task = PTBTask(ptb_dir, bptt=5)
    assert 1.0 < task.baseline < math.log2(5) + 0.5
    metric = BitsPerCharacter()
    metric.update_state(np.array([[1, 2]]), np.zeros((1, 2, 4), np.float32))
    assert float(metric.result()) == pytest.approx(2.0)  # log2(4)


def test_missing_directory_names_data_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match="--data-dir"):
        load_ptb_chars(str(tmp_path / "absent"))


def test_stream_segments_score_every_character_once(ptb_dir):
    task = PTBTask(ptb_dir, bptt=4)
    ids = task.ids["test"]
    assert len(ids) == 60  # 59 targets: 10 streams of 6 (9) and 5 (1)
    x, y, w = task.eval_segments("test", 10)
    assert x.shape == y.shape == w.shape == (2, 10, 4)  # 2nd is partial
    assert x.dtype == y.dtype == np.int32 and w.dtype == np.float32
    # Every character but the first is a target exactly once: reading
    # stream by stream, across segments, the scored inputs and targets
    # are the text itself.
    streams = [a.transpose(1, 0, 2).reshape(10, -1) for a in (x, y, w)]
    xs, ys, ws = streams
    assert ws.sum() == len(ids) - 1
    np.testing.assert_array_equal(xs[ws == 1], ids[:-1])
    np.testing.assert_array_equal(ys[ws == 1], ids[1:])
    assert ws.sum(axis=1).tolist() == [6] * 9 + [5]
    # Padding only after a stream's last target (the carried state of the
    # real characters is never touched by it).
    assert np.all(np.diff(ws, axis=1) <= 0)
    with pytest.raises(ValueError, match="`eval_batch_size`.*got 60"):
        stream_segments(ids, batch_size=60, bptt=4)


# --- the reference's plateau schedule (language_task.py) ------------------


def _rates(model):
    return [
        float(o.learning_rate.numpy())
        for o in learning_rate_optimizers(model.optimizer)
    ]


def test_plateau_decay_halves_both_rates_after_each_plateau():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(make_optimizer("rmsprop", 1e-3, 1e-4), "mse")
    decay = PlateauDecay(0.5)
    decay.set_model(model)
    base = np.array(_rates(model))
    # best-so-far: 3, 2, (2 ties: no progress), 2.5, 1, 1.5
    losses = [3.0, 2.0, 2.0, 2.5, 1.0, 1.5]
    scales = [1, 1, 0.5, 0.25, 0.25, 0.125]
    for epoch, (loss, scale) in enumerate(zip(losses, scales)):
        logs = {"val_loss": loss}
        decay.on_epoch_end(epoch, logs)
        np.testing.assert_allclose(_rates(model), base * scale, rtol=1e-6)
        assert logs["lr"] == pytest.approx(1e-3 * scale)
    # A resumed run starts from the best of the epochs already done.
    resumed = PlateauDecay(0.5, history=[3.0, 1.0])
    resumed.set_model(model)
    resumed.on_epoch_end(2, {"val_loss": 1.2})
    np.testing.assert_allclose(_rates(model), base * 0.0625, rtol=1e-6)
    with pytest.raises(ValueError, match="`val_loss`"):
        resumed.on_epoch_end(3, {"loss": 1.0})
    with pytest.raises(ValueError, match="`factor`"):
        PlateauDecay(1.0)


def test_ptb_run_applies_the_plateau_schedule(ptb_dir, tmp_path):
    settings = resolve(
        "ptb",
        "lstm",
        dict(
            data_dir=ptb_dir,
            units=8,
            embedding_dim=4,
            batch_size=2,
            bptt=5,
            eval_batch_size=2,
            epochs=5,
            optimizer="adam",
            lr=1e-30,  # the weights cannot move: no epoch improves
            plateau_factor=0.5,
            verbose=0,
        ),
    )
    run("ptb", "lstm", settings, out_dir=str(tmp_path / "run"))
    rows = load_metrics(str(tmp_path / "run"))
    assert len(rows) == 5 and all("lr" in r for r in rows)
    best, rate = math.inf, 1e-30
    halvings = 0
    for row in rows:
        if row["val_loss"] < best:
            best = row["val_loss"]
        else:
            rate, halvings = rate / 2, halvings + 1
        assert row["lr"] == pytest.approx(rate, rel=1e-5)
    assert halvings == 4  # after every epoch but the first
