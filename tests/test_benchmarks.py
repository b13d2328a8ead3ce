"""`benchmarks/run.py --quick` runs and reports every cell (not timed)."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "benchmarks", "run.py")


def expected_layers():
    """Keras' baselines, NRU, and every registered parametrized cell under
    `RNN` and as its fused layer."""
    from tf_nnrnn.cells.base import RecurrentMatrixCell
    from tf_nnrnn.cells.registry import cell_names, get_cell

    layers = ["SimpleRNN", "LSTM", "RNN(NRUCell)"]
    for name in cell_names():
        entry = get_cell(name)
        cls = entry.cell_class
        if isinstance(cls, type) and issubclass(cls, RecurrentMatrixCell):
            layers.append(f"RNN({cls.__name__})")
            if entry.fused_layer is not None:
                layers.append(f"layers.{entry.fused_layer.__name__}")
    return layers


def test_quick_benchmark_reports_every_cell(tmp_path):
    proc = subprocess.run(
        [sys.executable, RUN, "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "results.json").read_text())
    rows = {r["layer"].split(" [")[0]: r for r in result["rows"]}
    assert set(expected_layers()) <= set(rows), sorted(rows)
    for name in expected_layers():
        row = rows[name]
        assert "error" not in row, row
        assert row["train_s"] > 0 and row["infer_s"] > 0, row
        assert row["train_ratio"] > 0 and row["infer_ratio"] > 0, row
        assert row["memory"]["bytes"] >= 0, row
        if "Cell" in name or name.startswith("layers."):
            if "NRU" not in name:
                p = row["parametrization"]
                assert p["forward"] > 0 and p["forward+gradient"] > 0, row
    # The printed table names every layer too, and the Markdown is saved.
    table = (tmp_path / "results.md").read_text()
    assert table.strip() in proc.stdout
    for name in expected_layers():
        assert f"| {name}" in table, name
