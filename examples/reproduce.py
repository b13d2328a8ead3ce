"""Reproduce one of the papers' tables: every cell with its paper settings,
our numbers beside the published ones (nnRNN, Kerg et al., NeurIPS 2019;
scoRNN and NRU rows from their own papers).

The command first checks the data (and names what is missing), then
prints the plan (one line per run with its settings and the published
number) with the estimated time per run on this device, from a few timed
updates, and the total. Each (run, seed) goes to `OUT/<run>/seed<k>`;
re-running the command reuses finished runs and resumes an interrupted
one. At the end `OUT/table.md` holds our numbers, the published ones and
the gap, `OUT/summary.md` and `OUT/curves.png` the training curves. The
data each table needs, and how to prepare it on a machine with network:
docs/reproduce.md.

Look at the plan of the PTB table (no training)::

    python examples/reproduce.py --table ptb --dry-run --data-dir data/ptb

Run the psMNIST table with three seeds::

    python examples/reproduce.py --table psmnist --seeds 0,1,2 \\
        --data-dir ~/tensorflow_datasets --out runs/reproduce_psmnist

Test the whole path in seconds (mock MNIST, generated PTB text)::

    python examples/reproduce.py --table ptb --quick
"""

import argparse
import os
import sys
import tempfile

#: `tf_nnrnn.experiments.reproduce.TABLES` (tests/test_reproduce.py checks).
TABLES = ("copy", "adding", "psmnist", "ptb")


def _cells(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of cells, got {text!r}"
        )
    return names


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a non-negative integer, got {text!r}"
        )
    return value


def build_parser(flags) -> argparse.ArgumentParser:
    """The flags of this script (`flags`: `tf_nnrnn.experiments.flags`)."""
    parser = flags.Parser(
        prog="reproduce.py", description=__doc__.split("\n")[0]
    )
    add = parser.add_argument
    add("--table", required=True, choices=TABLES, help="the paper's table")
    add("--cells", type=_cells, default=None,
        help="comma-separated cells of the table (default: all of them)")
    add("--seeds", type=flags.seed_list, default=[0],
        help="comma-separated seeds, one run each (default: 0)")
    add(
        "--data-dir",
        default=None,
        help="psmnist: tfds data dir holding mnist/; ptb: folder of "
        "ptb.char.{train,valid,test}.txt",
    )
    add("--out", default=None,
        help="output folder (default: runs/reproduce_<table>); finished "
        "runs there are reported and reused, interrupted ones resume")
    add("--overwrite", action="store_true",
        help="train every run again (only files a run writes are replaced)")
    add("--tf-log", action="store_true",
        help="show TensorFlow's start-up messages (hidden by default)")
    add("--dry-run", action="store_true", help="print the plan and exit")
    add(
        "--quick",
        action="store_true",
        help="every run for a few updates of a few units (mock or fixture "
        "data where the real data are absent)",
    )
    add(
        "--timing-steps",
        type=_count,
        default=None,
        help="timed updates per run for the estimates (default 3; "
        "0 with --quick; 0: no estimates)",
    )
    add("--last", type=flags.positive_int, default=100,
        help="updates in the final average (default: 100)")
    add("--verbose", type=int, choices=[0, 1, 2], default=None,
        help="Keras progress (default: the presets', 1)")
    add("--jit", action="store_true", help="XLA-compile the training step")
    return parser


def _device() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return f"{len(gpus)} GPU(s) ({gpus[0].name})"
    return f"CPU ({os.cpu_count()} cores)"


def main(argv=None) -> int:
    """Plan, check, time and run the table described by `argv`."""
    from tf_nnrnn.experiments import cli, flags
    from tf_nnrnn.experiments import reproduce as rep

    parser = build_parser(flags)
    args = parser.parse_args(argv)
    table, task = args.table, rep.TABLES[args.table][0]
    every = sorted({e.cell for e in rep.plan(table)})
    if args.cells and set(args.cells) - set(every):
        parser.error(
            f"argument --cells: expected cells of the {table} table "
            f"{every}, got {','.join(args.cells)!r}"
        )
    if args.last < 1:
        parser.error(f"argument --last: expected >= 1, got {args.last}")
    suffix = "_quick" if args.quick else ""
    out = args.out or os.path.join("runs", f"reproduce_{table}{suffix}")
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    if args.verbose is not None:
        overrides["verbose"] = args.verbose
    if args.jit:
        overrides["jit"] = True

    # The first check: the data.
    missing = rep.missing_data(task, args.data_dir)
    mock = False
    if missing and not (args.quick or args.dry_run):
        parser.error(f"argument --data-dir: {missing}")
    steps = args.timing_steps
    if steps is None:
        steps = 0 if args.quick else 3
    if missing:
        print(f"data: {missing}.")
        print("      (using mock/fixture data of the same shape instead)")
        mock = task == "psmnist"
        if task == "ptb" and (args.quick or steps):
            if args.quick:
                folder = os.path.join(out, "ptb_fixture")
            else:  # the dry run's timing: nothing written under OUT
                folder = tempfile.mkdtemp(prefix="ptb_timing_")
            overrides["data_dir"] = rep.ptb_fixture(
                folder, tokens=1300 if args.quick else 80_000
            )
    try:
        entries = rep.plan(table, args.cells, overrides, quick=args.quick)
    except cli.SettingError as error:
        parser.error(f"argument {cli.flag_of(error.name)}: {error}")

    estimates = {}
    if steps:
        print(f"timing {steps} updates of each run on {_device()} ...")
        with rep.data_context(task, mock):
            for e in entries:
                update = rep.time_update(task, e.cell, e.settings, steps)
                estimates[e.label] = rep.estimate_seconds(
                    task, e.settings, update
                )
    print(f"\n{table}: {len(entries)} runs × {len(args.seeds)} seed(s), "
          f"into {out}\n")  # fmt: skip
    print(rep.plan_table(entries, estimates))
    if estimates:
        total = sum(estimates.values()) * len(args.seeds)
        print(f"estimated total: {rep._duration(total)} on {_device()}")
    if args.dry_run:
        return 0

    from tf_nnrnn.experiments.grids import (
        Variant,
        run_grid,
        summarize,
        write_report,
    )

    variants = [Variant(e.label, e.cell, e.settings) for e in entries]
    try:
        with rep.data_context(task, mock):
            records = run_grid(
                task, variants, args.seeds, out, estimates, keep_going=True,
                overwrite=args.overwrite,
            )
    except cli.SettingError as error:
        parser.error(f"argument {cli.flag_of(error.name)}: {error}")
    except FileNotFoundError as error:
        parser.error(f"argument --data-dir: {error}")
    finished = [r for r in records if r["result"] is not None]
    with rep.data_context(task, mock):  # summarize reopens the task
        rows = summarize(task, finished, last=args.last)
    if finished:
        write_report(out, finished, rows, f"{table} table", task == "copy")
    path = rep.write_table(
        os.path.join(out, "table.md"),
        table,
        entries,
        records,
        rows,
        args.seeds,
        quick=args.quick,
    )
    with open(path, encoding="utf-8") as f:
        print(f.read())
    print(f"table: {path}")
    return 0 if finished else 1


if __name__ == "__main__":
    import _start

    _start.start(build_parser)
    sys.exit(main())
