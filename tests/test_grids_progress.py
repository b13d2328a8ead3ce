"""Progress of a grid of runs: `run k of N`, the time left, each result,
reused runs, and runs that diverge (`tf_nnrnn.experiments.grids`)."""

import json
import os
import re

import pytest

from tf_nnrnn.experiments import grids
from tf_nnrnn.experiments.grids import GridProgress, Variant, run_grid
from tf_nnrnn.experiments.presets import Settings
from tf_nnrnn.experiments.training import TrainingDiverged


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def fake_run(monkeypatch):
    """`run` replaced by one that takes 10 s per label's index + 1 on a fake
    clock, writes the files a finished run leaves and diverges on cell
    'rnn'."""
    clock = FakeClock()
    monkeypatch.setattr(grids.time, "monotonic", clock)
    calls = []

    def run(task, cell, settings, out_dir=None, overwrite=False):
        calls.append((cell, settings.seed))
        clock.now += 10.0 * (1 + settings.units // 100)
        if cell == "rnn":
            raise TrainingDiverged("loss became NaN at update 3")
        result = {"description": f"{cell} seed {settings.seed} loss 0.5"}
        os.makedirs(out_dir, exist_ok=True)
        config = {"task": task, "cell": cell, "settings": settings.to_dict()}
        for name, data in (("config.json", config), ("result.json", result)):
            with open(os.path.join(out_dir, name), "w") as f:
                json.dump(data, f)
        return result

    monkeypatch.setattr(grids, "run", run)
    return calls


def test_time_left_uses_measured_then_estimated_then_mean():
    p = GridProgress(["a", "a", "b", "c"], estimates={"b": 30.0})
    assert p.left(0) is None  # a: neither measured nor estimated
    p.times["a"] = [10.0, 20.0]
    # a: its mean 15; b: its estimate 30; c: the mean of all measured 15.
    assert p.left(0) == 15 + 15 + 30 + 15
    assert p.left(2) == 30 + 15
    p.times["b"] = [50.0]
    assert p.left(2) == 50 + (10 + 20 + 50) / 3
    assert p.left(4) == 0


def test_grid_prints_run_k_of_n_time_left_and_results(
    fake_run, tmp_path, capsys
):
    small, big = Settings(units=8), Settings(units=150)
    variants = [Variant("small", "lstm", small), Variant("big", "lstm", big)]
    records = run_grid("copy", variants, [0, 1], str(tmp_path))
    lines = capsys.readouterr().out.splitlines()
    assert [r["label"] for r in records] == ["small"] * 2 + ["big"] * 2
    assert lines[0] == "== run 1 of 4: small (cell lstm), seed 0"
    # After the first run (10 s), the 3 left are estimated at 10 s each.
    assert lines[1] == (
        "-- run 1 of 4 done in 10 s: small, seed 0: lstm seed 0 loss 0.5; "
        "about 30 s left"
    )
    assert lines[2].startswith("== run 2 of 4: small (cell lstm), seed 1;")
    # Before the first big run: its label unmeasured, mean of all = 10 s.
    assert lines[4] == "== run 3 of 4: big (cell lstm), seed 0; about 20 s left"
    # After it (20 s), the last big run is estimated from big's own time.
    assert lines[5].endswith("about 20 s left")
    assert lines[7].startswith("-- run 4 of 4 done in 20 s: big, seed 1: ")
    assert not lines[7].endswith("left")
    assert len(lines) == 8


def test_estimates_give_time_left_before_any_run(fake_run, tmp_path, capsys):
    v = [Variant("a", "lstm", Settings(units=8))]
    run_grid("copy", v, [0, 1], str(tmp_path), estimates={"a": 150.0})
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "== run 1 of 2: a (cell lstm), seed 0; about 5.0 min left"


def test_reused_runs_say_so_with_their_result(fake_run, tmp_path, capsys):
    v = [Variant("a", "lstm", Settings(units=8))]
    run_grid("copy", v, [0], str(tmp_path))
    capsys.readouterr()
    run_grid("copy", v, [0, 1], str(tmp_path))
    lines = capsys.readouterr().out.splitlines()
    assert fake_run == [("lstm", 0), ("lstm", 1)]  # seed 0 not run again
    assert lines[0] == (
        "== run 1 of 2: a, seed 0: finished, reused (lstm seed 0 loss 0.5)"
    )
    assert lines[1].startswith("== run 2 of 2: a (cell lstm), seed 1")
    run_grid("copy", v, [0, 1], str(tmp_path), overwrite=True)
    assert fake_run[2:] == [("lstm", 0), ("lstm", 1)]  # --overwrite: again


def test_diverged_run_stops_the_grid_unless_keep_going(
    fake_run, tmp_path, capsys
):
    v = [
        Variant("r", "rnn", Settings(units=8)),
        Variant("a", "lstm", Settings(units=8)),
    ]
    with pytest.raises(TrainingDiverged):
        run_grid("copy", v, [0], str(tmp_path / "stop"))
    records = run_grid("copy", v, [0], str(tmp_path / "go"), keep_going=True)
    out = capsys.readouterr().out
    assert re.search(r"-- run 1 of 2 done in 10 s: r, seed 0: diverged", out)
    assert records[0]["result"] is None
    assert "NaN" in records[0]["diverged"]
    assert records[1]["result"]["description"].startswith("lstm")
