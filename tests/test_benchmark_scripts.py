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


def test_parametrization_flops_count_the_products_of_the_chosen_degree():
    """ExpRNN at ‖A‖₁ = 4: Taylor degree 18 (5 products) and one squaring,
    so 6 products forward and 2·5 + 2·1 + 0 backward; nnRNN adds its 2 + 4
    products of P(Λ+T)Pᵀ; at ‖A‖₁ = 0.01 degree 4 (2 products, 4 back)."""
    import numpy as np
    import tensorflow as tf

    import tf_nnrnn

    flops = load("flops")
    n = 8
    product = 2.0 * n**3
    x = np.triu(np.ones((n, n)), 1)  # skew(x): every column sum ≤ n - 1
    for norm, fwd, total in ((4.0, 6, 18), (0.01, 2, 6)):
        a = x * norm / np.abs(x - x.T).sum(axis=0).max()
        for cls, extra in ((tf_nnrnn.ExpRNNCell, 0), (tf_nnrnn.NNRNNCell, 2)):
            cell = cls(n)
            cell.build((None, 3))
            cell.skew_kernel.assign(tf.constant(a, tf.float32))
            got = flops.parametrization_flops(cell)
            want = ((fwd + extra) * product, (total + 3 * extra) * product)
            assert got == want, (cls.__name__, norm, got, want)


def test_profile_step_splits_the_step_by_region_and_kind(capsys):
    ps = load("profile_step")
    assert ps.op_kind("_MklMatMul") == ps.op_kind("MatMul") == "matmul"
    assert ps.op_kind("MatrixSolve") == "solve"
    assert ps.op_kind("Pack") == ps.op_kind("TensorArrayGatherV3") == "copy"
    assert ps.op_kind("Sign") == "elementwise"
    assert ps.op_region("seq/exp_rnn/recurrent_matrix/switch_case/x") == (
        "parametrization"
    )
    assert ps.op_region("expm_gradient/while/body/MatMul") == "parametrization"
    assert ps.op_region("modrelu_rnn_gradient/while/body/x") == "loop backward"
    assert ps.op_region("gradient_tape/seq/rnn/while/x") == "loop backward"
    assert ps.op_region("seq/simple_rnn/while/body/x") == "loop forward"
    assert ps.op_region("rm_sprop/Mul") == "rest"
    ps.main(["--setting", "quick", "--steps", "1",
             "--rows", "SimpleRNN,layers.NNRNN [taylor]"])
    out = capsys.readouterr().out
    simple, fused = out.split("#### ")[1:]
    for text in (simple, fused):
        rows = {
            line.split("|")[1].strip(): line
            for line in text.splitlines() if line.startswith("| ")
        }
        for region in ("loop forward", "loop backward", "all"):
            matmul = rows[region].split("|")[2].split()[0]
            assert float(matmul) >= 0, rows[region]
        covered = float(rows["all"].split("(")[-1].split("%")[0])
        assert 0 < covered <= 400, rows["all"]  # op times may overlap here
    assert "parametrization" not in simple
    assert "| parametrization |" in fused


def test_profile_step_unknown_row_exits_2(capsys):
    with pytest.raises(SystemExit) as exit:
        load("profile_step").main(["--rows", "SimpleRNN,Transformer"])
    assert exit.value.code == 2
    assert "unknown Transformer" in capsys.readouterr().err
