"""Smoke test of examples/analysis.py on tiny settings."""

import hashlib
import importlib.util
import json
import math
import os
import time
from fractions import Fraction

EXAMPLE = os.path.join(
    os.path.dirname(__file__), os.pardir, "examples", "analysis.py"
)


def delay_line_total(a, n=100):
    """Σ_{k<n} a^{2k} / Σ_{j≤k} a^{2j}: positive terms, float64-exact to
    ~1e-15 relative (a = 1: the harmonic number H_n)."""
    powers = [a ** (2 * k) for k in range(n)]
    return math.fsum(
        p / math.fsum(powers[: k + 1]) for k, p in enumerate(powers)
    )


def load_example():
    spec = importlib.util.spec_from_file_location("analysis_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def snapshot(folder):
    """Every file of `folder`: name -> (mtime in ns, SHA-256 of its bytes)."""
    files = {}
    for name in os.listdir(folder):
        full = os.path.join(folder, name)
        with open(full, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        files[name] = (os.stat(full).st_mtime_ns, digest)
    return files


def test_quick_run_writes_figures_and_tables(tmp_path, capsys, monkeypatch):
    example = load_example()
    out = tmp_path / "analysis"
    argv = ["--quick", "--out", str(out), "--verbose", "0"]
    path = example.main(argv)
    # The figures and tables, and the run-folder files (issue 13's rules:
    # lock, manifest of what the script owns, its config and result).
    assert sorted(os.listdir(out)) == [
        ".lock",
        "config.json",
        "figure1.png",
        "manifest.json",
        "pseudospectra.png",
        "result.json",
        "results.md",
        "robustness.png",
        "schur.png",
        "transients.png",
    ]
    assert path == str(out / "results.md")
    with open(out / "config.json", encoding="utf-8") as f:
        assert json.load(f)["task"] == "analysis"
    with open(out / "result.json", encoding="utf-8") as f:
        assert json.load(f) == {"results": "results.md"}

    # Re-running the same command reports the finished analysis and neither
    # recomputes nor rewrites anything (issue 13).
    before = snapshot(out)
    capsys.readouterr()

    def recompute(*args, **kwargs):
        raise AssertionError("a finished analysis was run again")

    monkeypatch.setattr(example, "part1", recompute)
    monkeypatch.setattr(example, "part2", recompute)
    time.sleep(0.01)  # a rewrite would show in the mtimes
    assert example.main(argv) == path
    assert "finished" in capsys.readouterr().out
    assert snapshot(out) == before

    text = open(path, encoding="utf-8").read()
    # The β = d = 0 rows are delay lines (N = 100, v = e_1, ε = 1) with
    # J(k) = a^{2k} / Σ_{j≤k} a^{2j} for k < 100 and 0 after (math.md),
    # a = α or √α by convention. At α = 1 both are J(k) = 1/(k + 1): the
    # total is the harmonic number H_100 = 5.18738. The last columns are
    # the supplement's printed value (Table 6) and our gap to it.
    supplement = {0.95: 3.03, 1.0: 5.19, 1.05: 12.1}
    for alpha, published in supplement.items():
        ours, root = delay_line_total(alpha), delay_line_total(alpha**0.5)
        gap = 100 * (ours / published - 1)
        row = (
            f"| {alpha} | 0.0 | 0.0 | {ours:.4f} | {root:.4f} | "
            f"{published} | {gap:+.2f} % |"
        )
        assert row in text, row
    harmonic = float(sum(Fraction(1, k) for k in range(1, 101)))
    assert f"| 1.0 | 0.0 | 0.0 | {harmonic:.4f} | {harmonic:.4f} |" in text
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
