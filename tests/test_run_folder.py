"""A run never deletes or overwrites what it did not write, and never
claims work it did not do (tf_nnrnn.experiments.run_folder, checkpoints,
training.run): each test reproduces one fault of the data-loss list."""

import hashlib
import json
import os

import keras
import numpy as np
import pytest

from tf_nnrnn.experiments.callbacks import TrainingDiverged, read_metrics_csv
from tf_nnrnn.experiments.presets import SettingError, resolve
from tf_nnrnn.experiments.run_folder import RunFolder
from tf_nnrnn.experiments.training import run

# 3 epochs of 2 updates; an LSTM is the quickest cell to build.
TINY = dict(time_lag=3, units=4, steps=6, log_every=2, test_size=4, verbose=0)
CELL = "lstm"


def settings(**kwargs):
    return resolve("copy", CELL, {**TINY, **kwargs})


class StopAt(keras.callbacks.Callback):
    """Interrupt a run at the start of epoch `epoch` (0-based)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("stopped by the test")


def snapshot(root) -> dict:
    """{relative path: sha1} of every file under `root`."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                digest = hashlib.sha1(f.read()).hexdigest()
            found[os.path.relpath(path, root)] = digest
    return found


def interrupted(out, epoch=1):
    """A run of `out` stopped after `epoch` finished epochs."""
    with pytest.raises(KeyboardInterrupt):
        run("copy", CELL, settings(), str(out), callbacks=[StopAt(epoch)])
    return json.load(open(out / "backup" / "backup.json"))


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# -- folders that are not ours ---------------------------------------------
@pytest.mark.parametrize(
    "user_files", [["notes.txt"], ["backup/x/t"], ["result.json"]]
)
def test_a_foreign_folder_is_refused_and_untouched(tmp_path, user_files):
    out = tmp_path / "d"
    for name in user_files:
        write(out / name, "the user's " + name)
    before = snapshot(out)
    with pytest.raises(SettingError, match="did not write") as info:
        run("copy", CELL, settings(), str(out))
    assert info.value.name == "out"
    assert snapshot(out) == before
    with pytest.raises(SettingError, match="did not write"):
        run("copy", CELL, settings(), str(out), overwrite=True)
    assert snapshot(out) == before


@pytest.mark.parametrize("kind", ["file", "under_file"])
def test_out_that_is_a_file_is_a_setting_error(tmp_path, kind):
    target = tmp_path / "f"
    target.write_text("keep")
    out = target if kind == "file" else target / "sub"
    with pytest.raises(SettingError, match="is a file") as info:
        run("copy", CELL, settings(), str(out))
    assert info.value.name == "out"
    assert target.read_text() == "keep"


def test_finished_run_is_reused_and_other_settings_refused(tmp_path):
    out = tmp_path / "run"
    first = run("copy", CELL, settings(), str(out))
    assert first["steps"] == 6 and not first.get("reused")
    write(out / "backup" / "x" / "t", "the user's")  # kept whatever happens
    before = snapshot(out)
    again = run("copy", CELL, settings(), str(out))
    assert again["reused"] and again["steps"] == 6
    assert snapshot(out) == before  # nothing retrained or rewritten
    with pytest.raises(SettingError, match=r"different settings \(seed\)"):
        run("copy", CELL, settings(seed=3), str(out))
    assert snapshot(out) == before
    third = run("copy", CELL, settings(seed=3), str(out), overwrite=True)
    assert third["steps"] == 6 and not third.get("reused")
    assert (out / "backup" / "x" / "t").read_text() == "the user's"
    assert json.load(open(out / "config.json"))["settings"]["seed"] == 3


def test_damaged_config_is_named_not_a_traceback(tmp_path):
    out = tmp_path / "run"
    interrupted(out)
    (out / "config.json").write_bytes(b"\xff{not json")
    with pytest.raises(SettingError, match="config.json.*--overwrite"):
        run("copy", CELL, settings(), str(out))


# -- the checkpoint index ------------------------------------------------------
@pytest.mark.parametrize(
    "edit",
    [
        {"epoch": 999, "weights": "epoch-999.weights.h5"},
        {"epoch": -5, "weights": "epoch--5.weights.h5"},
        {"epoch": 1, "weights": "../../outside.weights.h5"},
        "truncated",
    ],
    ids=["epoch999", "epoch-5", "outside", "truncated"],
)
def test_a_bad_checkpoint_index_falls_back_to_the_checkpoint(tmp_path, edit):
    out = tmp_path / "run"
    commit = interrupted(out)
    assert commit["epoch"] == 1
    outside = tmp_path / "outside.weights.h5"
    outside.write_bytes(b"a file of the user's")
    index = out / "backup" / "backup.json"
    if edit == "truncated":
        index.write_text(index.read_text()[:7])
    else:
        index.write_text(json.dumps(edit))
    result = run("copy", CELL, settings(), str(out))
    assert result["resumed_from_epoch"] == 1
    assert result["steps"] == 6 and result["epochs"] == 3
    assert outside.read_bytes() == b"a file of the user's"
    assert [r["step"] for r in read_metrics_csv(str(out / "metrics.csv"))] == [
        2,
        4,
        6,
    ]


def test_a_checkpoint_past_the_run_is_never_believed(tmp_path):
    out = tmp_path / "run"
    commit = interrupted(out)
    backup = out / "backup"
    (backup / commit["weights"]).rename(backup / "epoch-999.weights.h5")
    (backup / "backup.json").write_text(
        json.dumps({"epoch": 999, "weights": "epoch-999.weights.h5"})
    )
    with pytest.raises(SettingError, match="past the run's 3"):
        run("copy", CELL, settings(), str(out))
    assert not (out / "result.json").exists()


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_no_loadable_checkpoint_stops_with_the_file_named(tmp_path, damage):
    out = tmp_path / "run"
    commit = interrupted(out)
    weights = out / "backup" / commit["weights"]
    if damage == "missing":
        weights.unlink()
    else:
        weights.write_bytes(weights.read_bytes()[:500])
    before = snapshot(out)
    with pytest.raises(SettingError, match="--overwrite") as info:
        run("copy", CELL, settings(), str(out))
    assert commit["weights"] in str(info.value)
    assert snapshot(out) == before  # the backup is not discarded
    result = run("copy", CELL, settings(), str(out), overwrite=True)
    assert result["resumed_from_epoch"] == 0 and result["steps"] == 6


# -- metrics.csv ---------------------------------------------------------------
@pytest.mark.parametrize("damage", ["deleted", "emptied", "truncated"])
def test_steps_come_from_the_checkpoint_not_the_csv(tmp_path, damage):
    out = tmp_path / "run"
    interrupted(out, epoch=2)
    csv = out / "metrics.csv"
    if damage == "deleted":
        csv.unlink()
    elif damage == "emptied":
        csv.write_text("")
    else:
        csv.write_text(csv.read_text()[:-9])
    result = run("copy", CELL, settings(), str(out))
    assert result["steps"] == 6 and result["epochs"] == 3
    assert result["resumed_from_epoch"] == 2
    rows = read_metrics_csv(str(csv))
    assert rows[-1]["step"] == 6 and rows[-1]["epoch"] == 3
    assert (out / "learning_curve.png").stat().st_size > 0


# -- two runs at once ------------------------------------------------------
def test_a_second_run_into_a_locked_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    holder = RunFolder(str(out))
    holder.claim()  # another run holds the folder
    before = snapshot(out)
    try:
        with pytest.raises(SettingError, match="another run") as info:
            run("copy", CELL, settings(), str(out))
        assert info.value.name == "out"
        assert snapshot(out) == before
    finally:
        holder.release()
    (out / ".lock").write_text("999999\n")  # left by a dead process
    assert run("copy", CELL, settings(), str(out))["steps"] == 6


# -- non-finite checkpoints --------------------------------------------------
class PoisonAfterEpoch(keras.callbacks.Callback):
    """Set every weight to NaN after the last batch of epoch `epoch`."""

    def __init__(self, epoch, batches):
        super().__init__()
        self.epoch, self.batches, self.now = epoch, batches, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.now = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.now == self.epoch and batch == self.batches - 1:
            for weight in self.model.weights:
                weight.assign(np.full(weight.shape, np.nan, weight.dtype))


def test_a_non_finite_checkpoint_is_never_committed(tmp_path):
    out = tmp_path / "run"
    poison = PoisonAfterEpoch(epoch=1, batches=2)
    with pytest.raises(TrainingDiverged, match="epoch 1's checkpoint"):
        run("copy", CELL, settings(), str(out), callbacks=[poison])
    commit = json.load(open(out / "backup" / "backup.json"))
    assert commit["epoch"] == 1 and not (out / "result.json").exists()
    result = run("copy", CELL, settings(), str(out))
    assert result["resumed_from_epoch"] == 1 and result["steps"] == 6
    assert np.isfinite(result["final_train_loss"])


def test_result_files_use_the_umask(tmp_path):
    out = tmp_path / "run"
    old = os.umask(0o027)
    try:
        run("copy", CELL, settings(steps=2), str(out))
    finally:
        os.umask(old)
    for name in ("config.json", "result.json", "metrics.csv", "manifest.json"):
        assert (out / name).stat().st_mode & 0o777 == 0o640, name


class PoisonSkew(keras.callbacks.Callback):
    """Set the skew_kernel to NaN after the first batch (the loss of that
    batch was finite): the next forward pass takes expm of NaN."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            for weight in self.model.weights:
                if "skew_kernel" in weight.path:
                    weight.assign(np.full(weight.shape, np.nan, weight.dtype))


def test_expm_of_non_finite_weights_is_a_training_diverged(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="not finite") as info:
        run("copy", "exprnn", settings(), str(out), callbacks=[PoisonSkew()])
    assert "\n" not in str(info.value)
    assert not (out / "result.json").exists()
