"""Ablations of nnRNN on the copy task, as in the NeurIPS 2019
reproducibility report: L1 vs L2 γ penalty, RMSprop vs Adam, Cayley vs
random orthogonal initialization of the Schur basis, N vs 2N units.

Every variant changes one setting of the base run (the quick settings, or
the paper's with `--preset paper`); each (variant, seed) run goes to
`OUT/<variant>/seed<k>`. One table and one plot (`OUT/curves.png`) compare
the learning curves. The report found: L1 converges faster than L2, 256
units faster than 128, RMSprop beats Adam, Cayley beats random orthogonal.

Quick ablation (a few minutes on a 2-core CPU)::

    python examples/ablate_copy.py

The report's setting (T = 200, N = 128 vs 256)::

    python examples/ablate_copy.py --preset paper --seeds 0,1,2 \\
        --out runs/ablate_copy
"""

import dataclasses
import os
import sys

VARIANTS = ("base", "l1_penalty", "adam", "random_orthogonal", "double_units")


def build_parser(flags):
    """The flags of this script (`flags`: `tf_nnrnn.experiments.flags`)."""
    parser = flags.build_parser(
        "copy",
        "Ablations of nnRNN on the copy task (L1 vs L2 gamma penalty, "
        "RMSprop vs Adam, Cayley vs random orthogonal Schur basis, N vs 2N "
        "units), as in the NeurIPS 2019 reproducibility report.",
        prog="ablate_copy.py",
        cell_flag=False,
    )
    parser.add_argument(
        "--variants", type=flags.name_list(VARIANTS), default=list(VARIANTS),
        help="comma-separated ablations to run (default: all of "
        f"{','.join(VARIANTS)})",
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


def variant_settings(base, name: str):
    """The base settings with the one change of ablation `name`."""
    changes = {
        "base": {},
        "l1_penalty": {"gamma_penalty": "l1"},
        "adam": {"optimizer": "adam"},
        "random_orthogonal": {"skew_init": "random_orthogonal"},
        "double_units": {"units": 2 * base.units},
    }[name]
    return dataclasses.replace(base, **changes)


def main(argv=None) -> int:
    """Run the ablations described by the command-line flags `argv`."""
    from tf_nnrnn.experiments import cli, flags

    parser = build_parser(flags)
    args = parser.parse_args(argv)
    base = cli.resolve_or_exit(parser, "copy", "nnrnn", args)
    if base.delta == 0:  # the penalty ablation needs a penalty
        base = dataclasses.replace(base, delta=1e-4)
    from tf_nnrnn.experiments import Variant, run_grid, summarize, write_report
    from tf_nnrnn.experiments.training import TrainingDiverged

    variants = [
        Variant(name, "nnrnn", variant_settings(base, name))
        for name in args.variants
    ]
    out = args.out or os.path.join("runs", "ablate_copy")
    try:
        records = run_grid(
            "copy", variants, args.seeds, out, overwrite=args.overwrite
        )
    except TrainingDiverged as error:
        print(f"ablate_copy.py: {error}", file=sys.stderr)
        return 1
    rows = summarize("copy", records, last=args.last)
    title = f"nnRNN ablations, copy T={base.time_lag}, N={base.units}"
    md, png = write_report(out, records, rows, title)
    with open(md, encoding="utf-8") as f:
        print(f.read())
    print(f"table: {md}\nplot: {png}")
    return 0


if __name__ == "__main__":
    import _start

    _start.start(build_parser)
    sys.exit(main())
