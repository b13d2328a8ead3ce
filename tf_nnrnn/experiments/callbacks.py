"""Keras callbacks of the training runner (`tf_nnrnn.experiments.training`).

- `MetricsCSV`: one row per epoch (for copy/adding an "epoch" is
  `log_every` updates) with cumulative updates and seconds, rewritten
  atomically after every epoch and continued, not duplicated, on resume.
- `NaNGuard`: Keras' `TerminateOnNaN` that raises `TrainingDiverged` with
  where it happened and what to try.
- `ResetRNNState`: zero the states of stateful RNN layers at the start of
  every epoch, evaluation and prediction (truncated back-propagation
  carries the state only within one pass over the text).
- `AtomicBackup` / `restore_backup`: the training state (weights and
  optimizer state) after every epoch, for resuming an interrupted run.
  Keras' `BackupAndRestore` writes its HDF5 file in place, so a run killed
  during the write leaves a truncated file that cannot be restored (our
  kill-and-rerun test hit exactly that); here every file is complete
  before a small JSON "commit" file names it.
- `BestWeights`: the best-validation weights, written the same way.
"""

from __future__ import annotations

import csv
import json
import math
import os
import time

import keras

from tf_nnrnn.experiments.results import atomic_write_json, atomic_write_text

__all__ = [
    "AtomicBackup",
    "BestWeights",
    "MetricsCSV",
    "NaNGuard",
    "ResetRNNState",
    "TrainingDiverged",
    "restore_backup",
    "backup_epoch",
]


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite."""


def read_metrics_csv(path: str) -> list[dict]:
    """Rows of a metrics CSV as dicts of floats (empty if missing)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [
            {k: float(v) for k, v in row.items() if v not in ("", None)}
            for row in csv.DictReader(f)
        ]


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

    def __init__(self, path: str | None, initial_epoch: int = 0):
        super().__init__()
        self.path = path
        old = read_metrics_csv(path) if initial_epoch and path else []
        self.rows = [r for r in old if r.get("epoch", 0) <= initial_epoch]
        last = self.rows[-1] if self.rows else {}
        self._step = int(last.get("step", 0))
        self._seconds = float(last.get("seconds", 0.0))
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
        seconds = self._seconds + time.perf_counter() - self._start
        row = {"epoch": epoch + 1, "step": self._step, "seconds": seconds}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.rows.append(row)
        self.write()

    @property
    def seconds(self) -> float:
        return self.rows[-1]["seconds"] if self.rows else 0.0

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


_COMMIT = "backup.json"


def _read_commit(backup_dir: str) -> dict | None:
    path = os.path.join(backup_dir, _COMMIT)
    try:
        with open(path, encoding="utf-8") as f:
            commit = json.load(f)
        weights = os.path.join(backup_dir, commit["weights"])
        if not os.path.exists(weights):
            return None
        return {"epoch": int(commit["epoch"]), "weights": weights}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def backup_epoch(backup_dir: str) -> int:
    """Epochs completed by the run backed up in `backup_dir` (0 if none)."""
    commit = _read_commit(backup_dir)
    return commit["epoch"] if commit else 0


def restore_backup(model: keras.Model, backup_dir: str) -> int:
    """Load the backed-up weights and optimizer state into `model`.

    Returns:
        The number of completed epochs (0 when there is no backup), to pass
        as `initial_epoch` to `model.fit`.
    """
    commit = _read_commit(backup_dir)
    if commit is None:
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(commit["weights"])
    return commit["epoch"]


class AtomicBackup(keras.callbacks.Callback):
    """Back up weights and optimizer state after every epoch, atomically.

    Writes `epoch-<k>.weights.h5` in full, then `backup.json` (atomically,
    via `os.replace`) naming it and `k`; only then the older weights file
    is removed. A run killed at any moment leaves a consistent backup.
    Restore with `restore_backup(model, backup_dir)`.

    Args:
        backup_dir: folder of the backup (created when needed).

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> model.compile("sgd", "mse")
        >>> folder = tempfile.mkdtemp()
        >>> _ = model.fit(np.ones((4, 2)), np.ones((4, 1)), epochs=2,
        ...               verbose=0, callbacks=[AtomicBackup(folder)])
        >>> restore_backup(model, folder)
        2
    """

    def __init__(self, backup_dir: str):
        super().__init__()
        self.backup_dir = backup_dir

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup_dir, exist_ok=True)
        old = _read_commit(self.backup_dir)
        name = f"epoch-{epoch + 1}.weights.h5"
        path = os.path.join(self.backup_dir, name)
        self.model.save_weights(path, overwrite=True)
        atomic_write_json(
            os.path.join(self.backup_dir, _COMMIT),
            {"epoch": epoch + 1, "weights": name},
        )
        if old is not None and os.path.abspath(old["weights"]) != (
            os.path.abspath(path)
        ):
            os.remove(old["weights"])


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
