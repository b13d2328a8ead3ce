"""Checkpoints of an unfinished run, for resuming it exactly.

`AtomicBackup` writes `backup/epoch-<k>.weights.h5` (weights and optimizer
state) after every epoch, checks that every weight is finite, and only
then commits it by replacing `backup/backup.json` atomically; the
previous checkpoint is removed after the commit. Keras' `BackupAndRestore`
writes its HDF5 file in place, so a run killed during the write leaves a
truncated file that cannot be restored; here a run killed at any moment
leaves a consistent backup.

`restore_backup` trusts nothing it reads: the commit must name a file as
we name it, inside `backup/`, with an epoch in range; a damaged commit or
a checkpoint that does not load falls back to the newest other
checkpoint that loads, and when none does it stops with a message naming
the file and the way out (`--overwrite`) instead of starting again in
silence.
"""

from __future__ import annotations

import json
import os
import re
import sys

import keras
import numpy as np

from tf_nnrnn.experiments.callbacks import TrainingDiverged, read_metrics_csv
from tf_nnrnn.experiments.presets import SettingError
from tf_nnrnn.experiments.results import atomic_write_json

__all__ = [
    "AtomicBackup",
    "Checkpoint",
    "read_commit",
    "restore_backup",
    "restore_checkpoint",
    "has_backup",
    "backup_epoch",
]

COMMIT = "backup.json"
_NAME = re.compile(r"^epoch-([1-9]\d*)\.weights\.h5$")


class Checkpoint(dict):
    """`{"epoch", "weights", "step", "seconds", "note"}` of a restored
    checkpoint (`note`: what was wrong with the newer ones, or "")."""


def _weights_name(epoch: int) -> str:
    return f"epoch-{epoch}.weights.h5"


def read_commit(backup_dir: str, max_epoch: int | None = None):
    """The validated commit of `backup_dir`.

    Returns:
        `(commit, problem)`: `commit` is a dict (`epoch`, `weights` path,
        `step`, `seconds`) or None; `problem` says why a present commit was
        rejected ("" when there is none or it is valid).

    Example:
        >>> import tempfile
        >>> read_commit(tempfile.mkdtemp())
        (None, '')
    """
    path = os.path.join(backup_dir, COMMIT)
    if not os.path.exists(path):
        return None, ""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as error:
        return None, f"{path} cannot be read ({error.__class__.__name__})"
    if not isinstance(data, dict):
        return None, f"{path} is not a checkpoint index"
    epoch, name = data.get("epoch"), data.get("weights")
    if type(epoch) is not int or epoch < 1:
        return None, f"{path} names epoch {epoch!r}"
    if max_epoch is not None and epoch > max_epoch:
        return None, f"{path} names epoch {epoch}, past the run's {max_epoch}"
    if name != _weights_name(epoch):
        return None, f"{path} names the file {name!r}, not one of ours"
    weights = os.path.join(backup_dir, name)
    if not os.path.isfile(weights):
        return None, f"{weights} named by {path} is missing"
    step, seconds = data.get("step"), data.get("seconds", 0.0)
    if step is not None and (type(step) is not int or step < epoch):
        return None, f"{path} names step {step!r}"
    if not isinstance(seconds, (int, float)) or not seconds >= 0:
        seconds = 0.0
    return {
        "epoch": epoch,
        "weights": weights,
        "step": step,
        "seconds": float(seconds),
    }, ""


def _candidates(backup_dir: str, max_epoch: int | None) -> list[dict]:
    """Every checkpoint file of ours, newest first."""
    found = []
    if os.path.isdir(backup_dir):
        for name in os.listdir(backup_dir):
            match = _NAME.match(name)
            if match and (max_epoch is None or int(match[1]) <= max_epoch):
                found.append(
                    {
                        "epoch": int(match[1]),
                        "weights": os.path.join(backup_dir, name),
                        "step": None,
                        "seconds": 0.0,
                    }
                )
    return sorted(found, key=lambda c: -c["epoch"])


def has_backup(backup_dir: str) -> bool:
    """True when `backup_dir` holds a commit or a checkpoint file of ours."""
    return os.path.exists(os.path.join(backup_dir, COMMIT)) or bool(
        _candidates(backup_dir, None)
    )


def backup_epoch(backup_dir: str, max_epoch: int | None = None) -> int:
    """Epochs completed by the valid commit in `backup_dir` (0 if none)."""
    commit, _ = read_commit(backup_dir, max_epoch)
    return commit["epoch"] if commit else 0


def _finite(model: keras.Model) -> bool:
    return all(
        np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in model.weights
    )


def restore_checkpoint(
    model: keras.Model, backup_dir: str, max_epoch: int | None = None
) -> Checkpoint | None:
    """Load the newest valid checkpoint of `backup_dir` into `model`.

    Args:
        model: the compiled model (its optimizer state is restored too).
        backup_dir: the folder `AtomicBackup` writes.
        max_epoch: the run's number of epochs (a commit past it is
            damaged).

    Returns:
        The `Checkpoint` loaded, or None when the folder holds none.

    Raises:
        SettingError (`out`): checkpoints exist but none loads.
    """
    commit, problem = read_commit(backup_dir, max_epoch)
    candidates = [commit] if commit else []
    candidates += [
        c
        for c in _candidates(backup_dir, max_epoch)
        if not commit or c["weights"] != commit["weights"]
    ]
    if not candidates and not problem:
        return None
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    notes = [problem] if problem else []
    for candidate in candidates:
        try:
            model.load_weights(candidate["weights"])
        except Exception as error:  # noqa: BLE001 - h5py/OSError/ValueError
            notes.append(
                f"{candidate['weights']} does not load "
                f"({error.__class__.__name__})"
            )
            continue
        if not _finite(model):
            notes.append(f"{candidate['weights']} holds non-finite weights")
            continue
        restored = Checkpoint(candidate)
        restored["note"] = "; ".join(notes)
        return restored
    raise SettingError(
        "out",
        f"the run's checkpoint cannot be used ({'; '.join(notes)}) and no "
        f"other checkpoint in {backup_dir} loads; pass --overwrite to start "
        "the run again, or choose another folder with --out.",
    )


def restore_backup(
    model: keras.Model, backup_dir: str, max_epoch: int | None = None
) -> int:
    """`restore_checkpoint`, returning the epochs done (0: none)."""
    checkpoint = restore_checkpoint(model, backup_dir, max_epoch)
    return checkpoint["epoch"] if checkpoint else 0


class AtomicBackup(keras.callbacks.Callback):
    """Back up weights and optimizer state after every epoch, atomically.

    Writes `epoch-<k>.weights.h5` in full, checks that all weights are
    finite, then writes `backup.json` (atomically, via `os.replace`)
    naming it, `k`, the updates done and the training seconds; only then
    the older weights file is removed. Non-finite weights are never
    committed: the callback raises `TrainingDiverged` naming the epoch
    whose checkpoint was kept. Restore with `restore_backup`.

    Args:
        backup_dir: folder of the backup (created when needed).
        progress: optional callable returning `(step, seconds)` so far,
            stored in the commit (the runner passes its `MetricsCSV`).

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

    def __init__(self, backup_dir: str, progress=None):
        super().__init__()
        self.backup_dir = backup_dir
        self.progress = progress

    def on_epoch_end(self, epoch, logs=None):
        old, _ = read_commit(self.backup_dir)
        if not _finite(self.model):
            kept = f"epoch {old['epoch']}'s" if old else "no"
            raise TrainingDiverged(
                f"training stopped: the weights became non-finite in epoch "
                f"{epoch + 1}; {kept} checkpoint was kept in "
                f"{self.backup_dir}. Try a smaller --lr / --lr-orth or "
                "--clip-norm."
            )
        os.makedirs(self.backup_dir, exist_ok=True)
        name = _weights_name(epoch + 1)
        path = os.path.join(self.backup_dir, name)
        self.model.save_weights(path, overwrite=True)
        commit = {"epoch": epoch + 1, "weights": name}
        if self.progress is not None:
            step, seconds = self.progress()
            commit.update(step=int(step), seconds=float(seconds))
        atomic_write_json(os.path.join(self.backup_dir, COMMIT), commit)
        if old is not None and os.path.abspath(old["weights"]) != (
            os.path.abspath(path)
        ):
            os.remove(old["weights"])


def resume(model, folder, config: dict, verbose: int = 1):
    """Restore a run folder's newest usable checkpoint into `model`.

    Args:
        model: the compiled model.
        folder: the `RunFolder`.
        config: the run's config (`epochs`, `steps_per_epoch`).
        verbose: print where the run resumes.

    Returns:
        `(epoch, step, seconds)` done (zeros when there is no checkpoint);
        `step` is None when it cannot be known (an epoch task's commit
        of an older version, and no metrics row for that epoch).
    """
    checkpoint = restore_checkpoint(model, folder.backup_dir, config["epochs"])
    if checkpoint is None:
        return 0, 0, 0.0
    epoch = checkpoint["epoch"]
    if checkpoint["note"]:
        print(
            f"warning: {checkpoint['note']}; resuming from the checkpoint "
            f"of epoch {epoch}.",
            file=sys.stderr,
        )
    step = checkpoint["step"]
    if step is None and config["steps_per_epoch"]:  # copy/adding
        step = epoch * config["steps_per_epoch"]
    if step is None:  # an epoch task's commit without its step: the CSV's
        rows = read_metrics_csv(folder.file("metrics.csv"))
        done = [r for r in rows if r["epoch"] == epoch]
        step = int(done[0]["step"]) if done else None
    if verbose:
        print(
            f"Resuming from {folder.path}: {epoch} of {config['epochs']} "
            "epochs done."
        )
    return epoch, step, checkpoint["seconds"]

