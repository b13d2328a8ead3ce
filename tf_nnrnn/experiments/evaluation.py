"""Stateful evaluation of a character model over whole text streams.

The nnRNN reference code (`language_task.py`) scores PTB's validation and
test text with an evaluation batch of 10 streams, whatever the training
batch, the hidden state starting from zero and carried from one `bptt`
segment to the next, and the final, shorter segment included. Here a
second model built by the same builder with the evaluation batch receives
the trained weights before every evaluation, its state is reset, and a
loop over `tf_nnrnn.experiments.tasks.ptb.stream_segments` (every character
after the
first a target exactly once) sums

    nats = Σ_targets -ln softmax(logits)[target],
    BPC = nats / (characters · ln 2).

`StreamValidation` does this at the end of every epoch and adds `val_loss`
(nats per character, without regularization penalties), `val_bpc` and
`val_accuracy` to the epoch's logs.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tf_nnrnn.experiments.models import build_model
from tf_nnrnn.experiments.presets import SettingError

__all__ = ["StreamEvaluator", "StreamValidation"]


class StreamEvaluator:
    """Score a stateful sequence model over padded stream segments.

    Args:
        model: a stateful model whose batch size is the evaluation batch
            (it receives the weights of the model being evaluated).
        segments: `{split: (x, y, w)}`, each shaped `(segments, batch,
            bptt)` as `stream_segments` returns them; `w` weights the
            targets (0 on padding).

    Example:
        >>> import os, tempfile
        >>> from tf_nnrnn.experiments.presets import Settings
        >>> from tf_nnrnn.experiments.tasks.ptb import PTBTask
        >>> d = tempfile.mkdtemp()
        >>> for s in ("train", "valid", "test"):
        ...     with open(os.path.join(d, f"ptb.char.{s}.txt"), "w") as f:
        ...         _ = f.write("a b _ c _ a\\n" * 20)
        >>> task = PTBTask(d, bptt=5, embedding_dim=4)
        >>> settings = Settings(units=4, batch_size=2, eval_batch_size=10)
        >>> evaluator = StreamEvaluator.for_task(task, "lstm", settings)
        >>> evaluator.evaluate(None, "test")["characters"]  # 140 tokens
        139
    """

    def __init__(self, model: keras.Model, segments: dict[str, tuple]):
        self.model = model
        self.segments = segments
        self._step = tf.function(self._segment_sums)

    @classmethod
    def for_task(cls, task: Any, cell: str, settings: Any) -> StreamEvaluator:
        """The evaluator of `task`'s `"valid"` and `"test"` splits.

        The model is `build_model(task, cell, settings)` with
        `batch_size = settings.eval_batch_size`.

        Raises:
            SettingError: a split has fewer targets than
                `eval_batch_size` streams.
        """
        batch = settings.eval_batch_size
        try:
            segments = {
                s: task.eval_segments(s, batch) for s in ("valid", "test")
            }
        except ValueError as error:
            raise SettingError("eval_batch_size", str(error)) from error
        evaluation = dataclasses.replace(settings, batch_size=batch)
        return cls(build_model(task, cell, evaluation), segments)

    def _segment_sums(self, x, y, w):
        logits = keras.ops.cast(self.model(x, training=False), "float32")
        nats = keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True
        )
        hits = keras.ops.equal(keras.ops.argmax(logits, axis=-1), y)
        hits = keras.ops.cast(hits, "float32")
        return keras.ops.sum(nats * w), keras.ops.sum(hits * w)

    def reset_state(self) -> None:
        for layer in self.model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_state()

    def evaluate(self, source: keras.Model | None, split: str) -> dict:
        """Score `split` with `source`'s weights (None: the current ones).

        Returns:
            `{"loss": nats per character, "bpc", "accuracy",
            "characters": the number of scored targets}`.
        """
        if split not in self.segments:
            raise ValueError(
                "Received an invalid value for argument `split`, expected "
                f"one of {sorted(self.segments)}, got {split!r}."
            )
        if source is not None:
            self.model.set_weights(source.get_weights())
        self.reset_state()
        x, y, w = self.segments[split]
        nats = correct = 0.0
        for i in range(len(x)):
            segment_nats, segment_hits = self._step(x[i], y[i], w[i])
            nats += float(segment_nats)
            correct += float(segment_hits)
        self.reset_state()
        characters = int(np.sum(w, dtype=np.float64))
        return {
            "loss": nats / characters,
            "bpc": nats / (characters * math.log(2.0)),
            "accuracy": correct / characters,
            "characters": characters,
        }


class StreamValidation(keras.callbacks.Callback):
    """Add `val_loss`, `val_bpc` and `val_accuracy` at every epoch's end.

    Place it before the callbacks that read them (metrics CSV, best
    weights): Keras passes one logs dictionary to every callback in turn.

    Args:
        evaluator: a `StreamEvaluator`.
        split: the split to score (default `"valid"`).

    Example:
        In `model.fit(train, callbacks=[StreamValidation(evaluator), csv])`
        Keras calls it at every epoch's end; here it is called by hand, on
        the tiny `PTBTask` of `StreamEvaluator`'s example:

        >>> import os, tempfile
        >>> from tf_nnrnn.experiments.models import build_model
        >>> from tf_nnrnn.experiments.presets import Settings
        >>> from tf_nnrnn.experiments.tasks.ptb import PTBTask
        >>> d = tempfile.mkdtemp()
        >>> for s in ("train", "valid", "test"):
        ...     with open(os.path.join(d, f"ptb.char.{s}.txt"), "w") as f:
        ...         _ = f.write("a b _ c _ a\\n" * 20)
        >>> task = PTBTask(d, bptt=5, embedding_dim=4)
        >>> settings = Settings(units=4, batch_size=2, eval_batch_size=10)
        >>> evaluator = StreamEvaluator.for_task(task, "lstm", settings)
        >>> callback = StreamValidation(evaluator)
        >>> callback.set_model(build_model(task, "lstm", settings))
        >>> logs = {"loss": 1.6}
        >>> callback.on_epoch_end(0, logs)
        >>> sorted(logs)
        ['loss', 'val_accuracy', 'val_bpc', 'val_loss']
    """

    def __init__(self, evaluator: StreamEvaluator, split: str = "valid"):
        super().__init__()
        self.evaluator = evaluator
        self.split = split

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        scores = self.evaluator.evaluate(self.model, self.split)
        logs.update(
            {f"val_{k}": v for k, v in scores.items() if k != "characters"}
        )
