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

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ info lines

import argparse  # noqa: E402

from tf_nnrnn.cells.registry import cell_names  # noqa: E402
from tf_nnrnn.experiments import cli  # noqa: E402
from tf_nnrnn.experiments.tasks import TASK_NAMES  # noqa: E402


def _names(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",") if c.strip()]
    bad = [c for c in names if c not in cell_names()]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of {list(cell_names())}, got "
            f"{text!r}"
        )
    return names


def build_parser(task: str) -> argparse.ArgumentParser:
    parser = cli.build_parser(
        task, __doc__.splitlines()[0], prog="compare.py", cell_flag=False
    )
    parser.add_argument("--task", choices=TASK_NAMES, default="copy")
    parser.add_argument(
        "--cells", type=_names, default=["nnrnn", "exprnn", "lstm"]
    )
    parser.add_argument("--seeds", type=cli.seed_list, default=[0])
    parser.add_argument(
        "--last", type=int, default=100, help="updates in the final average"
    )
    return parser


def main(argv=None) -> int:
    """Run the comparison described by the command-line flags `argv`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task", choices=TASK_NAMES, default="copy")
    known, _ = pre.parse_known_args(argv)
    task = known.task
    parser = build_parser(task)
    args = parser.parse_args(argv)
    if args.last < 1:
        parser.error(
            f"argument --last: expected a positive integer, got {args.last}"
        )
    from tf_nnrnn.experiments import Variant, run_grid, summarize, write_report

    variants = [
        Variant(cell, cell, cli.resolve_or_exit(parser, task, cell, args))
        for cell in args.cells
    ]
    out = args.out or os.path.join("runs", f"compare_{task}")
    from tf_nnrnn.experiments.training import TrainingDiverged

    try:
        records = run_grid(task, variants, args.seeds, out)
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
    sys.exit(main())
