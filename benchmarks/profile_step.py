"""Where the time of one training step goes: a profile by kind of op.

Traces a few `train_on_batch` steps of chosen rows of `benchmarks/run.py`
with TensorFlow's profiler and adds up the time of every op, by region
(the recurrent loop forward and backward, the parametrization, the rest:
head, loss, optimizer) and by kind:

- `matmul`: matrix products (`MatMul`, oneDNN's `_Mkl*MatMul`, fused
  matmul + bias);
- `solve`: LU and triangular solves (`MatrixSolve`, `Lu`, ...);
- `elementwise`: arithmetic, activations, comparisons, reductions;
- `copy`: stacking, slicing, concatenation, transposes, TensorArrays;
- `control`: the loop's own ops (`Enter`, `Merge`, `Switch`, ...).

"unaccounted" is the step's wall time not covered by any op: the
executor's scheduling and the Python call. To make op times add up to the
step, the profile runs with **one inter-op thread** (ops one after
another, each using both cores); the timings of `benchmarks/run.py` keep
TensorFlow's default threads, so this is a breakdown, not a benchmark.

Usage:

    python benchmarks/profile_step.py                       # PTB, 3 rows
    python benchmarks/profile_step.py --setting psmnist --rows SimpleRNN
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tensorflow as tf  # noqa: E402

#: An op's event: `scope/name:Type` (the executor's own events have `::`
#: or spaces).
_OP = re.compile(r"^([^:\s]+):([A-Za-z_][A-Za-z0-9_]*)$")
KINDS = ("matmul", "solve", "elementwise", "copy", "control")
REGIONS = ("loop forward", "loop backward", "parametrization", "rest")
_COPY = (
    "Pack", "Unpack", "ConcatV2", "Concat", "Transpose", "Slice",
    "StridedSlice", "Reshape", "Pad", "PadV2", "Identity", "Fill",
    "ZerosLike", "OnesLike", "GatherV2", "Tile", "BroadcastTo", "Squeeze",
    "ExpandDims", "Snapshot",
)  # fmt: skip
_CONTROL = (
    "Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond",
    "While", "StatelessWhile", "Case", "StatelessCase", "If",
    "StatelessIf", "_Recv", "_Send", "NoOp", "Const", "_Retval", "_Arg",
)  # fmt: skip


def op_kind(op_type: str) -> str:
    """The kind (`KINDS`) of a TensorFlow op type."""
    if "MatMul" in op_type or op_type in ("Einsum", "_MklEinsum"):
        return "matmul"
    if op_type.startswith(("MatrixSolve", "MatrixTriangularSolve", "Lu")):
        return "solve"
    if op_type.startswith("TensorArray") or op_type in _COPY:
        return "copy"
    if op_type in _CONTROL:
        return "control"
    return "elementwise"


def op_region(op_name: str) -> str:
    """The region (`REGIONS`) of an op, from its name scope: the cells
    compute `W` under `recurrent_matrix`, the expm's and the fused loop's
    hand-written gradients run under `expm_gradient` and
    `modrelu_rnn_gradient`; autodiff's under `gradient_tape`."""
    name = op_name.lower()
    if "recurrent_matrix" in name or "expm_gradient" in name:
        return "parametrization"
    if "modrelu_rnn_gradient" in name:
        return "loop backward"
    if "while" in name:
        return "loop backward" if "gradient_tape" in name else "loop forward"
    return "rest"


def _events(logdir):
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    path = sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True))[-1]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        meta = plane.event_metadata
        for line in plane.lines:
            for event in line.events:
                match = _OP.match(meta[event.metadata_id].name)
                if match:
                    op_name, op_type = match.groups()
                    yield op_name, op_type, event.duration_ps * 1e-12


def profile(model, x, y, steps: int = 3) -> dict:
    """Seconds per step by (region, kind), and the step's wall time."""
    for _ in range(2):
        model.train_on_batch(x, y)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        wall = (time.perf_counter() - start) / steps
        tf.profiler.experimental.stop()
        table = collections.Counter()
        types = collections.Counter()
        for op_name, op_type, seconds in _events(logdir):
            table[(op_region(op_name), op_kind(op_type))] += seconds / steps
            types[op_type] += seconds / steps
    return {"wall": wall, "table": table, "types": types}


def markdown(name, result) -> str:
    t, wall = result["table"], result["wall"]
    lines = [
        f"#### {name}: {1e3 * wall:.0f} ms per step (profiled)",
        "",
        "| region | " + " | ".join(KINDS) + " | total |",
        "| --- |" + " ---: |" * (len(KINDS) + 1),
    ]
    for region in REGIONS:
        cells = [t[(region, k)] for k in KINDS]
        if not any(cells):
            continue
        lines.append(
            f"| {region} | "
            + " | ".join(f"{1e3 * c:.0f}" for c in cells)
            + f" | {1e3 * sum(cells):.0f} |"
        )
    totals = [sum(t[(r, k)] for r in REGIONS) for k in KINDS]
    covered = sum(totals)
    lines.append(
        "| all | "
        + " | ".join(f"{1e3 * c:.0f} ({100 * c / wall:.0f}%)" for c in totals)
        + f" | {1e3 * covered:.0f} ({100 * covered / wall:.0f}%) |"
    )
    lines.append(
        f"| unaccounted | | | | | | {1e3 * (wall - covered):.0f} "
        f"({100 * (wall - covered) / wall:.0f}%) |"
    )
    top = result["types"].most_common(8)
    lines += [
        "",
        "Largest op types (ms per step): "
        + ", ".join(f"{k} {1e3 * v:.0f}" for k, v in top)
        + ".",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setting", default="ptb")
    parser.add_argument(
        "--rows",
        default="SimpleRNN,layers.NNRNN [taylor],layers.ExpRNN [taylor]",
        help="comma list of benchmark row names",
    )
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        threads = "one inter-op thread"
    except RuntimeError:  # TensorFlow already started (called in-process)
        threads = "TensorFlow's inter-op threads (op times may overlap)"
    import common

    if args.setting not in common.SETTINGS:
        parser.error(
            f"argument --setting: expected one of {list(common.SETTINGS)}, "
            f"got {args.setting!r}"
        )
    entries = {e.name: e for e in common.entries()}
    names = args.rows.split(",")
    unknown = [n for n in names if n not in entries]
    if unknown:
        parser.error(f"argument --rows: unknown {', '.join(unknown)}")
    setting = common.SETTINGS[args.setting]
    x, y = common.data(setting)
    print(
        f"Profile of one training step, setting {args.setting}, "
        f"{args.steps} steps, {threads}; ms per step."
    )
    for name in names:
        model, _ = common.build_model(entries[name], setting, False)
        print()
        print(markdown(name, profile(model, x, y, args.steps)), flush=True)


if __name__ == "__main__":
    main()
