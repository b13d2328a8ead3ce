"""Tests of the PTB character pipeline on a small text fixture."""

import math

import numpy as np
import pytest

from tf_nnrnn.experiments.tasks.ptb import (
    BitsPerCharacter,
    PTBTask,
    batchify,
    load_ptb_chars,
    stream_segments,
)

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
    with pytest.raises(FileNotFoundError, match="`data_dir`"):
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
