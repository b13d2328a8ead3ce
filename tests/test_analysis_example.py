"""Smoke test of examples/analysis.py on tiny settings."""

import importlib.util
import os

EXAMPLE = os.path.join(
    os.path.dirname(__file__), os.pardir, "examples", "analysis.py"
)


def load_example():
    spec = importlib.util.spec_from_file_location("analysis_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_writes_figures_and_tables(tmp_path):
    example = load_example()
    out = tmp_path / "analysis"
    path = example.main(["--quick", "--out", str(out), "--verbose", "0"])
    assert sorted(os.listdir(out)) == [
        "figure1.png",
        "pseudospectra.png",
        "results.md",
        "robustness.png",
        "schur.png",
        "transients.png",
    ]
    text = open(path, encoding="utf-8").read()
    # The supplement's table next to ours, e.g. (α, β, d) = (1, 0, 0).
    assert "| 1.0 | 0.0 | 0.0 | 5.1874 | 5.1874 | 5.19 |" in text
    for model in ("RNN-orth", "nnRNN"):
        assert f"| {model} | before |" in text
        assert f"| {model} | after |" in text
        assert f"| {model} | fgsm |" in text


def test_flags():
    example = load_example()
    args = example.parse_args(["--quick", "--steps", "7"])
    assert args.steps == 7 and args.units == 8
    args = example.parse_args([])
    assert args.units == 128 and args.time_lag == 200
