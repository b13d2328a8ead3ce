"""The cost scripts of `benchmarks/` run and print what their docstrings
say (a tiny size, one round: this checks the scripts, not the speed)."""

import importlib.util
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(name):
    path = os.path.join(ROOT, "benchmarks", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_manifold_cost_prints_one_row_per_size(capsys):
    load("manifold_cost").main(
        ["--units", "4", "6", "--rounds", "2", "--warmup", "1"]
    )
    lines = capsys.readouterr().out.strip().splitlines()[1:]  # settings
    header = lines[0].split()
    names = ["sgd", "polar", "qr", "riemannian", "riemannian32", "expm",
             "cayley"]
    assert header[1:-1] == names, header
    assert [line.split()[0] for line in lines[1:]] == ["4", "6"]
    for line in lines[1:]:
        times = [float(t) for t in line.split()[1:]]
        assert len(times) == len(names) and all(t > 0 for t in times), line


def test_param_cost_reports_degree_and_ratio(capsys):
    load("param_cost").main(
        ["--units", "8", "--rounds", "2", "--norms", "0.01", "5"]
    )
    out = capsys.readouterr().out
    # Degree chosen from ‖A‖₁ (θ thresholds of the float32 table): the low
    # degree for a small norm, the top one for a large norm.
    degrees = [int(d) for d in re.findall(r"adaptive degree (\d+)", out)]
    assert degrees[0] < degrees[1] == 7, out
    taylor = [int(d) for d in re.findall(r"taylor degree (\d+)", out)]
    assert taylor[0] < taylor[1] == 18, out
    rows = re.findall(
        r"^\s*(\S+)\s+(forward|fwd\+grad)"
        r"\s+([\d.]+)ms\s+([\d.]+)ms\s+([\d.]+)ms ([\d.]+) ([\d.]+)$",
        out, re.M,
    )
    assert len(rows) == 4, out
    assert all(float(r[5]) > 0 and float(r[6]) > 0 for r in rows), rows


def test_manifold_cost_unknown_contender_exits_2_naming_only(capsys):
    with pytest.raises(SystemExit) as exit:
        load("manifold_cost").main(["--only", "polar,svd"])
    assert exit.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert "argument --only: unknown svd" in lines[-1], lines
