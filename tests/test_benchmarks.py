"""`benchmarks/run.py --quick` runs and reports every cell (not timed)."""

import json
import os
import subprocess
import sys

import pytest

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


# What each row is compared with, and issue 7's targets at the quick
# setting (benchmarks/report.py prints a ✓/✗ mark where there is one):
# inference of our cells and fused layers ≤ 1.10× SimpleRNN, NRU's
# training step ≤ 1.5× LSTM; no training target for the others at "quick".
INFER_TARGET = 1.10
NRU_TRAIN_TARGET = 1.5


def expected_baseline(name):
    return "LSTM" if name == "RNN(NRUCell)" else "SimpleRNN"


def targets(name):
    """(train target, infer target) of a layer at the quick setting."""
    if name == "RNN(NRUCell)":
        return NRU_TRAIN_TARGET, None
    if name.startswith(("RNN(", "layers.")):
        return None, INFER_TARGET
    return None, None


def check_ratio_cell(text, ratio, target, is_base):
    """A printed ratio: `1` for the baseline row, else `R.RR×`, with a
    mark and `(≤target)` exactly when there is a target; ✓ iff the
    unrounded ratio is within it."""
    if is_base:
        assert text == "1", text
        return
    expected = f"{ratio:.2f}×"
    if target is not None:
        mark = "✓" if ratio <= target else "✗"
        expected += f" {mark} (≤{target:g})"
    assert text == expected, (text, expected)


def simple_rnn_train_flops(s):
    """Products of a SimpleRNN training step at the quick setting, by hand:
    forward x·kernel and h·W per step, the head on every step; backward
    dh·Wᵀ, dW, dkernel and twice the head (no dX for the model input)."""
    b, t, f, n, c = 8, 40, 10, 32, 9
    forward = 2 * b * t * (f * n + n * n) + 2 * b * t * n * c
    backward = 2 * b * t * (2 * n * n + f * n) + 2 * (2 * b * t * n * c)
    return forward + backward


def check_rate(text, row):
    """The `GFLOP (GFLOP/s, % peak)` cell: what results.json holds, and for
    SimpleRNN the count of `simple_rnn_train_flops`; NRU is not counted."""
    if "NRU" in row["layer"]:
        assert text == "–" and "flops" not in row, (text, row)
        return
    count = row["flops"]["train"]
    if row["layer"] == "SimpleRNN":
        assert count == simple_rnn_train_flops(row), count
    if row["layer"].startswith(("RNN(", "layers.")):
        assert count > row["flops"]["infer"] + row["flops"]["parametrization"]
    rate = count / row["train_s"]
    assert text == (
        f"{count / 1e9:.1f} ({rate / 1e9:.0f}, "
        f"{100 * rate / row['peak_flops']:.0f}%)"
    ), text


def table_rows(table, heading):
    """`{layer: [cells]}` of the Markdown table under `heading`."""
    lines = table.split(heading, 1)[1].strip().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("|"))
    rows = {}
    for line in lines[first + 2 :]:  # header and rule
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize(
    "only",
    [
        # Default run: nnRNN's two rows and their SimpleRNN baseline (about
        # a fifth of the time); the slow lane: every registered cell.
        "NNRNN",
        pytest.param(None, marks=pytest.mark.slow),
    ],
)
def test_quick_benchmark_reports_every_cell(tmp_path, only):
    """Every registered cell is timed (with `--only`: every selected one
    and its baseline); the numbers are consistent: each ratio is its row's
    time over its `vs` row's, the Markdown table and stdout show the
    numbers of results.json, and every ✓/✗ agrees with the ratio and its
    target. (Timings only; memory has its own probe.)"""
    proc = subprocess.run(
        [
            sys.executable,
            RUN,
            "--quick",
            "--no-memory",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--out",
            str(tmp_path),
            *(["--only", only] if only else []),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "results.json").read_text())
    assert list(result["settings"]) == ["quick"]
    assert {r["jit"] for r in result["rows"]} == {False}
    rows = {r["layer"]: r for r in result["rows"]}
    short = {name.split(" [")[0]: name for name in rows}
    expected = [
        name for name in expected_layers()
        if only is None or only in name or name == "SimpleRNN"
    ]
    if only is not None:
        assert sorted(short) == sorted(expected), sorted(rows)
        assert len(expected) == 3, expected  # SimpleRNN, RNN(...), layers.
    assert set(expected) <= set(short), sorted(rows)
    table = (tmp_path / "results.md").read_text()
    assert table.strip() in proc.stdout
    speed = table_rows(table, "#### quick, jit_compile=False")
    params = table_rows(table, "#### Parametrization, quick, jit_compile=False")
    labels = {  # the table's first column: layer and note
        name: name + (f" ({r['note']})" if r.get("note") else "")
        for name, r in rows.items()
    }
    assert set(speed) == set(labels.values())
    for name in expected:
        row = rows[short[name]]
        assert "error" not in row, row
        assert "memory" not in row  # --no-memory
        assert row["baseline"] == expected_baseline(name), row
        base = rows[row["baseline"]]
        assert row["train_s"] > 0 and row["infer_s"] > 0, row
        is_base = name == row["baseline"]
        if not is_base:
            assert row["train_ratio"] == row["train_s"] / base["train_s"]
            assert row["infer_ratio"] == row["infer_s"] / base["infer_s"]
        cells = speed[labels[row["layer"]]]
        train_ms, train_ratio, le_cell, rate, infer_ms, infer_ratio, vs = cells
        check_rate(rate, row)
        if name.startswith("layers."):
            cell = next(
                r for r in rows.values()
                if r["cell_key"] == row["cell_key"]
                and r["layer"].startswith("RNN(")
            )
            assert le_cell == ("✓" if row["train_s"] <= cell["train_s"]
                               else "✗"), (le_cell, row, cell)
        else:
            assert le_cell == "", le_cell
        assert train_ms == f"{row['train_s'] * 1e3:.1f}"
        assert infer_ms == f"{row['infer_s'] * 1e3:.1f}"
        assert vs == row["baseline"]
        train_target, infer_target = targets(name)
        check_ratio_cell(
            train_ratio, row.get("train_ratio"), train_target, is_base
        )
        check_ratio_cell(
            infer_ratio, row.get("infer_ratio"), infer_target, is_base
        )
        if name.startswith(("RNN(", "layers.")) and "NRU" not in name:
            p = row["parametrization"]
            assert p["forward"] > 0 and p["forward+gradient"] > 0, row
            key = row["cell_key"]
            fwd, both = params[key][:2]
            assert fwd == f"{p['forward'] * 1e3:.2f}"
            assert both == f"{p['forward+gradient'] * 1e3:.2f}"
            share = params[key][4 if name.startswith("RNN(") else 5]
            expected = 100 * p["forward+gradient"] / row["train_s"]
            assert share == f"{expected:.0f}%", (share, expected)
