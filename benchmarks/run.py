"""Speed and memory of tf_nnrnn's cells against Keras' SimpleRNN and LSTM.

Times a training step (forward + backward + optimizer update) and an
inference step of every cell, under `keras.layers.RNN(cell)` and as our
fused layers (`tf_nnrnn.layers`), against `keras.layers.SimpleRNN` and
`keras.layers.LSTM` of the same units, all in the same run and interleaved,
with and without `jit_compile`; prints ratio tables (medians after
warm-up), the share of the step spent in the parametrization and its
gradient, and the peak memory of a training step. See
`benchmarks/README.md` for the latest tables.

Usage::

    python benchmarks/run.py --quick              # CI-sized, < 1 minute
    python benchmarks/run.py                      # copy, psMNIST, PTB
    python benchmarks/run.py --settings copy --repeats 50
    python benchmarks/run.py --sweep              # n and T scaling sweep

Results go to `--out` (default `runs/benchmarks`): `results.json`,
`results.md` and, with `--sweep`, `sweep.png`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import flops  # noqa: E402
import report  # noqa: E402
from tqdm import tqdm  # noqa: E402

SWEEP_UNITS = (64, 128, 256, 512, 1024)
SWEEP_STEPS = (100, 200, 500, 1000)
SWEEP_ENTRIES = (
    "SimpleRNN",
    "LSTM",
    "RNN(NNRNNCell)",
    "RNN(ExpRNNCell)",
    "layers.NNRNN",
    "layers.ExpRNN",
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="tiny CI setting")
    p.add_argument(
        "--settings",
        default="copy,psmnist,ptb",
        help="comma list of " + ", ".join(common.SETTINGS),
    )
    p.add_argument(
        "--jit",
        help="'off', 'on' or 'off,on' (default; --quick: 'off', as XLA "
        "compilation dominates tiny runs on CPU)",
    )
    p.add_argument("--repeats", type=int, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument(
        "--expm-gradients",
        default="taylor",
        help="comma list of expm methods for nnRNN/expRNN rows ('taylor', "
        "'pade', 'block', 'eig', or 'default' for the cells' default)",
    )
    p.add_argument("--only", help="comma list: keep rows containing these")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--no-parametrization", action="store_true")
    p.add_argument("--sweep", action="store_true", help="n and T sweeps")
    p.add_argument("--sweep-grid", action="store_true", help="full n×T grid")
    p.add_argument("--out", default="runs/benchmarks")
    p.add_argument(
        "--memory-only", action="store_true", help="skip the timings"
    )
    p.add_argument("--memory-probe", help=argparse.SUPPRESS)
    p.add_argument("--memory-row", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def select_entries(args, names=None):
    grads = [
        None if g == "default" else g for g in args.expm_gradients.split(",")
    ]
    rows = common.entries(grads)
    if args.only:
        keep = args.only.split(",")
        rows = [r for r in rows if any(k in r.name for k in keep)]
    if names is not None:
        rows = [r for r in rows if r.name.split(" [")[0] in names]
    for base in ("SimpleRNN", "LSTM"):
        if any(r.baseline == base for r in rows) and base not in {
            r.name for r in rows
        }:
            rows.insert(0, next(r for r in common.entries() if r.name == base))
    return rows


def jit_modes(args):
    modes = {"off": False, "on": True}
    default = "off" if args.quick else "off,on"
    return [modes[m] for m in (args.jit or default).split(",")]


def bench_setting(setting, rows, jit, args, progress):
    """Times every row at `setting`; returns the result records."""
    x, y = common.data(setting)
    models, notes, errors = {}, {}, {}
    for row in rows:
        try:
            models[row.name], notes[row.name] = common.build_model(
                row, setting, jit
            )
            models[row.name].train_on_batch(x, y)  # fail here, not later
        except Exception as err:  # report every failure, keep measuring
            errors[row.name] = f"{type(err).__name__}: {err}"[:300]
            models.pop(row.name, None)
    repeats = args.repeats or setting.repeats
    train, infer = common.time_models(
        models, x, y, repeats, args.warmup, progress
    )
    memory = {}
    if not args.no_memory and common.gpu_available():
        for key, model in models.items():
            memory[key] = common.training_step_memory(model, x, y)
    params, param_flops = {}, {}
    for row in rows:
        if row.cell_key and row.cell_key not in params:
            if row.name in models:
                cell = models[row.name].layers[0].cell
                param_flops[row.cell_key] = flops.parametrization_flops(cell)
                if not args.no_parametrization:
                    params[row.cell_key] = common.parametrization_cost(
                        cell, jit, max(repeats, 10)
                    )
    # The machine's matmul rate, in the same run (small in --quick).
    peak_n = 256 if setting.name == "quick" else 4096
    peak = flops.matmul_peak(peak_n)
    records = []
    for row in rows:
        rec = {
            "setting": setting.name,
            "jit": jit,
            "layer": row.name,
            "baseline": row.baseline,
            "cell_key": row.cell_key,
            "note": notes.get(row.name, ""),
        }
        if row.name in errors:
            rec["error"] = errors[row.name]
        else:
            rec["train_s"] = train[row.name]
            rec["infer_s"] = infer[row.name]
            if row.baseline in train:
                rec["train_ratio"] = train[row.name] / train[row.baseline]
                rec["infer_ratio"] = infer[row.name] / infer[row.baseline]
        if row.name in memory:
            rec["memory"] = memory[row.name]
        if row.cell_key in params:
            rec["parametrization"] = dict(params[row.cell_key])
        count = flops.loop_flops(setting, row.name)
        if count is not None:
            # Steady-state inference reuses the cached W: no parametrization.
            both = (param_flops.get(row.cell_key) or (0.0, 0.0))[1]
            rec["flops"] = {**count, "parametrization": both}
            rec["flops"]["train"] += both
            rec["peak_flops"], rec["peak_n"] = peak, peak_n
            if row.cell_key in params and param_flops.get(row.cell_key):
                rec["parametrization"]["flops"] = param_flops[row.cell_key]
        records.append(rec)
    return records


def memory_probe(args):
    """In a child process: CPU training-step memory of rows, as JSON.

    One inter-op thread: with TensorFlow's default pool the order in which
    independent ops run, and so the peak, changes from step to step
    (measured at PTB: SimpleRNN 258–332 MiB over six steps); with one it
    repeats within 2% (270–275 MiB). Intra-op threads are unchanged.
    """
    common.tf.config.threading.set_inter_op_parallelism_threads(1)
    setting = common.SETTINGS[args.memory_probe]
    x, y = common.data(setting)
    out = {}
    for row in select_entries(args):
        if args.memory_row and row.name != args.memory_row:
            continue
        model, _ = common.build_model(row, setting, jit=False)
        out[row.name] = common.training_step_memory(model, x, y)
        del model
    print("MEMORY_JSON " + json.dumps(out))


def _probe(setting, args, row=None):
    env = dict(os.environ, **common.MEMORY_PROBE_ENV)
    cmd = [sys.executable, os.path.abspath(__file__)]
    cmd += ["--memory-probe", setting.name]
    cmd += ["--expm-gradients", args.expm_gradients]
    if args.only:
        cmd += ["--only", args.only]
    if row is not None:
        cmd += ["--memory-row", row]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("MEMORY_JSON "):
            return json.loads(line[len("MEMORY_JSON ") :])
    tail = (proc.stderr or proc.stdout)[-2000:]
    raise RuntimeError(f"memory probe failed for {setting.name}:\n{tail}")


def measure_cpu_memory(setting, rows, args):
    """CPU training-step memory in fresh processes with `MEMORY_PROBE_ENV`.

    One process per row, as memory freed by an earlier model is reused by
    a later one and would hide part of its growth; `--quick` measures all
    rows in one process (its tiny sizes are not a memory comparison).
    """
    if args.quick:
        return _probe(setting, args)
    out = {}
    for row in tqdm(rows, desc=f"{setting.name} memory"):
        out.update(_probe(setting, args, row.name))
    return out


def run_sweep(args, progress_desc="sweep"):
    if args.sweep_grid:
        points = [(n, t) for n in SWEEP_UNITS for t in SWEEP_STEPS]
    else:
        points = [(n, 200) for n in SWEEP_UNITS]
        points += [(128, t) for t in SWEEP_STEPS if t != 200]
    rows = select_entries(args, names=SWEEP_ENTRIES)
    records = []
    with tqdm(total=len(points), desc=progress_desc) as bar:
        for n, t in points:
            setting = common.sweep_setting(n, t)
            for jit in jit_modes(args):
                args_copy = argparse.Namespace(
                    **{**vars(args), "no_parametrization": True}
                )
                recs = bench_setting(setting, rows, jit, args_copy, None)
                for rec in recs:
                    rec.update(units=n, steps=t)
                records += recs
            bar.update(1)
    return records


def run_parametrization_sweep(args):
    """Forward and forward+gradient of expm by gradient method and n."""
    import tf_nnrnn

    records = []
    methods = ("taylor", "pade", "block", "eig")
    with tqdm(total=len(SWEEP_UNITS) * len(methods), desc="expm sweep") as bar:
        for n in SWEEP_UNITS:
            for method in methods:
                cell, _ = common.with_gradient(
                    lambda n=n, **kw: tf_nnrnn.ExpRNNCell(n, **kw), method
                )
                cell.build((None, 10))
                cost = common.parametrization_cost(
                    cell, jit=False, repeats=10 if n <= 256 else 3
                )
                records.append({"units": n, "method": method, **cost})
                bar.update(1)
    return records


def write_atomic(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp_")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.memory_probe:
        memory_probe(args)
        return 0
    names = ["quick"] if args.quick else args.settings.split(",")
    for name in names:
        if name not in common.SETTINGS:
            raise SystemExit(
                "Received an invalid value for argument `--settings`, "
                f"expected a comma list of {list(common.SETTINGS)}, got "
                f"{name!r}."
            )
    rows = select_entries(args)
    result = {"machine": common.machine_info(), "settings": {}, "rows": []}
    result["command"] = "python benchmarks/run.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    for name in names:
        setting = common.SETTINGS[name]
        result["settings"][name] = dataclasses.asdict(setting)
        total = (args.repeats or setting.repeats) * len(jit_modes(args))
        if args.memory_only:
            result["rows"] += [
                {
                    "setting": name,
                    "jit": False,
                    "layer": row.name,
                    "baseline": row.baseline,
                    "cell_key": row.cell_key,
                    "note": "",
                }
                for row in rows
            ]
        else:
            with tqdm(total=total, desc=name) as bar:
                for jit in jit_modes(args):
                    result["rows"] += bench_setting(
                        setting, rows, jit, args, bar
                    )
        if not args.no_memory and not common.gpu_available():
            memory = measure_cpu_memory(setting, rows, args)
            for rec in result["rows"]:
                if rec["setting"] == name and not rec["jit"]:
                    if rec["layer"] in memory:
                        rec["memory"] = memory[rec["layer"]]
    if args.sweep or args.sweep_grid:
        result["sweep"] = run_sweep(args)
        result["expm_sweep"] = run_parametrization_sweep(args)
    text = report.markdown(result)
    print(text)
    os.makedirs(args.out, exist_ok=True)
    write_atomic(os.path.join(args.out, "results.json"), json.dumps(result))
    write_atomic(os.path.join(args.out, "results.md"), text)
    if result.get("sweep"):
        report.plot_sweep(result["sweep"], os.path.join(args.out, "sweep.png"))
    failed = [r for r in result["rows"] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
