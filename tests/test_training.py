"""Tests of the training runner and its parts (tf_nnrnn.experiments.training,
presets,
models, callbacks, results)."""

import dataclasses
import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_nnrnn.experiments.callbacks import (
    AtomicBackup,
    MetricsCSV,
    ResetRNNState,
    TrainingDiverged,
    restore_backup,
)
from tf_nnrnn.experiments.cli import build_parser, parse_settings
from tf_nnrnn.experiments.evaluation import StreamEvaluator
from tf_nnrnn.experiments.models import CELL_NAMES, ModReLURNNCell, build_model
from tf_nnrnn.experiments.presets import (
    PAPER,
    QUICK,
    SettingError,
    Settings,
    resolve,
)
from tf_nnrnn.experiments.results import atomic_write_json, plot_curves
from tf_nnrnn.experiments.tasks.adding import AddingTask
from tf_nnrnn.experiments.training import (
    free_parameters,
    load_metrics,
    make_task,
    run,
)

TINY = dict(time_lag=5, units=8, steps=6, log_every=2, test_size=10, verbose=0)
FILES = {"config.json", "metrics.csv", "result.json", "learning_curve.png"}


class StopAt(keras.callbacks.Callback):
    """Interrupt a run at the start of epoch `epoch` (0-based)."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("stopped by the test")


def tiny(task="copy", cell="nnrnn", **kwargs):
    return resolve(task, cell, {**TINY, **kwargs})


# Copy with T = 1 (21 steps: ten symbols, the cue, ten recalls 11 steps
# later), small enough that every cell learns it in 400 Adam steps of batch
# 32 (3-7 s each on 2 CPU cores). Measured test cross-entropy (seeds as
# here) against the memoryless baseline 10 ln 8 / 21 = 0.990: nnRNN,
# expRNN, scoRNN, RNN-orth <= 0.021; RNN 0.16; LSTM 0.51; NRU 0.74 (recall
# accuracy 0.41; chance 1/8).
LEARN = dict(
    time_lag=1,
    units=64,
    steps=400,
    log_every=100,
    batch_size=32,
    optimizer="adam",
    lr=1e-2,
    lr_orth=1e-3,
    clip_norm=1.0,
    test_size=100,
    verbose=0,
)


# The cells added by issue 15 (GRU; LSTM, GRU and RNN-orth with the
# orthogonal constraint; RNN-orth with the Riemannian optimizer) learn the
# copy task in the slow lane: GRU's learning is Keras', RNN-orth's is
# checked here in its plain form, and what issue 15 adds (the constraint,
# the optimizer routing, orthogonality after every update through the
# runner) is in tests/test_orth_cells.py, tests/test_manifolds.py and
# tests/test_riemannian.py in the default run. 25-35 s of the default run.
SLOW_GATED = (
    "gru", "lstm_orth", "gru_orth", "rnn_orth_constraint",
    "rnn_orth_riemannian",
)


@pytest.mark.parametrize(
    "cell",
    [
        pytest.param(c, marks=pytest.mark.slow) if c in SLOW_GATED else c
        for c in CELL_NAMES
    ],
)
def test_every_cell_trains_on_copy_and_writes_results(cell, tmp_path):
    """Every registered cell learns the copy task past what a memoryless
    model can reach, and the run writes its files and results."""
    settings = resolve("copy", cell, LEARN)
    result = run("copy", cell, settings, out_dir=str(tmp_path))
    assert FILES <= set(os.listdir(tmp_path))
    assert not (tmp_path / "backup").exists()  # deleted when finished
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved == json.loads(json.dumps(result))
    for key in ("task", "cell", "units", "parameters", "steps", "epochs"):
        assert key in saved
    assert saved["steps"] == 400 and saved["epochs"] == 4
    baseline = 10 * np.log(8) / 21
    assert saved["baseline"] == pytest.approx(baseline)
    # Learning: below the memoryless baseline by a margin, and recalling
    # far more than chance (1/8) of the symbols.
    assert saved["test_loss"] < 0.9 * baseline, saved
    assert saved["test_accuracy"] > 0.25, saved
    assert saved["final_train_loss"] < baseline, saved
    rows = load_metrics(str(tmp_path))
    assert [r["step"] for r in rows] == [100, 200, 300, 400]
    config = json.loads((tmp_path / "config.json").read_text())
    assert Settings(**config["settings"]) == settings


def test_resume_after_interruption_is_exact(tmp_path):
    settings = tiny(steps=8)
    whole = run("copy", "nnrnn", settings, out_dir=str(tmp_path / "a"))
    out = str(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        run("copy", "nnrnn", settings, out_dir=out, callbacks=[StopAt(2)])
    assert not os.path.exists(os.path.join(out, "result.json"))
    assert len(load_metrics(out)) == 2
    resumed = run("copy", "nnrnn", settings, out_dir=out)
    assert resumed["resumed_from_epoch"] == 2
    rows = load_metrics(out)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    # Weights, optimizer state and the data stream all continue exactly.
    expected = load_metrics(str(tmp_path / "a"))
    np.testing.assert_allclose(
        [r["loss"] for r in rows], [r["loss"] for r in expected], rtol=1e-6
    )
    assert resumed["test_loss"] == pytest.approx(whole["test_loss"], rel=1e-6)


def test_resume_refuses_other_settings(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(
            "copy", "lstm", tiny(), out_dir=str(tmp_path), callbacks=[StopAt(1)]
        )
    with pytest.raises(SettingError, match="different settings") as info:
        run("copy", "lstm", tiny(units=6), out_dir=str(tmp_path))
    assert info.value.name == "out"


def test_nan_loss_stops_without_results(tmp_path, monkeypatch):
    original = AddingTask.train_dataset

    def poisoned(self, *args, **kwargs):
        return original(self, *args, **kwargs).map(lambda x, y: (x * np.nan, y))

    monkeypatch.setattr(AddingTask, "train_dataset", poisoned)
    settings = resolve("adding", "nnrnn", {**TINY, "length": 4})
    with pytest.raises(TrainingDiverged, match="loss became nan"):
        run("adding", "nnrnn", settings, out_dir=str(tmp_path))
    assert not (tmp_path / "result.json").exists()


def test_stateful_ptb_model_carries_and_resets_state(tmp_path):
    for split in ("train", "valid", "test"):
        text = "a b _ c a _ b\nc _ a a b\n" * 15
        (tmp_path / f"ptb.char.{split}.txt").write_text(text)
    settings = resolve(
        "ptb",
        "lstm",
        dict(
            units=8,
            batch_size=2,
            bptt=6,
            embedding_dim=4,
            epochs=1,
            verbose=0,
            data_dir=str(tmp_path),
        ),
    )
    task = make_task("ptb", settings)
    model = build_model(task, "lstm", settings)
    model.compile(loss=task.loss(), metrics=task.metrics())
    (x0, _), (x1, _) = list(task.test_dataset(2, 0))[:2]
    rnn = model.get_layer("rnn")
    rnn.reset_state()
    model.predict_on_batch(x0)
    assert float(tf.reduce_sum(tf.abs(rnn.states[0]))) > 0
    second = model.predict_on_batch(x1)
    # The same weights run over both segments at once, without state.
    whole = keras.layers.RNN(rnn.cell, return_sequences=True)
    emb, head = model.get_layer("embedding"), model.get_layer("head")
    joined = head(whole(emb(tf.concat([x0, x1], axis=1))))
    np.testing.assert_allclose(second, joined[:, 6:], atol=1e-5)
    rnn.reset_state()
    assert not np.allclose(model.predict_on_batch(x1), second, atol=1e-5)
    callback = ResetRNNState()
    callback.set_model(model)
    callback.on_test_begin()
    assert float(tf.reduce_sum(tf.abs(rnn.states[0]))) == 0.0
    settings = dataclasses.replace(settings, epochs=3, eval_batch_size=4)
    out = tmp_path / "out"
    result = run("ptb", "lstm", settings, out_dir=str(out))
    assert result["test_bpc"] > 0 and "test_accuracy" in result
    assert result["scored_characters"] == len(task.ids["test"]) - 1
    # Validation (every epoch) and test use the best-validation weights'
    # whole-stream scores at the evaluation batch, not the training batch.
    rows = load_metrics(str(out))
    val = [r["val_bpc"] for r in rows]
    assert len(val) == 3 and len(set(val)) == 3
    evaluator = StreamEvaluator.for_task(task, "lstm", settings)
    assert evaluator.model.input_shape == (4, 6)
    model.load_weights(str(out / "best.weights.h5"))
    best = evaluator.evaluate(model, "valid")
    assert best["bpc"] == pytest.approx(min(val), abs=1e-6)
    test = evaluator.evaluate(model, "test")
    assert result["test_bpc"] == pytest.approx(test["bpc"], abs=1e-6)
    assert result["test_accuracy"] == pytest.approx(test["accuracy"])


def _ptb_fixture(folder, settings):
    for split in ("train", "valid", "test"):
        text = "a b _ c a _ b\nc _ a a b\n" * 15
        if split == "test":  # 207 tokens: 206 targets, uneven streams
            text = text[: -len("c _ a a b\n")] + "a _\n"
        (folder / f"ptb.char.{split}.txt").write_text(text)
    return resolve("ptb", "lstm", {**settings, "data_dir": str(folder)})


def test_ptb_evaluation_scores_whole_streams_with_carried_state(tmp_path):
    settings = _ptb_fixture(
        tmp_path,
        dict(units=8, batch_size=3, bptt=8, embedding_dim=4, verbose=0),
    )
    assert settings.eval_batch_size == 10
    task = make_task("ptb", settings)
    model = build_model(task, "lstm", settings)  # training batch 3
    for weight in model.get_layer("rnn").weights:  # a longer memory
        weight.assign(3.0 * weight)
    evaluator = StreamEvaluator.for_task(task, "lstm", settings)
    scores = evaluator.evaluate(model, "test")
    ids = task.ids["test"]
    assert scores["characters"] == len(ids) - 1 == 206
    # By hand: 10 contiguous streams of the 206 (input, target) pairs,
    # each run from a zero state in one pass (so the state runs on
    # through what the evaluator cuts into 8-step segments).
    chunks = np.array_split(np.arange(len(ids) - 1), 10)
    width = max(len(c) for c in chunks)  # 21 = 2 full segments + 5
    inputs = np.zeros((10, width), np.int32)
    for k, chunk in enumerate(chunks):
        inputs[k, : len(chunk)] = ids[chunk]
    whole = keras.layers.RNN(model.get_layer("rnn").cell, return_sequences=True)
    emb, head = model.get_layer("embedding"), model.get_layer("head")
    logits = head(whole(emb(inputs))).numpy().astype(np.float64)
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nats = correct = 0.0
    for k, chunk in enumerate(chunks):
        steps = np.arange(len(chunk))
        nats -= logp[k, steps, ids[chunk + 1]].sum()
        correct += (logits[k, steps].argmax(-1) == ids[chunk + 1]).sum()
    bpc = nats / (206 * np.log(2))
    assert scores["bpc"] == pytest.approx(bpc, abs=1e-5)
    assert scores["loss"] == pytest.approx(nats / 206, abs=1e-5)
    assert scores["accuracy"] == pytest.approx(correct / 206)
    # The state is reset before every evaluation, weights are copied.
    assert evaluator.evaluate(model, "test") == scores
    for a, b in zip(evaluator.model.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # A bigger evaluation batch than the text has targets names the flag.
    big = dataclasses.replace(settings, eval_batch_size=207)
    with pytest.raises(SettingError, match="`eval_batch_size`") as info:
        run("ptb", "lstm", big, out_dir=str(tmp_path / "none"))
    assert info.value.name == "eval_batch_size"
    assert not (tmp_path / "none").exists()


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    script = textwrap.dedent(
        f"""
        import json, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tf_nnrnn.experiments.presets import resolve
        from tf_nnrnn.experiments.training import run
        out = {{}}
        for mode in ("none", "mirrored"):
            s = resolve("copy", "nnrnn", dict(
                time_lag=4, units=8, batch_size=8, steps=4, log_every=2,
                test_size=16, verbose=0, distribute=mode))
            r = run("copy", "nnrnn", s, out_dir={str(tmp_path)!r} + mode)
            out[mode] = [r["replicas"], r["test_loss"], r["final_train_loss"]]
        print(json.dumps(out))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["none"][0] == 1 and out["mirrored"][0] == 2
    # Two replicas of half a batch average to the full-batch gradient.
    np.testing.assert_allclose(out["mirrored"][1:], out["none"][1:], rtol=1e-4)


def test_resolve_layers_defaults_preset_and_flags(capsys):
    quick = resolve("copy", "nnrnn")
    assert quick.time_lag == QUICK["copy"]["time_lag"]
    paper = resolve("copy", "nnrnn", preset="paper")
    assert (paper.units, paper.lr, paper.lr_orth) == (128, 5e-4, 1e-6)
    assert (paper.rho, paper.delta, paper.t_decay) == (0.99, 1e-4, 1e-6)
    assert (paper.time_lag, paper.batch_size, paper.steps) == (200, 10, 1500)
    assert paper.one_hot and paper.optimizer == "rmsprop"
    flagged = resolve("copy", "nnrnn", {"lr": 1e-2}, preset="paper")
    assert flagged.lr == 1e-2 and flagged.units == 128
    nru = resolve("psmnist", "nru", preset="paper")
    assert (nru.units, nru.memory_size, nru.num_heads) == (212, 256, 4)
    assert (nru.optimizer, nru.lr, nru.clip_norm) == ("adam", 1e-3, 1.0)
    ptb300 = resolve("ptb", "nnrnn", {"bptt": 300}, preset="paper")
    assert (ptb300.clip_norm, ptb300.t_decay) == (5.0, 1e-6)
    assert (ptb300.batch_size, ptb300.eval_batch_size) == (128, 10)
    parser = build_parser("ptb")
    _, flagged = parse_settings(parser, "ptb", ["--eval-batch-size", "7"])
    assert flagged.eval_batch_size == 7 and flagged.batch_size == 32
    with pytest.raises(SystemExit) as info:
        parse_settings(parser, "ptb", ["--eval-batch-size", "0"])
    assert info.value.code == 2
    assert "argument --eval-batch-size:" in capsys.readouterr().err
    with pytest.raises(SettingError, match="no 'paper' preset") as info:
        resolve("copy", "nru", preset="paper")
    assert info.value.name == "preset"
    # The papers' cells, and the issue-15 cells (their LSTM / RNN-orth
    # settings, marked "not in the papers" in paper_tables.py).
    assert set(PAPER["copy"]) == {
        "nnrnn",
        "exprnn",
        "scornn",
        "lstm",
        "rnn_orth",
        "rnn",
        "gru",
        "lstm_orth",
        "gru_orth",
        "rnn_orth_constraint",
        "rnn_orth_riemannian",
    }


@pytest.mark.parametrize(
    "name, value",
    [
        ("batch_size", 0),
        ("time_lag", 0),
        ("units", -3),
        ("lr", 0.0),
        ("rho", 1.0),
        ("optimizer", "sgd"),
        ("steps", 0),
        ("jit", "yes"),
        ("length", 1),
        ("distribute", "tpu"),
        ("eval_batch_size", 0),
    ],
)
def test_settings_validation_names_the_setting(name, value):
    with pytest.raises(SettingError, match=f"`{name}`") as info:
        Settings(**{name: value})
    assert info.value.name == name


def test_paper_parameter_counts():
    def count(cell, **kw):
        s = dataclasses.replace(resolve("copy", cell, preset="paper"), **kw)
        return free_parameters(build_model(make_task("copy", s), cell, s))

    assert count("nnrnn") == 18_953  # the paper's nnRNN, N = 128
    assert count("exprnn", units=176) == 18_929  # expRNN, N = 176


def test_modrelu_rnn_cell_is_orthogonal_and_serializable(tmp_path):
    layer = keras.layers.RNN(ModReLURNNCell(6), return_sequences=True)
    model = keras.Sequential([keras.Input((5, 3)), layer])
    w = layer.cell.recurrent_kernel.numpy()
    np.testing.assert_allclose(w.T @ w, np.eye(6), atol=1e-5)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    # modReLU keeps the sign of the pre-activation.
    z = x[:, 0] @ layer.cell.kernel.numpy() + layer.cell.bias.numpy()
    h = model(x)[:, 0].numpy()
    assert np.all((np.sign(h) == np.sign(z)) | (h == 0))


def test_metrics_csv_and_atomic_files(tmp_path):
    path = str(tmp_path / "metrics.csv")
    cb = MetricsCSV(path)
    cb.on_train_begin()
    for epoch in range(3):
        cb.on_epoch_begin(epoch)
        cb.on_train_batch_end(4)
        cb.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1)})
    resumed = MetricsCSV(path, initial_epoch=2)
    assert [r["step"] for r in resumed.rows] == [5, 10]
    atomic_write_json(str(tmp_path / "r.json"), {"a": 1})
    plot_curves(
        str(tmp_path / "c.png"),
        {"x": ([1, 2], [2.0, 1.0])},
        "y",
        "t",
        baseline=1.5,
    )
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(os.listdir(tmp_path)) == ["c.png", "metrics.csv", "r.json"]


def test_backup_survives_a_crash_during_the_write(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("rmsprop", "mse")
    x, y = np.ones((4, 2)), np.ones((4, 1))
    folder = str(tmp_path / "backup")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[AtomicBackup(folder)])
    saved = [w.numpy() for w in model.weights]

    def crash(path, overwrite=True):
        with open(path, "wb") as f:
            f.write(b"\x89HDF\r\n")  # a truncated file, then the kill
        raise KeyboardInterrupt

    model.save_weights = crash
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[AtomicBackup(folder)])
    fresh = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    fresh.compile("rmsprop", "mse")
    assert restore_backup(fresh, folder) == 2
    for a, b in zip(fresh.weights, saved):
        np.testing.assert_array_equal(a.numpy(), b)
    assert fresh.optimizer.iterations.numpy() == 2
