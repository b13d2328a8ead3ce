"""Penn Treebank characters: next-character prediction in bits per character.

The files `ptb.char.{train,valid,test}.txt` of Mikolov's
`simple-examples.tgz` hold one sentence per line, characters separated by
spaces and `_` between words. As in the nnRNN reference code every
whitespace-separated token is a character and each line ends with `<eos>`
(about 50 symbols). The text is cut into `batch_size` parallel streams;
batch `i` holds segment `i` (length `bptt`, the truncated
back-propagation length, 150 or 300 in the paper) of every stream, so a
stateful RNN carries its hidden state from one segment to the next within
an epoch. Bits per character: `BPC = cross-entropy (nats) / ln 2`.

Validation and test follow the reference's protocol (`language_task.py`:
10 streams, the state carried across segments, the final shorter segment
included): `stream_segments` cuts a split so that every character after
the first is a target exactly once, and `tf_nnrnn.experiments.evaluation`
scores it
as `BPC = total nats / (characters · ln 2)`.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from tf_nnrnn.experiments.tasks import check_int
from tf_nnrnn.metrics import BitsPerCharacter  # noqa: F401 (old path)

__all__ = [
    "PTBTask",
    "BitsPerCharacter",
    "load_ptb_chars",
    "batchify",
    "stream_segments",
    "PTB_URL",
    "PTB_MD5",
]

PTB_URL = "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz"
PTB_MD5 = "30177ea32e27c525793142b6bf2c8e2d"
SPLITS = ("train", "valid", "test")
EOS = "<eos>"


def _read_tokens(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [tok for line in f for tok in line.split() + [EOS]]


def _fetch_archive() -> str:
    """Download and extract the PTB archive (MD5-checked) with Keras."""
    path = keras.utils.get_file(
        "simple-examples.tgz",
        origin=PTB_URL,
        file_hash=PTB_MD5,
        hash_algorithm="md5",
        extract=True,
    )
    root = path if os.path.isdir(path) else os.path.dirname(path)
    for folder, _, files in os.walk(root):
        if "ptb.char.train.txt" in files:
            return folder
    raise FileNotFoundError(f"ptb.char.train.txt not found under {root}.")


def load_ptb_chars(data_dir: str | None = None) -> dict:
    """Token ids of the three PTB character splits and their vocabulary.

    Args:
        data_dir: folder with `ptb.char.{train,valid,test}.txt`; None
            downloads the standard archive with `keras.utils.get_file`
            (MD5-verified) into the Keras cache.

    Returns:
        `{"train": ids, "valid": ids, "test": ids, "vocabulary": [...]}`,
        ids int32 numpy arrays, the vocabulary sorted (so ids are stable).

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> for s in ("train", "valid", "test"):
        ...     with open(os.path.join(d, f"ptb.char.{s}.txt"), "w") as f:
        ...         _ = f.write("a b _ c\\n")
        >>> load_ptb_chars(d)["vocabulary"]
        ['<eos>', '_', 'a', 'b', 'c']
    """
    if data_dir is None:
        try:
            data_dir = _fetch_archive()
        except Exception as error:
            reason = (str(error).splitlines() or [""])[0][:200]
            raise FileNotFoundError(
                f"Could not download the PTB archive ({reason}); pass "
                "--data-dir (Python: `data_dir`), a folder with "
                "ptb.char.{train,valid,test}.txt (from simple-examples.tgz, "
                f"{PTB_URL})."
            ) from error
    paths = {s: os.path.join(data_dir, f"ptb.char.{s}.txt") for s in SPLITS}
    missing = [p for p in paths.values() if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(
            "Received an invalid value for --data-dir (`data_dir`), "
            "expected a folder holding ptb.char.{train,valid,test}.txt, got "
            f"{data_dir!r} (missing "
            f"{', '.join(os.path.basename(p) for p in missing)})."
        )
    tokens = {s: _read_tokens(p) for s, p in paths.items()}
    vocabulary = sorted(set().union(*tokens.values()))
    index = {tok: i for i, tok in enumerate(vocabulary)}
    out = {s: np.array([index[t] for t in tokens[s]], np.int32) for s in SPLITS}
    out["vocabulary"] = vocabulary
    return out


def batchify(ids: np.ndarray, batch_size: int, bptt: int):
    """Cut a token stream into `batch_size` streams and `bptt` segments.

    The stream is trimmed to `batch_size · L` tokens and reshaped to
    `(batch_size, L)`; segment `i` is `x = streams[:, i·bptt:(i+1)·bptt]`,
    `y` the same shifted by one token. A final partial segment is dropped
    so that every batch has the fixed shape a stateful RNN needs.

    Returns:
        `(x, y)` int32 arrays shaped `(segments, batch_size, bptt)`.

    Example:
        >>> x, y = batchify(np.arange(21), batch_size=2, bptt=3)
        >>> x[0].tolist(), y[0].tolist()
        ([[0, 1, 2], [10, 11, 12]], [[1, 2, 3], [11, 12, 13]])
    """
    batch_size = check_int("batch_size", batch_size, minimum=1)
    bptt = check_int("bptt", bptt, minimum=1)
    length = len(ids) // batch_size
    segments = (length - 1) // bptt
    if segments < 1:
        raise ValueError(
            f"Received too little text for `batch_size`={batch_size} and "
            f"`bptt`={bptt}: {len(ids)} tokens give no full segment."
        )
    streams = np.asarray(ids[: batch_size * length]).reshape(batch_size, -1)
    x = np.stack(
        [streams[:, i * bptt : (i + 1) * bptt] for i in range(segments)]
    )
    y = np.stack(
        [streams[:, i * bptt + 1 : (i + 1) * bptt + 1] for i in range(segments)]
    )
    return x.astype(np.int32), y.astype(np.int32)


def stream_segments(ids: np.ndarray, batch_size: int, bptt: int):
    """Cut a whole token stream into padded segments for evaluation.

    Every token after the first is a target exactly once: the `n - 1`
    next-token pairs `(ids[j], ids[j + 1])` are split, in order, into
    `batch_size` contiguous streams of `L_k` pairs (the first `(n - 1) mod
    batch_size` streams hold one pair more), so stream `k + 1` starts where
    stream `k` stops. Each stream is zero-padded to whole segments of
    `bptt` steps; `w` is 1 on real targets and 0 on padding, which only
    follows a stream's last target. The last segment is thus the shorter
    final segment of the reference code, padded to the common shape.

    Returns:
        `(x, y, w)` shaped `(segments, batch_size, bptt)`: int32 inputs,
        int32 targets and float32 weights with `w.sum() == len(ids) - 1`.

    Example:
        >>> x, y, w = stream_segments(np.arange(8), batch_size=2, bptt=3)
        >>> x[:, 0].tolist(), w[:, 1].tolist()
        ([[0, 1, 2], [3, 0, 0]], [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    """
    batch_size = check_int("eval_batch_size", batch_size, minimum=1)
    bptt = check_int("bptt", bptt, minimum=1)
    pairs = len(ids) - 1
    shortest, extra = divmod(pairs, batch_size) if pairs > 0 else (0, 0)
    if shortest < 1:
        raise ValueError(
            "Received an invalid value for argument `eval_batch_size`, "
            f"expected at most {max(pairs, 0)} (the stream's {len(ids)} "
            f"tokens give {max(pairs, 0)} targets), got {batch_size}."
        )
    lengths = [shortest + (k < extra) for k in range(batch_size)]
    segments = -(-max(lengths) // bptt)
    shape = (batch_size, segments * bptt)
    x, y = np.zeros(shape, np.int32), np.zeros(shape, np.int32)
    w = np.zeros(shape, np.float32)
    ids = np.asarray(ids)
    start = 0
    for k, length in enumerate(lengths):
        x[k, :length] = ids[start : start + length]
        y[k, :length] = ids[start + 1 : start + length + 1]
        w[k, :length] = 1.0
        start += length
    split = (batch_size, segments, bptt)
    return tuple(a.reshape(split).transpose(1, 0, 2) for a in (x, y, w))


def unigram_bpc(train: np.ndarray, test: np.ndarray, vocab: int) -> float:
    """Bits per character of the add-one unigram model of `train` on `test`.

    The memoryless baseline a character model must beat.
    """
    counts = np.bincount(train, minlength=vocab) + 1.0
    logp = np.log2(counts / counts.sum())
    return float(-logp[test].mean())


class PTBTask:
    """Data, loss, metric and baseline of PTB character modelling.

    Args:
        data_dir: folder with `ptb.char.{train,valid,test}.txt`, or None to
            download the standard archive (needs internet).
        bptt: truncated back-propagation length (segment length).
        embedding_dim: size of the character embedding (200 in the paper).

    Example:
        >>> import tempfile, os
        >>> d = tempfile.mkdtemp()
        >>> for s in ("train", "valid", "test"):
        ...     with open(os.path.join(d, f"ptb.char.{s}.txt"), "w") as f:
        ...         _ = f.write("a b _ c _ a\\n" * 20)
        >>> task = PTBTask(d, bptt=5)
        >>> x, y = next(iter(task.train_dataset(batch_size=2, seed=0)))
        >>> x.shape, y.shape
        (TensorShape([2, 5]), TensorShape([2, 5]))
    """

    name = "ptb"
    return_sequences = True
    uses_steps = False
    stateful = True
    test_metric = "test_bpc"
    monitor_metric = "bpc"

    def __init__(
        self,
        data_dir: str | None = None,
        bptt: int = 150,
        embedding_dim: int = 200,
    ):
        self.bptt = check_int("bptt", bptt, minimum=1)
        self.embedding_dim = check_int("embedding_dim", embedding_dim, 1)
        self.data_dir = data_dir
        data = load_ptb_chars(data_dir)
        self.vocabulary = data.pop("vocabulary")
        self.ids = data
        self.baseline = unigram_bpc(
            data["train"], data["test"], len(self.vocabulary)
        )

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    @property
    def output_units(self) -> int:
        return self.vocabulary_size

    @property
    def input_shape(self) -> tuple[int]:
        return (self.bptt,)

    def _dataset(self, split: str, batch_size: int) -> tf.data.Dataset:
        x, y = batchify(self.ids[split], batch_size, self.bptt)
        # In order: segment i + 1 continues segment i of every stream.
        return tf.data.Dataset.from_tensor_slices((x, y)).prefetch(2)

    def train_dataset(
        self, batch_size: int, seed: int, **unused
    ) -> tf.data.Dataset:
        return self._dataset("train", batch_size)

    def validation_dataset(self, batch_size: int, seed: int) -> tf.data.Dataset:
        return self._dataset("valid", batch_size)

    def test_dataset(self, batch_size: int, seed: int) -> tf.data.Dataset:
        return self._dataset("test", batch_size)

    def eval_segments(self, split: str, batch_size: int = 10):
        """`stream_segments` of the `"valid"` or `"test"` split: every
        character after the first scored once, `batch_size` streams."""
        return stream_segments(self.ids[split], batch_size, self.bptt)

    def loss(self) -> keras.losses.Loss:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self) -> list:
        return [
            BitsPerCharacter(),
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        ]

    def summarize(self, test_logs: dict) -> dict:
        summary = {
            "test_bpc": float(test_logs["bpc"]),
            "test_accuracy": float(test_logs["accuracy"]),
            "baseline": self.baseline,
        }
        if "characters" in test_logs:  # the number of scored targets
            summary["scored_characters"] = int(test_logs["characters"])
        return summary

    def describe(self, summary: dict) -> str:
        bpc = summary["test_bpc"]
        verdict = "below" if bpc < self.baseline else "NOT below"
        return (
            f"PTB chars (bptt {self.bptt}): test {bpc:.3f} bits per "
            f"character, {verdict} the unigram baseline {self.baseline:.3f}; "
            f"accuracy {summary['test_accuracy']:.3f}"
        )

    def config(self) -> dict:
        return {
            "data_dir": self.data_dir,
            "bptt": self.bptt,
            "embedding_dim": self.embedding_dim,
            "vocabulary_size": self.vocabulary_size,
        }
