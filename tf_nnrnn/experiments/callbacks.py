"""Keras callbacks of the training runner (`tf_nnrnn.experiments.training`).

- `MetricsCSV`: one row per epoch (for copy/adding an "epoch" is
  `log_every` updates) with cumulative updates and seconds, rewritten
  atomically after every epoch and continued, not duplicated, on resume.
- `NaNGuard`: Keras' `TerminateOnNaN` that raises `TrainingDiverged` with
  where it happened and what to try.
- `ResetRNNState`: zero the states of stateful RNN layers at the start of
  every epoch, evaluation and prediction (truncated back-propagation
  carries the state only within one pass over the text).
- `AtomicBackup` / `restore_backup` live in
  `tf_nnrnn.experiments.checkpoints` (also importable from here).
- `BestWeights`: the best-validation weights, written the same way.
"""

from __future__ import annotations

import csv
import math
import os
import time

import keras

from tf_nnrnn.experiments.results import atomic_write_text

__all__ = [
    "BestWeights",
    "MetricsCSV",
    "NaNGuard",
    "ResetRNNState",
    "TrainingDiverged",
]

_MOVED = ("AtomicBackup", "restore_backup", "backup_epoch")


def __getattr__(name: str):  # PEP 562: the checkpoint names of 0.1
    if name in _MOVED:
        from tf_nnrnn.experiments import checkpoints

        return getattr(checkpoints, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def read_metrics_csv(path: str) -> list[dict]:
    """Rows of a metrics CSV as dicts of floats (empty if missing).

    A damaged file (truncated, edited, not UTF-8) yields its readable
    leading rows: each kept row has a number in every filled column, an
    `epoch` and a `step`, and epochs and steps that increase.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "metrics.csv")
        >>> _ = open(path, "w").write("epoch,step,loss\\n1,10,0.5\\n2,2")
        >>> read_metrics_csv(path)
        [{'epoch': 1.0, 'step': 10.0, 'loss': 0.5}]
    """
    rows: list[dict] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            records = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return rows
    for record in records:
        try:
            row = {
                k: float(v)
                for k, v in record.items()
                if k is not None and v not in ("", None)
            }
        except (TypeError, ValueError):
            break
        if (
            None in record
            or None in record.values()
            or not float(row.get("epoch", 0)).is_integer()
            or row.get("epoch", 0) <= (rows[-1]["epoch"] if rows else 0)
            or "step" not in row
            or (rows and row["step"] < rows[-1]["step"])
        ):
            break
        rows.append(row)
    return rows


class MetricsCSV(keras.callbacks.Callback):
    """Write `metrics.csv` atomically after every epoch.

    Columns: `epoch` (1-based), `step` (cumulative updates), `seconds`
    (cumulative training time, across resumed runs) and every logged
    metric. On resume (`initial_epoch > 0`) the rows of the first
    `initial_epoch` epochs are kept and later ones dropped, so a row is
    never duplicated.

    Args:
        path: the CSV file (None: rows are kept in memory only).
        initial_epoch: epochs already done (read from the backup).

    Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "metrics.csv")
        >>> cb = MetricsCSV(path)
        >>> cb.on_train_begin(); cb.on_epoch_begin(0)
        >>> cb.on_train_batch_end(9); cb.on_epoch_end(0, {"loss": 0.5})
        >>> open(path).read().splitlines()[0]
        'epoch,step,seconds,loss'
    """

    def __init__(
        self,
        path: str | None,
        initial_epoch: int = 0,
        initial_step: int | None = None,
        initial_seconds: float | None = None,
    ):
        super().__init__()
        self.path = path
        old = read_metrics_csv(path) if initial_epoch and path else []
        self.rows = [r for r in old if r["epoch"] <= initial_epoch]
        #: Finished epochs whose rows the CSV lacked (damaged or deleted).
        self.lost_epochs = initial_epoch - len(self.rows)
        last = self.rows[-1] if self.rows else {}
        self._step = int(last.get("step", 0))
        self._seconds = float(last.get("seconds", 0.0))
        if initial_step is not None:  # the checkpoint's count wins
            self._step = int(initial_step)
        if initial_seconds:
            self._seconds = float(initial_seconds)
        self._epoch = initial_epoch
        self._start = None
        self._epoch_batches = 0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self._epoch_batches = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        self._step += self._epoch_batches
        self._epoch = epoch + 1
        seconds = self._seconds + time.perf_counter() - self._start
        row = {"epoch": epoch + 1, "step": self._step, "seconds": seconds}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.rows.append(row)
        self.write()

    @property
    def seconds(self) -> float:
        """Training seconds so far, across resumed runs."""
        return self.rows[-1]["seconds"] if self.rows else self._seconds

    @property
    def step_count(self) -> int:
        """Updates done so far, across resumed runs."""
        return self._step

    @property
    def epoch_count(self) -> int:
        """Epochs finished so far, across resumed runs."""
        return self._epoch

    def progress(self) -> tuple[int, float]:
        """`(updates, seconds)` so far (stored with each checkpoint)."""
        return self._step, self.seconds

    def write(self):
        if self.path is None:  # keep the rows in memory only
            return
        columns: list[str] = []
        for row in self.rows:
            columns += [k for k in row if k not in columns]
        lines = [",".join(columns)]
        for row in self.rows:
            lines.append(",".join(_fmt(row.get(c)) for c in columns))
        atomic_write_text(self.path, "\n".join(lines) + "\n")


def _fmt(value) -> str:
    if value is None:
        return ""
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


class PlainProgress(keras.callbacks.Callback):
    """One plain line per epoch, for output that is not a terminal.

    Keras' progress bar writes ANSI escape codes and carriage returns,
    which clutter a redirected log; the runner uses this instead when
    stdout is not a terminal.

    Args:
        epochs: the total number of epochs (rows).
        metrics: the run's `MetricsCSV` (updates and seconds so far).

    Example:
        >>> metrics = MetricsCSV(None)
        >>> metrics.on_train_begin(); metrics.on_epoch_begin(0)
        >>> metrics.on_train_batch_end(9)
        >>> metrics.on_epoch_end(0, {"loss": 0.5})
        >>> PlainProgress(4, metrics).on_epoch_end(0, {"loss": 0.5})
        epoch 1/4 - 10 updates - loss 0.5 - ...s
    """

    def __init__(self, epochs: int, metrics: MetricsCSV):
        super().__init__()
        self.epochs = epochs
        self.metrics = metrics

    def on_epoch_end(self, epoch, logs=None):
        parts = [f"epoch {epoch + 1}/{self.epochs}"]
        parts.append(f"{self.metrics.step_count} updates")
        parts += [f"{k} {float(v):.4g}" for k, v in (logs or {}).items()]
        parts.append(f"{self.metrics.seconds:.1f}s")
        print(" - ".join(parts), flush=True)


class NaNGuard(keras.callbacks.TerminateOnNaN):
    """Stop at the first NaN or infinite loss with a clear message.

    Raises `TrainingDiverged` (so no result files are written) instead of
    letting a diverged model be evaluated.

    Example:
        >>> guard = NaNGuard()
        >>> guard.on_batch_end(0, {"loss": float("nan")})
        Traceback (most recent call last):
        ...
        tf_nnrnn.experiments.callbacks.TrainingDiverged: training stopped: ...
    """

    def __init__(self):
        super().__init__(raise_error=True)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(
                f"training stopped: the loss became {float(loss)} in epoch "
                f"{self._epoch + 1}, batch {batch + 1}; no results were "
                "written. Try a smaller --lr / --lr-orth or --clip-norm."
            )


class ResetRNNState(keras.callbacks.Callback):
    """Zero every stateful RNN layer's state at each pass's start.

    In `model.fit(segments, callbacks=[ResetRNNState()])`, Keras calls it
    at every epoch's start, and at every evaluation and prediction.

    Example:
        >>> import numpy as np
        >>> rnn = keras.layers.SimpleRNN(2, stateful=True)
        >>> model = keras.Sequential([keras.Input(batch_shape=(1, 3, 1)), rnn])
        >>> _ = model(np.ones((1, 3, 1)))  # the state moves on
        >>> callback = ResetRNNState()
        >>> callback.set_model(model)
        >>> callback.on_epoch_begin(0)
        >>> keras.ops.convert_to_numpy(rnn.states[0]).tolist()
        [[0.0, 0.0]]
    """

    def _reset(self):
        for layer in self.model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_state()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()

    def on_test_begin(self, logs=None):
        self._reset()

    def on_test_end(self, logs=None):
        self._reset()

    def on_predict_begin(self, logs=None):
        self._reset()


class BestWeights(keras.callbacks.Callback):
    """Keep the weights of the best epoch by `monitor`, written atomically.

    Args:
        path: the `.weights.h5` file.
        monitor: a logged metric, e.g. `"val_accuracy"`.
        mode: `"min"` or `"max"`.
        best: the best value seen before (a resumed run), or None.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "best.weights.h5")
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> cb = BestWeights(path, "val_loss", "min")
        >>> cb.set_model(model)
        >>> cb.on_epoch_end(0, {"val_loss": 0.5})
        >>> cb.on_epoch_end(1, {"val_loss": 0.7})  # worse: not written
        >>> cb.best, os.path.exists(path)
        (0.5, True)
    """

    def __init__(self, path: str, monitor: str, mode: str, best=None):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.mode = mode
        self.best = best

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            return
        if self._better(float(value)):
            self.best = float(value)
            folder = os.path.dirname(os.path.abspath(self.path))
            tmp = os.path.join(folder, "partial-best.weights.h5")
            self.model.save_weights(tmp, overwrite=True)
            os.replace(tmp, self.path)
