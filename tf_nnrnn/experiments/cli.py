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

from tf_nnrnn.experiments.flags import (
    SCRIPTS,
    add_common_flags,
    add_task_flags,
    build_parser,
    flag_of,
    seed_list,
)
from tf_nnrnn.experiments.presets import SettingError, resolve

__all__ = [
    "SettingError",
    "build_parser",
    "parse_settings",
    "resolve_or_exit",
    "explicit_settings",
    "main",
    "flag_of",
    "SCRIPTS",
    "add_common_flags",
    "add_task_flags",
    "seed_list",
]

_NOT_SETTINGS = ("cell", "preset", "out", "task", "cells", "seeds", "last")
_NOT_SETTINGS += ("variants", "overwrite", "tf_log")


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
    try:
        settings = resolve(
            task, args.cell, explicit_settings(args), preset=args.preset
        )
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
            task,
            args.cell,
            settings,
            out_dir=out,
            callbacks=callbacks,
            overwrite=args.overwrite,
        )
    except SettingError as error:
        parser.error(f"argument {flag_of(error.name)}: {error}")
    except FileNotFoundError as error:  # the task's data are missing
        parser.error(f"argument --data-dir: {error}")
    except TrainingDiverged as error:
        print(f"{parser.prog}: {error}", file=sys.stderr)
        return 1
    if result.get("reused"):
        print(
            f"{out}: finished; results in {out} — pass --overwrite to train "
            "again."
        )
    print(result["description"])
    print(f"results in {out}")
    return 0
