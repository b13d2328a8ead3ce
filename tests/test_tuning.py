"""Keras Tuner search: learning rates reach the optimizers, resuming,
distributed chief/worker mode, bad input."""

import glob
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time

import keras
import keras_tuner as kt
import numpy as np
import pytest

from tf_nnrnn.experiments.presets import resolve
from tf_nnrnn.experiments.tuning import RNNHyperModel, make_tuner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "tune.py")
TINY = [
    "--task", "copy", "--cell", "nnrnn", "--time-lag", "3", "--units", "8",
    "--steps", "8", "--log-every", "4", "--test-size", "16",
    "--batch-size", "8", "--verbose", "0", "--tuner-seed", "3",
]  # fmt: skip
TINY_SETTINGS = dict(
    time_lag=3, units=8, steps=8, log_every=4, test_size=16, batch_size=8
)
# Shared by the (deep-copied) callbacks below.
TRAININGS: list = []


def _load_script():
    spec = importlib.util.spec_from_file_location("tune_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def tune(monkeypatch):
    for key in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.delenv("KERASTUNER_ORACLE_PORT", raising=False)
    TRAININGS.clear()
    return _load_script()


class RecordOptimizers(keras.callbacks.Callback):
    """Read the learning rates back from the optimizer that trained."""

    def on_train_end(self, logs=None):
        orthogonal, default = self.model.optimizer.optimizers
        TRAININGS.append(
            {
                "lr_orth": float(orthogonal.learning_rate.numpy()),
                "lr": float(default.learning_rate.numpy()),
                "updates": (
                    int(orthogonal.iterations.numpy()),
                    int(default.iterations.numpy()),
                ),
            }
        )


class CountTrainings(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        TRAININGS.append("begin")


class InterruptSecondTraining(CountTrainings):
    """Stop the process (KeyboardInterrupt) after trial 2's first epoch."""

    def on_epoch_end(self, epoch, logs=None):
        if TRAININGS.count("begin") == 2 and epoch == 0:
            raise KeyboardInterrupt


def _trials(project_dir):
    trials = {}
    for path in glob.glob(os.path.join(project_dir, "trial_*", "trial.json")):
        with open(path) as f:
            trial = json.load(f)
        trials[trial["trial_id"]] = trial
    return trials


def test_tiny_search_lrs_reach_the_optimizers_and_best_file(
    tune, tmp_path, capsys
):
    argv = [*TINY, "--max-trials", "2", "--directory", str(tmp_path)]
    assert tune.main(argv, callbacks=[RecordOptimizers()]) == 0
    project = tmp_path / "copy_nnrnn"
    trials = _trials(project)
    assert len(trials) == 2
    assert {t["status"] for t in trials.values()} == {"COMPLETED"}
    values = [t["hyperparameters"]["values"] for t in trials.values()]
    assert len({v["lr"] for v in values}) == 2
    assert len({v["lr_orth"] for v in values}) == 2
    # Every trial trained once, with both of its learning rates in the
    # two sub-optimizers of the model's MultiOptimizer, both stepping.
    assert len(TRAININGS) == 2
    for v in values:
        match = [
            r
            for r in TRAININGS
            if np.isclose(r["lr"], v["lr"], rtol=1e-6)
            and np.isclose(r["lr_orth"], v["lr_orth"], rtol=1e-6)
        ]
        assert len(match) == 1, (v, TRAININGS)
        assert match[0]["updates"] == (8, 8)
    for trial_id, trial in trials.items():
        with open(project / f"trial_{trial_id}" / "run" / "result.json") as f:
            assert json.load(f)["test_loss"] == pytest.approx(trial["score"])
    best_id = min(trials, key=lambda k: trials[k]["score"])
    with open(project / "best_hyperparameters.json") as f:
        best = json.load(f)
    assert best["best_trial_id"] == best_id
    assert best["score"] == pytest.approx(trials[best_id]["score"])
    assert (
        best["hyperparameters"] == trials[best_id]["hyperparameters"]["values"]
    )
    assert best["settings"]["lr"] == best["hyperparameters"]["lr"]
    assert best["paper"]["lr"] == 5e-4 and best["paper"]["lr_orth"] == 1e-6
    assert (project / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Re-running the finished command reports it and trains nothing.
    files = [p for p in project.rglob("*") if p.is_file()]
    before = {p: p.read_bytes() for p in files}
    TRAININGS.clear()
    assert tune.main(argv, callbacks=[CountTrainings()]) == 0
    assert TRAININGS == []
    assert "finished (2 trials)" in capsys.readouterr().out
    files = [p for p in project.rglob("*") if p.is_file()]
    assert {p: p.read_bytes() for p in files} == before


def test_interrupted_search_resumes_without_repeating(tune, tmp_path):
    argv = [*TINY, "--max-trials", "2", "--directory", str(tmp_path)]
    with pytest.raises(KeyboardInterrupt):
        tune.main(argv, callbacks=[InterruptSecondTraining()])
    project = tmp_path / "copy_nnrnn"
    before = _trials(project)
    assert before["0"]["status"] == "COMPLETED"
    assert before["1"]["status"] == "RUNNING"
    first = project / "trial_0" / "run" / "result.json"
    stamp = first.stat().st_mtime_ns
    TRAININGS.clear()
    assert tune.main(argv, callbacks=[CountTrainings()]) == 0
    after = _trials(project)
    assert sorted(after) == ["0", "1"]
    assert {t["status"] for t in after.values()} == {"COMPLETED"}
    assert TRAININGS.count("begin") == 1  # trial 1 only, resumed
    assert first.stat().st_mtime_ns == stamp
    for trial_id in ("0", "1"):  # kept its values
        assert (
            after[trial_id]["hyperparameters"]["values"]
            == before[trial_id]["hyperparameters"]["values"]
        )
    with open(project / "trial_1" / "run" / "result.json") as f:
        assert json.load(f)["resumed_from_epoch"] == 1
    with open(project / "oracle.json") as f:
        assert sorted(json.load(f)["end_order"]) == ["0", "1"]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ongoing(project_dir):
    try:
        with open(os.path.join(project_dir, "oracle.json")) as f:
            return json.load(f)["ongoing_trials"]
    except (OSError, ValueError, KeyError):
        return {}


def _distributed_search(tmp_path, max_trials):
    """(environment, command) of one tuner process of a distributed search
    into `tmp_path/search` (add `KERASTUNER_TUNER_ID` per process)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["KERASTUNER_ORACLE_PORT"] = str(_free_port())
    env.pop("KERASTUNER_ORACLE_IP", None)  # the default: loopback
    argv = [sys.executable, SCRIPT, *TINY, "--max-trials", str(max_trials)]
    argv += ["--directory", str(tmp_path / "search")]
    return env, argv


def test_distributed_chief_and_one_worker_complete_a_search(tmp_path):
    """The small form of the test below (default run): a chief and one
    worker (`OracleClient`) finish a two-trial search, each trial once."""
    env, argv = _distributed_search(tmp_path, max_trials=2)
    procs = {
        tuner_id: subprocess.Popen(
            argv,
            env=dict(env, KERASTUNER_TUNER_ID=tuner_id),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tuner_id in ("chief", "tuner0")
    }
    try:
        for tuner_id, proc in procs.items():
            _, err = proc.communicate(timeout=150)
            assert proc.returncode == 0, (tuner_id, err[-2000:])
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    project = tmp_path / "search" / "copy_nnrnn"
    trials = _trials(project)
    assert sorted(trials) == ["0", "1"]
    assert {t["status"] for t in trials.values()} == {"COMPLETED"}
    with open(project / "oracle.json") as f:
        assert sorted(json.load(f)["end_order"]) == ["0", "1"]
    with open(project / "best_hyperparameters.json") as f:
        assert json.load(f)["completed_trials"] == 2


@pytest.mark.slow
def test_distributed_chief_and_two_workers_survive_a_killed_worker(
    tmp_path,
):
    """About 40 s: three processes and a restarted worker (slow lane)."""
    env, argv = _distributed_search(tmp_path, max_trials=3)
    project = tmp_path / "search" / "copy_nnrnn"
    procs, logs = {}, []

    def start(tuner_id):
        log = open(tmp_path / f"{tuner_id}_{len(logs)}.log", "w")
        logs.append(log)
        procs[tuner_id] = subprocess.Popen(
            argv,
            env=dict(env, KERASTUNER_TUNER_ID=tuner_id),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    try:
        for tuner_id in ("chief", "tuner0", "tuner1"):
            start(tuner_id)
        deadline = time.monotonic() + 120
        while not _ongoing(project):  # the first worker with a trial
            assert time.monotonic() < deadline, "no worker got a trial"
            assert procs["chief"].poll() is None
            time.sleep(0.1)
        victim, killed_trial = next(iter(_ongoing(project).items()))
        procs[victim].send_signal(signal.SIGKILL)
        assert procs[victim].wait(30) == -signal.SIGKILL
        start(victim)  # restarted with its ID: it resumes its trial
        for tuner_id in ("chief", "tuner0", "tuner1"):
            assert procs[tuner_id].wait(150) == 0, tuner_id
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        for log in logs:
            log.close()
    trials = _trials(project)
    assert sorted(trials) == ["0", "1", "2"]
    assert {t["status"] for t in trials.values()} == {"COMPLETED"}
    assert killed_trial in trials
    with open(project / "oracle.json") as f:
        oracle = json.load(f)
    assert sorted(oracle["end_order"]) == ["0", "1", "2"]  # once each
    with open(project / "best_hyperparameters.json") as f:
        best = json.load(f)
    assert best["completed_trials"] == 3
    scores = {k: t["score"] for k, t in trials.items()}
    assert best["best_trial_id"] == min(scores, key=scores.get)


@pytest.mark.parametrize(
    "extra, flag",
    [
        (["--tuner", "grid"], "--tuner"),
        (["--task", "sorting"], "--task"),
        (["--cell", "gru9"], "--cell"),
        (["--max-trials", "0"], "--max-trials"),
        (["--lr-range", "1e-2", "1e-3"], "--search-space"),
        (["--search-space", '{"lr_orth": [1e-4, 1e-4]}'], "--search-space"),
        (["--search-space", '{"momentum": [0.1, 0.9]}'], "--search-space"),
        (["--cell", "lstm", "--search-also", "delta"], "--search-space"),
        (["--lr", "1e-3", "--lr-range", "1e-4", "1e-2"], "--lr"),
        (["--tuner-id", "tuner7"], "--oracle-port"),
    ],
)
def test_bad_input_exits_2_before_training(tune, tmp_path, capsys, extra, flag):
    directory = tmp_path / "never"
    argv = [*TINY, "--directory", str(directory), *extra]
    with pytest.raises(SystemExit) as info:
        tune.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"tune.py: error: argument {flag}"), err
    assert not directory.exists()
    assert "KERASTUNER_TUNER_ID" not in os.environ


def test_hypermodel_defaults_around_the_papers_values():
    hm = RNNHyperModel("copy", "nnrnn", units=8, settings=TINY_SETTINGS)
    lr, orth = (p.get_config() for p in hm.hyperparameters.space)
    assert (lr["min_value"], lr["max_value"]) == pytest.approx((5e-5, 5e-3))
    assert lr["sampling"] == orth["sampling"] == "log"
    assert orth["min_value"] < 1e-6 == orth["default"] < orth["max_value"]
    hp = kt.HyperParameters()
    model = hm.build(hp)  # draws both, builds with the runner's builder
    assert set(hp.values) == {"lr", "lr_orth"}
    assert [
        float(o.learning_rate.numpy()) for o in model.optimizer.optimizers
    ] == pytest.approx([1e-6, 5e-4])
    lstm = RNNHyperModel("copy", "lstm", settings=TINY_SETTINGS)
    assert [p.name for p in lstm.hyperparameters.space] == ["lr"]
    wide = RNNHyperModel(
        "copy",
        "nnrnn",
        search_space={"delta": True, "rho": [0.8, 0.99], "skew_init": True},
        settings=TINY_SETTINGS,
    )
    names = {p.name: p for p in wide.hyperparameters.space}
    assert sorted(names) == ["delta", "lr", "lr_orth", "rho", "skew_init"]
    assert names["rho"].sampling == "linear"
    assert "henaff" in names["skew_init"].values


def test_hypermodel_rejects_bad_input():
    with pytest.raises(ValueError, match="argument `task`"):
        RNNHyperModel("sorting", "nnrnn")
    with pytest.raises(ValueError, match="argument `cell`"):
        RNNHyperModel("copy", "gru9")
    hp = kt.HyperParameters()
    hp.Float("lr", 1e-3, 1e-3)  # Keras Tuner accepts min == max
    with pytest.raises(ValueError, match=r"min < max, got min=0.001"):
        RNNHyperModel("copy", "nnrnn", search_space=hp)
    with pytest.raises(ValueError, match="rho"):
        RNNHyperModel("copy", "nnrnn", search_space={"rho": [0.5, 1.5]})
    with pytest.raises(ValueError, match="skew_initializer"):
        RNNHyperModel("copy", "nnrnn", search_space={"skew_init": ["bad"]})
    with pytest.raises(ValueError, match=r"only affects the cells \[.nnrnn.\]"):
        RNNHyperModel("copy", "exprnn", search_space={"t_decay": True})
    hm = RNNHyperModel("copy", "nnrnn", settings=TINY_SETTINGS)
    with pytest.raises(ValueError, match="argument `tuner`"):
        make_tuner(hm, "grid")
    with pytest.raises(ValueError, match="argument `max_trials`"):
        make_tuner(hm, "random", max_trials=0)


def test_directory_holding_another_search_is_refused(tmp_path):
    settings = resolve("copy", "nnrnn", TINY_SETTINGS)
    hm = RNNHyperModel("copy", "nnrnn", settings=settings)
    make_tuner(hm, "random", 2, str(tmp_path))
    other = RNNHyperModel("copy", "nnrnn", units=16, settings=settings)
    with pytest.raises(ValueError, match="argument `directory`.*units"):
        make_tuner(other, "random", 2, str(tmp_path))
    make_tuner(other, "random", 2, str(tmp_path), overwrite=True)


class RecordWeights(keras.callbacks.Callback):
    def _flat(self):
        return np.concatenate([w.ravel() for w in self.model.get_weights()])

    def on_train_begin(self, logs=None):
        self.begin = self._flat()

    def on_train_end(self, logs=None):
        lrs = [
            float(o.learning_rate.numpy())
            for o in self.model.optimizer.optimizers
        ]
        TRAININGS.append({"lrs": lrs, "begin": self.begin, "end": self._flat()})


def test_hyperband_budgets_and_warm_start(tmp_path):
    TRAININGS.clear()
    hm = RNNHyperModel("copy", "nnrnn", settings=dict(TINY_SETTINGS, verbose=0))
    assert hm.max_epochs == 2  # runner epochs of 4 updates
    tuner = make_tuner(hm, "hyperband", 3, str(tmp_path), factor=2, seed=3)
    tuner.search(callbacks=[RecordWeights()], verbose=0)
    trials = _trials(tmp_path / "copy_nnrnn")
    assert sorted(trials) == ["0", "1", "2"]
    assert {t["status"] for t in trials.values()} == {"COMPLETED"}
    child = trials["2"]["hyperparameters"]["values"]
    assert (child["tuner/epochs"], child["tuner/initial_epoch"]) == (2, 1)
    for trial_id in trials:  # every trial ran one runner epoch
        path = tmp_path / "copy_nnrnn" / f"trial_{trial_id}" / "run"
        with open(path / "result.json") as f:
            assert json.load(f)["steps"] == 4
    # The continued trial started from its parent's trained weights.
    parent = child["tuner/trial_id"]
    parent_values = trials[parent]["hyperparameters"]["values"]
    assert (child["lr"], child["lr_orth"]) == (
        parent_values["lr"],
        parent_values["lr_orth"],
    )
    first, _, last = TRAININGS
    by_parent = first if parent == "0" else TRAININGS[1]
    np.testing.assert_array_equal(last["begin"], by_parent["end"])
    assert not np.array_equal(first["begin"], first["end"])


def test_ptb_objective_is_the_best_validation_bpc(tmp_path):
    for split in ("train", "valid", "test"):
        text = "a b _ c _ a b\n" * (60 if split == "train" else 20)
        (tmp_path / f"ptb.char.{split}.txt").write_text(text)
    settings = dict(
        data_dir=str(tmp_path), units=4, embedding_dim=4, bptt=5,
        batch_size=2, epochs=2, steps=4, verbose=0,
    )  # fmt: skip
    hm = RNNHyperModel("ptb", "exprnn", settings=settings)
    assert hm.objective.name == "val_bpc"
    tuner = make_tuner(hm, "random", 1, str(tmp_path / "search"))
    tuner.search(verbose=0)
    (trial,) = _trials(tmp_path / "search" / "ptb_exprnn").values()
    run = tmp_path / "search" / "ptb_exprnn" / "trial_0" / "run"
    rows = [
        line.split(",") for line in (run / "metrics.csv").read_text().split()
    ]
    column = rows[0].index("val_bpc")
    values = [float(r[column]) for r in rows[1:]]
    assert len(values) == 2
    assert trial["score"] == pytest.approx(min(values))
    with open(run / "result.json") as f:
        assert "test_bpc" in json.load(f)  # reported, never the objective
