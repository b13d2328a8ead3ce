"""Several cells on one task: one table and one plot of their learning curves.

Each (cell, seed) run goes to `OUT/<cell>/seed<k>` through the same runner
as the task scripts; re-running the command reuses finished runs and
resumes an interrupted one. The table gives the training metric averaged
over the last `--last` updates (mean ± std over seeds), the held-out test
metric and the time per run; `OUT/curves.png` shows the curves.

Quick comparison (a few minutes on a 2-core CPU)::

    python examples/compare.py --task copy --cells nnrnn,exprnn,lstm

The nnRNN paper's copy experiment (T = 200, one-hot, batch 10, 1500
updates, each cell with its paper settings), three seeds::

    python examples/compare.py --task copy --preset paper \\
        --cells nnrnn,exprnn,scornn,lstm,rnn_orth --seeds 0,1,2 \\
        --out runs/copy_paper
"""

import argparse
import os
import sys


def _task(argv) -> str:
    """The `--task` of `argv` (its flags depend on it)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task", default="copy")
    return pre.parse_known_args(argv)[0].task


def build_parser(flags, argv=None) -> argparse.ArgumentParser:
    """The flags of this script (`flags`: `tf_nnrnn.experiments.flags`)."""
    task = _task(sys.argv[1:] if argv is None else argv)
    parser = flags.build_parser(
        task if task in flags.TASK_NAMES else "copy",
        "Several cells on one task: one table and one plot of their "
        "learning curves.",
        prog="compare.py",
        cell_flag=False,
    )
    parser.add_argument(
        "--task", choices=flags.TASK_NAMES, default="copy",
        help="the task (its own flags follow it) (default: copy)",
    )
    parser.add_argument(
        "--cells", type=flags.name_list(flags.cell_choices()),
        default=["nnrnn", "exprnn", "lstm"],
        help="comma-separated cells to compare (default: nnrnn,exprnn,lstm)",
    )
    parser.add_argument(
        "--seeds", type=flags.seed_list, default=[0],
        help="comma-separated seeds, one run each (default: 0)",
    )
    parser.add_argument(
        "--last", type=flags.positive_int, default=100,
        help="updates in the final average of the table (default: 100)",
    )
    return parser


def main(argv=None) -> int:
    """Run the comparison described by the command-line flags `argv`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from tf_nnrnn.experiments import cli, flags

    parser = build_parser(flags, argv)
    args = parser.parse_args(argv)
    task = args.task
    from tf_nnrnn.experiments import Variant, run_grid, summarize, write_report

    variants = [
        Variant(cell, cell, cli.resolve_or_exit(parser, task, cell, args))
        for cell in args.cells
    ]
    out = args.out or os.path.join("runs", f"compare_{task}")
    from tf_nnrnn.experiments.training import TrainingDiverged

    try:
        records = run_grid(
            task, variants, args.seeds, out, overwrite=args.overwrite
        )
    except cli.SettingError as error:
        parser.error(f"argument {cli.flag_of(error.name)}: {error}")
    except FileNotFoundError as error:
        parser.error(f"argument --data-dir: {error}")
    except TrainingDiverged as error:
        print(f"compare.py: {error}", file=sys.stderr)
        return 1
    rows = summarize(task, records, last=args.last)
    title = f"{task}: " + ", ".join(args.cells)
    md, png = write_report(out, records, rows, title, log_y=task == "copy")
    with open(md, encoding="utf-8") as f:
        print(f.read())
    print(f"table: {md}\nplot: {png}")
    return 0


if __name__ == "__main__":
    import _start

    _start.start(build_parser)
    sys.exit(main())
