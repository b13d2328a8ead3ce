"""The command line shared by the example scripts.

`main(task, argv)` parses the flags of `build_parser(task)`, layers them
over the quick defaults or `--preset paper`
(`tf_nnrnn.experiments.presets.resolve`),
runs `tf_nnrnn.experiments.training.run` and prints how the result compares
with the
task's baseline. Bad input exits with code 2 and one line naming the flag,
before any file is written; a diverged run exits with code 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tf_nnrnn.cells.registry import cell_names
from tf_nnrnn.experiments.presets import (
    DISTRIBUTE,
    GAMMA_PENALTIES,
    MASKS,
    OPTIMIZERS,
    SettingError,
    resolve,
)

__all__ = [
    "SettingError",
    "build_parser",
    "parse_settings",
    "resolve_or_exit",
    "explicit_settings",
    "main",
    "flag_of",
]

_TASK_HELP = {
    "copy": "copy task (nnRNN paper): remember 10 symbols over T steps",
    "adding": "adding problem: sum of the two marked values",
    "psmnist": "permuted sequential MNIST (784 pixels, one per step)",
    "ptb": "Penn Treebank characters, truncated back-propagation",
}
# Settings whose flag is not the field name with dashes.
_FLAGS = {"one_hot": "--one-hot/--scalar", "beta_1": "--beta1"}
_FLAGS.update({"beta_2": "--beta2", "task": "--task", "out": "--out"})


def flag_of(name: str) -> str:
    """The command-line flag of the setting `name`.

    Example:
        >>> flag_of("batch_size")
        '--batch-size'
    """
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_common_flags(
    parser: argparse.ArgumentParser, cell_flag: bool = True
) -> None:
    """Flags of every task (defaults come from the presets, not argparse)."""
    add = parser.add_argument
    s = argparse.SUPPRESS
    if cell_flag:
        add("--cell", choices=cell_names(), default="nnrnn", help="the cell")
    add(
        "--preset",
        choices=["paper"],
        default=None,
        help="the paper's settings for this task and cell (anchors.md)",
    )
    add("--units", type=int, default=s, help="hidden units")
    add("--optimizer", choices=OPTIMIZERS, default=s)
    add("--lr", type=float, default=s, help="learning rate")
    add(
        "--lr-orth",
        type=float,
        default=s,
        help="learning rate of the orthogonal weights (default lr / 10)",
    )
    add("--rho", type=float, default=s, help="RMSprop smoothing (alpha)")
    add("--beta1", dest="beta_1", type=float, default=s, help="Adam beta_1")
    add("--beta2", dest="beta_2", type=float, default=s, help="Adam beta_2")
    add(
        "--epsilon",
        type=float,
        default=s,
        help="optimizer epsilon (default: PyTorch-equivalent)",
    )
    add("--delta", type=float, default=s, help="nnRNN gamma penalty")
    add("--gamma-penalty", choices=GAMMA_PENALTIES, default=s)
    add(
        "--t-decay",
        type=float,
        default=s,
        help="nnRNN weight decay on T (PyTorch weight_decay semantics)",
    )
    add(
        "--skew-init",
        default=s,
        help="cayley | henaff | random_orthogonal | zeros",
    )
    add("--kernel-init", default=s, help="input kernel initializer")
    add("--triangular-mask", choices=MASKS, default=s, help="nnRNN T mask")
    add("--num-negative-ones", type=int, default=s, help="scoRNN D")
    add("--memory-size", type=int, default=s, help="NRU memory size")
    add("--num-heads", type=int, default=s, help="NRU heads")
    add("--clip-norm", type=float, default=s, help="global gradient norm")
    add("--batch-size", type=int, default=s)
    add(
        "--steps",
        type=int,
        default=s,
        help="updates (copy/adding) or max updates per epoch",
    )
    add("--epochs", type=int, default=s, help="epochs (psMNIST/PTB)")
    add(
        "--log-every",
        type=int,
        default=s,
        help="updates per metrics.csv row (copy/adding)",
    )
    add("--seed", type=int, default=s)
    add(
        "--jit",
        action=argparse.BooleanOptionalAction,
        default=s,
        help="XLA-compile the training step",
    )
    add(
        "--distribute",
        choices=DISTRIBUTE,
        default=s,
        help="mirrored: tf.distribute.MirroredStrategy over local devices",
    )
    add("--verbose", type=int, choices=[0, 1, 2], default=s)
    add(
        "--out",
        default=None,
        help="output folder (default runs/<task>_<cell>); rerun to resume",
    )


def add_task_flags(parser: argparse.ArgumentParser, task: str) -> None:
    """Task-shape flags of `task`."""
    add = parser.add_argument
    s = argparse.SUPPRESS
    if task == "copy":
        add("--time-lag", type=int, default=s, help="T (>= 1)")
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--one-hot",
            dest="one_hot",
            action="store_true",
            default=s,
            help="one-hot inputs (default)",
        )
        group.add_argument(
            "--scalar",
            dest="one_hot",
            action="store_false",
            default=s,
            help="scalar symbol inputs",
        )
    if task == "adding":
        add("--length", type=int, default=s, help="T (>= 2)")
    if task in ("copy", "adding"):
        add("--test-size", type=int, default=s, help="held-out sequences")
    if task == "psmnist":
        add("--permutation-seed", type=int, default=s)
        add(
            "--train-examples",
            type=int,
            default=s,
            help="use the first N training images",
        )
    if task in ("psmnist", "ptb"):
        add(
            "--data-dir",
            default=s,
            help="tfds data dir (psMNIST) / folder of ptb.char.*.txt (PTB)",
        )
    if task == "ptb":
        add("--bptt", type=int, default=s, help="segment length (TPTT)")
        add("--embedding-dim", type=int, default=s)
        add(
            "--eval-batch-size",
            type=int,
            default=s,
            help="parallel streams of the valid/test text (default 10)",
        )


#: The example script of each task (`examples/`); the copy task's is not
#: `copy.py`, which would shadow the standard library's `copy` module.
SCRIPTS = {
    "copy": "copy_task.py",
    "adding": "adding.py",
    "psmnist": "psmnist.py",
    "ptb": "ptb.py",
}


def build_parser(
    task: str,
    description: str | None = None,
    prog: str | None = None,
    cell_flag: bool = True,
):
    """The parser of one task's example script.

    Args:
        task: the task whose shape flags to add.
        description: the help text.
        prog: the program name in messages (default: the task's script
            in `examples/`, `SCRIPTS`).
        cell_flag: add `--cell` (grids of runs add their own flags).

    Example:
        >>> build_parser("copy").parse_args(["--time-lag", "5"]).time_lag
        5
    """
    parser = _Parser(
        prog=prog or SCRIPTS.get(task, f"{task}.py"),
        description=description or _TASK_HELP.get(task, task),
    )
    add_common_flags(parser, cell_flag)
    add_task_flags(parser, task)
    return parser


_NOT_SETTINGS = ("cell", "preset", "out", "task", "cells", "seeds", "last")
_NOT_SETTINGS += ("variants",)


def explicit_settings(args: argparse.Namespace) -> dict:
    """The settings the user typed (flags left out are absent)."""
    return {k: v for k, v in vars(args).items() if k not in _NOT_SETTINGS}


def resolve_or_exit(parser, task: str, cell: str, args, **overrides):
    """`resolve(...)` of the typed flags; a bad value exits 2 naming it."""
    try:
        return resolve(
            task,
            cell,
            {**explicit_settings(args), **overrides},
            preset=args.preset,
        )
    except SettingError as error:
        parser.error(f"argument {flag_of(error.name)}: {error}")


def parse_settings(parser, task: str, argv: Sequence[str] | None):
    """`(args, settings)`; a bad value exits 2 naming its flag."""
    args = parser.parse_args(argv)
    explicit = {
        k: v
        for k, v in vars(args).items()
        if k not in ("cell", "preset", "out")
    }
    try:
        settings = resolve(task, args.cell, explicit, preset=args.preset)
    except SettingError as error:
        parser.error(f"argument {flag_of(error.name)}: {error}")
    return args, settings


def main(
    task: str,
    argv: Sequence[str] | None = None,
    callbacks: Sequence = (),
    description: str | None = None,
) -> int:
    """Parse, run and report one example; returns the exit code.

    A bad setting exits with status 2 and a one-line message on stderr,
    before anything is built or trained.

    Example:
        >>> import contextlib, io
        >>> stderr = io.StringIO()
        >>> with contextlib.redirect_stderr(stderr):
        ...     try:
        ...         main("copy", ["--time-lag", "0"])
        ...     except SystemExit as exit:
        ...         status = exit.code
        >>> status
        2
        >>> print(stderr.getvalue(), end="")
        copy_task.py: error: argument --time-lag: ... got 0.
    """
    parser = build_parser(task, description)
    args, settings = parse_settings(parser, task, argv)
    out = args.out or os.path.join("runs", f"{task}_{args.cell}")
    from tf_nnrnn.experiments.training import TrainingDiverged, run

    try:
        result = run(
            task, args.cell, settings, out_dir=out, callbacks=callbacks
        )
    except SettingError as error:
        parser.error(f"argument {flag_of(error.name)}: {error}")
    except FileNotFoundError as error:
        parser.error(f"argument --data-dir: {error}")
    except TrainingDiverged as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 1
    print(result["description"])
    print(f"results in {out}")
    return 0


def seed_list(text: str) -> list[int]:
    """argparse type: comma-separated non-negative integers (`0,1,2`)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated non-negative integers, got {text!r}"
        )
    return seeds
