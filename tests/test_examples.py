"""End-to-end tests of the example scripts (examples/*.py) and
tf_nnrnn.experiments.cli."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest
import tensorflow_datasets as tfds

from tf_nnrnn.experiments.cli import SCRIPTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
FILES = {"config.json", "metrics.csv", "result.json", "learning_curve.png"}
TINY = ["--units", "8", "--verbose", "0", "--seed", "1"]
ARGS = {
    "copy": [
        "--time-lag",
        "4",
        "--steps",
        "6",
        "--log-every",
        "2",
        "--test-size",
        "10",
    ],
    "adding": [
        "--length",
        "6",
        "--steps",
        "6",
        "--log-every",
        "2",
        "--test-size",
        "10",
    ],
    "psmnist": ["--epochs", "3", "--batch-size", "10", "--steps", "2"],
    "ptb": [
        "--epochs",
        "3",
        "--batch-size",
        "2",
        "--bptt",
        "8",
        "--embedding-dim",
        "4",
        "--steps",
        "3",
    ],
}
METRIC = {
    "copy": "test_loss",
    "adding": "test_mse",
    "psmnist": "test_accuracy",
    "ptb": "test_bpc",
}


def load(name):
    spec = importlib.util.spec_from_file_location(
        f"tf_nnrnn_example_{name}",
        os.path.join(EXAMPLES, SCRIPTS.get(name, f"{name}.py")),
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def ptb_dir(tmp_path):
    folder = tmp_path / "ptbdata"
    folder.mkdir()
    for split in ("train", "valid", "test"):
        text = " a b _ c a _ b c\n c _ a a _ b\n" * 12
        (folder / f"ptb.char.{split}.txt").write_text(text)
    return str(folder)


class StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("stopped by the test")


def run_example(name, argv, callbacks=()):
    main = load(name).main
    if name == "psmnist":
        with tfds.testing.mock_data(num_examples=20):
            return main(argv, callbacks=callbacks)
    return main(argv, callbacks=callbacks)


@pytest.mark.parametrize("name", ["copy", "adding", "psmnist", "ptb"])
def test_example_runs_resumes_and_reports(name, tmp_path, ptb_dir, capsys):
    out = str(tmp_path / "out")
    argv = [*ARGS[name], *TINY, "--out", out]
    if name == "ptb":
        argv += ["--data-dir", ptb_dir]
    with pytest.raises(KeyboardInterrupt):
        run_example(name, argv, callbacks=[StopAt(1)])
    assert "result.json" not in os.listdir(out)
    assert os.path.isdir(os.path.join(out, "backup"))
    assert run_example(name, argv) == 0
    printed = capsys.readouterr().out
    assert "baseline" in printed or "chance" in printed
    assert FILES <= set(os.listdir(out))
    result = json.loads(open(os.path.join(out, "result.json")).read())
    assert result["resumed_from_epoch"] == 1 and result["epochs"] == 3
    assert result["task"] == name and result["units"] == 8
    assert METRIC[name] in result and result["parameters"] > 0
    with open(os.path.join(out, "metrics.csv")) as f:
        assert len(f.read().strip().splitlines()) == 1 + 3
    # Re-running the finished command reports it and trains nothing.
    before = snapshot(out)
    assert run_example(name, argv, callbacks=[FailIfTrained()]) == 0
    printed = capsys.readouterr().out
    assert f"{out}: finished; results in {out}" in printed
    assert "--overwrite" in printed
    assert snapshot(out) == before


def snapshot(folder):
    """{path: (size, mtime)} of every file under `folder`."""
    found = {}
    for root, _, files in os.walk(folder):
        for name in files:
            stat = os.stat(os.path.join(root, name))
            found[os.path.join(root, name)] = (stat.st_size, stat.st_mtime_ns)
    return found


class FailIfTrained(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        raise AssertionError("a finished run was trained again")


def test_preset_paper_is_applied_and_flags_override(tmp_path):
    out = str(tmp_path / "p")
    argv = [
        "--preset",
        "paper",
        "--cell",
        "nnrnn",
        "--time-lag",
        "3",
        "--steps",
        "2",
        "--log-every",
        "1",
        "--units",
        "8",
        "--test-size",
        "4",
        "--verbose",
        "0",
        "--out",
        out,
    ]
    assert load("copy").main(argv) == 0
    config = json.loads(open(os.path.join(out, "config.json")).read())
    s = config["settings"]
    assert (s["lr"], s["lr_orth"], s["rho"]) == (5e-4, 1e-6, 0.99)
    assert (s["delta"], s["t_decay"], s["batch_size"]) == (1e-4, 1e-6, 10)
    assert (s["units"], s["time_lag"], s["steps"]) == (8, 3, 2)


@pytest.mark.parametrize(
    "name, argv, flag",
    [
        ("copy", ["--cell", "gru9"], "--cell"),
        ("copy", ["--time-lag", "0"], "--time-lag"),
        ("adding", ["--batch-size", "0"], "--batch-size"),
        ("copy", ["--batch-size", "-2"], "--batch-size"),
        ("ptb", ["--data-dir", "MISSING"], "--data-dir"),
        ("copy", ["--preset", "paper", "--cell", "nru"], "--preset"),
        ("adding", ["--lr", "abc"], "--lr"),
        ("copy", ["--cell", "nnrnn", "--units", "7"], "--units"),
        ("copy", ["--steps", "10", "--epochs", "2"], "--epochs"),
    ],
)
def test_bad_input_exits_2_with_one_line(name, argv, flag, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [a.replace("MISSING", str(tmp_path / "nope")) for a in argv]
    with pytest.raises(SystemExit) as info:
        load(name).main([*argv, "--out", str(out)])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag in err
    assert not out.exists()  # nothing written


def test_ptb_refuses_mirrored_clearly(tmp_path, ptb_dir, capsys):
    with pytest.raises(SystemExit) as info:
        load("ptb").main(
            [
                "--data-dir",
                ptb_dir,
                "--distribute",
                "mirrored",
                "--out",
                str(tmp_path / "o"),
            ]
        )
    assert info.value.code == 2
    assert "--distribute" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_compare_and_ablate_write_table_and_plot(tmp_path, capsys):
    common = [
        "--time-lag",
        "3",
        "--steps",
        "4",
        "--log-every",
        "2",
        "--units",
        "8",
        "--test-size",
        "4",
        "--verbose",
        "0",
        "--last",
        "4",
    ]
    out = str(tmp_path / "cmp")
    assert (
        load("compare").main(
            [
                "--task",
                "copy",
                "--cells",
                "nnrnn,rnn_orth",
                "--seeds",
                "0,1",
                *common,
                "--out",
                out,
            ]
        )
        == 0
    )
    table = open(os.path.join(out, "summary.md")).read()
    assert "| nnrnn |" in table and "| rnn_orth |" in table
    assert os.path.getsize(os.path.join(out, "curves.png")) > 1000
    summary = json.loads(open(os.path.join(out, "summary.json")).read())
    assert len(summary["runs"]) == 4
    # Re-running reuses the finished runs.
    assert (
        load("compare").main(
            [
                "--task",
                "copy",
                "--cells",
                "nnrnn",
                "--seeds",
                "0",
                *common,
                "--out",
                out,
            ]
        )
        == 0
    )
    assert "finished, reused" in capsys.readouterr().out
    out = str(tmp_path / "abl")
    assert (
        load("ablate_copy").main(
            [
                "--variants",
                "base,l1_penalty,double_units",
                *common,
                "--out",
                out,
            ]
        )
        == 0
    )
    table = open(os.path.join(out, "summary.md")).read()
    assert "| l1_penalty |" in table and "| 16 |" in table
    assert os.path.exists(os.path.join(out, "curves.png"))
    # Re-running reports every finished run and trains none of them.
    runs = {p: s for p, s in snapshot(out).items() if "seed" in p}
    argv = ["--variants", "base,l1_penalty,double_units", *common]
    assert load("ablate_copy").main([*argv, "--out", out]) == 0
    assert capsys.readouterr().out.count("finished, reused") == 3
    assert {p: s for p, s in snapshot(out).items() if "seed" in p} == runs


def test_killed_script_resumes_when_rerun(tmp_path):
    out = str(tmp_path / "killed")
    cmd = [
        sys.executable,
        os.path.join(EXAMPLES, "copy_task.py"),
        "--time-lag",
        "20",
        "--units",
        "16",
        "--steps",
        "400",
        "--log-every",
        "5",
        "--test-size",
        "10",
        "--verbose",
        "0",
        "--out",
        out,
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    metrics = os.path.join(out, "metrics.csv")
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(metrics) and len(open(metrics).readlines()) >= 4:
            break
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(open(metrics).readlines()) - 1
    assert 3 <= done < 80 and not os.path.exists(f"{out}/result.json")
    finished = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=300
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "baseline" in finished.stdout
    result = json.loads(open(os.path.join(out, "result.json")).read())
    # The kill can land between an epoch's metrics row and its checkpoint:
    # the run resumes from the last checkpoint, at most one epoch behind.
    resumed = result["resumed_from_epoch"]
    assert resumed >= 2 and done - 1 <= resumed <= done
    assert result["steps"] == 400
    rows = open(metrics).read().strip().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, 81))
