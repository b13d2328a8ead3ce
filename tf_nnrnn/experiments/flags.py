"""The example scripts' flags, importable without TensorFlow.

This module imports only the standard library and nothing else of the
package, so `examples/_start.py` can load it on its own (by file path,
without running `tf_nnrnn/__init__`) and answer `--help` or reject a bad
flag in about a second, before TensorFlow is imported. Everything that
needs the package (the presets, the registry of cells) is passed in or
read from `sys.modules` when the package is already loaded;
`tests/test_flags.py` holds the copies kept here (`BUILTIN_CELLS`,
`TASK_NAMES`, the choices and `HELP_DEFAULTS`) equal to their sources.
Regenerate `HELP_DEFAULTS` with `python -m tf_nnrnn.experiments.flags`.
"""

from __future__ import annotations

import argparse
import sys

__all__ = [
    "BUILTIN_CELLS",
    "TASK_NAMES",
    "SCRIPTS",
    "HELP_DEFAULTS",
    "build_parser",
    "add_common_flags",
    "add_task_flags",
    "flag_of",
    "seed_list",
    "positive_int",
    "name_list",
    "cell_choices",
    "Parser",
]

#: The registry's cells (`tf_nnrnn.cells.registry.cell_names()`).
BUILTIN_CELLS = (
    "nnrnn", "exprnn", "scornn", "nru", "lstm", "rnn", "rnn_orth", "gru",
    "lstm_orth", "gru_orth", "rnn_orth_constraint", "rnn_orth_riemannian",
)
TASK_NAMES = ("copy", "adding", "psmnist", "ptb")
OPTIMIZERS = ("rmsprop", "adam")
GAMMA_PENALTIES = ("l2", "l1")
DISTRIBUTE = ("none", "mirrored")
MASKS = ("block", "strict")
MNIST_SPLITS = ("tail", "reference")
TRIVIALIZATIONS = ("static", "dynamic")

#: The example script of each task (`examples/`); the copy task's is not
#: `copy.py`, which would shadow the standard library's `copy` module.
SCRIPTS = {
    "copy": "copy_task.py",
    "adding": "adding.py",
    "psmnist": "psmnist.py",
    "ptb": "ptb.py",
}

_TASK_HELP = {
    "copy": "copy task (nnRNN paper): remember 10 symbols over T steps",
    "adding": "adding problem: sum of the two marked values",
    "psmnist": "permuted sequential MNIST (784 pixels, one per step)",
    "ptb": "Penn Treebank characters, truncated back-propagation",
}

#: The quick defaults of each task (`presets.resolve(task, "nnrnn", {})`),
#: shown by `--help`; settings a task does not read are left out.
HELP_DEFAULTS: dict[str, dict] = {
    "copy": {
        "units": 64, "optimizer": "rmsprop", "lr": 0.001, "lr_orth": 0.0001,
        "rho": 0.99, "batch_size": 32, "steps": 1000, "log_every": 10,
        "seed": 0, "verbose": 1, "time_lag": 50, "test_size": 500,
    },
    "adding": {
        "units": 64, "optimizer": "rmsprop", "lr": 0.001, "lr_orth": 0.0001,
        "rho": 0.99, "batch_size": 50, "steps": 2000, "log_every": 10,
        "seed": 0, "verbose": 1, "length": 50, "test_size": 1000,
    },
    "psmnist": {
        "units": 64, "optimizer": "rmsprop", "lr": 0.001, "lr_orth": 0.0001,
        "rho": 0.99, "batch_size": 50, "epochs": 1, "seed": 0, "verbose": 1,
        "permutation_seed": 1234, "train_examples": 5000,
        "mnist_split": "tail",
    },
    "ptb": {
        "units": 128, "optimizer": "rmsprop", "lr": 0.002, "lr_orth": 0.0002,
        "rho": 0.9, "batch_size": 32, "steps": 300, "epochs": 1, "seed": 0,
        "verbose": 1, "bptt": 50, "embedding_dim": 64, "eval_batch_size": 10,
    },
}
#: Settings shown with the same default for every task.
_COMMON_DEFAULTS = {
    "beta_1": 0.9, "beta_2": 0.999, "delta": 0.0, "gamma_penalty": "l2",
    "t_decay": 0.0, "triangular_mask": "block", "memory_size": 64,
    "num_heads": 4, "distribute": "none", "trivialization": "static",
    "rebase_every": 100,
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


#: The parser of the example scripts: errors are one line, exit code 2.
Parser = _Parser


def cell_choices() -> tuple[str, ...]:
    """The registry's names when the package is loaded (cells registered
    by the user included), else the built-in ones."""
    registry = sys.modules.get("tf_nnrnn.cells.registry")
    return tuple(registry.cell_names()) if registry else BUILTIN_CELLS


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        )
    return value


def seed_list(text: str) -> list[int]:
    """argparse type: comma-separated seeds in [0, 2**32) (`0,1,2`).

    Example:
        >>> seed_list("0,1,2")
        [0, 1, 2]
    """
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        seeds = []
    if not seeds or min(seeds) < 0 or max(seeds) >= 2**32:
        raise argparse.ArgumentTypeError(
            "expected comma-separated integers in [0, 2**32), got "
            f"{text!r}"
        )
    return seeds


def name_list(accepted) -> callable:
    """argparse type: a comma-separated list of names from `accepted`."""

    def parse(text: str) -> list[str]:
        names = [c.strip() for c in text.split(",") if c.strip()]
        if not names or any(n not in accepted for n in names):
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {list(accepted)}, got "
                f"{text!r}"
            )
        return names

    return parse


def add_common_flags(
    parser: argparse.ArgumentParser, cell_flag: bool = True, task: str = ""
) -> None:
    """Flags of every task; defaults come from the presets (`resolve`),
    and `--help` shows the quick ones of `task` (`HELP_DEFAULTS`)."""
    shown = {**_COMMON_DEFAULTS, **HELP_DEFAULTS.get(task, {})}
    s = argparse.SUPPRESS

    def add(flag, *, help, name=None, **kwargs):  # noqa: A002
        name = name or flag[2:].replace("-", "_")
        if name in shown:
            help += f" (default: {shown[name]})"
        parser.add_argument(flag, default=kwargs.pop("default", s), help=help,
                            **kwargs)

    if cell_flag:
        parser.add_argument(
            "--cell", choices=cell_choices(), default="nnrnn",
            help="the cell (default: nnrnn)",
        )
    add(
        "--preset", choices=["paper"], default=None,
        help="the paper's settings for this task and cell, with the source "
        "of each number in tf_nnrnn/experiments/paper_tables.py (default: "
        "quick settings that finish in minutes on a 2-core CPU)",
    )
    add("--units", type=int, help="hidden units")
    add("--optimizer", choices=OPTIMIZERS, help="optimizer")
    add("--lr", type=float, help="learning rate")
    add("--lr-orth", type=float,
        help="learning rate of the orthogonal weights (unset: lr / 10)")
    add("--rho", type=float, help="RMSprop smoothing (PyTorch's alpha)")
    add("--beta1", name="beta_1", dest="beta_1", type=float,
        help="Adam beta_1")
    add("--beta2", name="beta_2", dest="beta_2", type=float,
        help="Adam beta_2")
    add("--epsilon", type=float,
        help="optimizer epsilon (unset: PyTorch-equivalent, 1e-16 inside "
        "RMSprop's root, 1e-8 for Adam)")
    add("--delta", type=float, help="nnRNN gamma penalty weight")
    add("--gamma-penalty", choices=GAMMA_PENALTIES,
        help="nnRNN gamma penalty norm")
    add("--t-decay", type=float,
        help="nnRNN weight decay on T (PyTorch weight_decay semantics)")
    add("--skew-init",
        help="cayley | henaff | random_orthogonal | zeros (unset: the "
        "cell's own)")
    add("--kernel-init",
        help="input kernel initializer, a Keras name such as glorot_normal "
        "(unset: the cell's own)")
    add("--triangular-mask", choices=MASKS, help="nnRNN T mask")
    add("--num-negative-ones", type=int,
        help="scoRNN: -1 entries of D (unset: the paper's per task)")
    add("--memory-size", type=int, help="NRU memory size")
    add("--num-heads", type=int, help="NRU heads")
    add("--trivialization", choices=TRIVIALIZATIONS,
        help="expRNN/nnRNN: static, P = expm(A), or dynamic, P = B expm(A) "
        "re-based (B <- P, A <- 0) every --rebase-every updates")
    add("--rebase-every", type=int,
        help="updates between re-basings of --trivialization dynamic")
    add("--clip-norm", type=float,
        help="clip the global gradient norm (unset: no clipping)")
    add("--batch-size", type=int, help="sequences per update")
    add("--steps", type=int,
        help="updates (copy/adding) or max updates per epoch (psMNIST/PTB)")
    add("--epochs", type=int, help="epochs (psMNIST/PTB)")
    add("--log-every", type=int,
        help="updates per metrics.csv row (copy/adding)")
    add("--seed", type=int, help="random seed, in [0, 2**32)")
    add("--jit", action=argparse.BooleanOptionalAction,
        help="XLA-compile the training step (default: off)")
    add("--distribute", choices=DISTRIBUTE,
        help="mirrored: tf.distribute.MirroredStrategy over local devices")
    add("--verbose", type=int, choices=[0, 1, 2],
        help="Keras progress: 0 silent, 1 bar (plain lines when not a "
        "terminal), 2 a line per epoch")
    parser.add_argument(
        "--out", default=None,
        help="output folder (default: runs/<task>_<cell>); a finished run "
        "there is reported, not retrained; an interrupted one resumes",
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="train again even if --out holds a finished run or one with "
        "other settings (only files a run writes are replaced)",
    )
    parser.add_argument(
        "--tf-log", action="store_true",
        help="show TensorFlow's start-up messages (hidden by default)",
    )


def add_task_flags(parser: argparse.ArgumentParser, task: str) -> None:
    """Task-shape flags of `task`."""
    shown = HELP_DEFAULTS.get(task, {})
    s = argparse.SUPPRESS

    def add(flag, *, help, **kwargs):  # noqa: A002
        name = flag[2:].replace("-", "_")
        if name in shown:
            help += f" (default: {shown[name]})"
        parser.add_argument(flag, default=s, help=help, **kwargs)

    if task == "copy":
        add("--time-lag", type=int, help="T, the delay (>= 1)")
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--one-hot", dest="one_hot", action="store_true", default=s,
            help="one-hot inputs (default)",
        )
        group.add_argument(
            "--scalar", dest="one_hot", action="store_false", default=s,
            help="scalar symbol inputs",
        )
    if task == "adding":
        add("--length", type=int, help="T, the sequence length (>= 2)")
    if task in ("copy", "adding"):
        add("--test-size", type=int, help="held-out sequences")
    if task == "psmnist":
        add("--permutation-seed", type=int, help="seed of the pixel order")
        add("--train-examples", type=int,
            help="use the first N training images (unset: all)")
        add("--mnist-split", choices=MNIST_SPLITS,
            help="tail: validate on the last 10,000 training images; "
            "reference: the nnRNN code's seeded random split")
    if task in ("psmnist", "ptb"):
        add("--data-dir",
            help="psMNIST: a tfds data folder holding a prepared mnist "
            "(unset: ~/tensorflow_datasets); PTB: the folder of "
            "ptb.char.{train,valid,test}.txt")
    if task == "ptb":
        add("--bptt", type=int, help="segment length (truncated BPTT)")
        add("--embedding-dim", type=int, help="character embedding size")
        add("--eval-batch-size", type=int,
            help="parallel streams of the valid/test text")


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
    add_common_flags(parser, cell_flag, task)
    add_task_flags(parser, task)
    return parser


def _print_defaults() -> None:  # pragma: no cover - a maintenance command
    import pprint

    from tf_nnrnn.experiments.presets import resolve

    table = {}
    for task in TASK_NAMES:
        parser = build_parser(task)
        names = {a.dest for a in parser._actions}
        values = resolve(task, "nnrnn", {}).to_dict()
        table[task] = {
            k: v
            for k, v in values.items()
            if k in names and v is not None and k not in _COMMON_DEFAULTS
            and k not in ("one_hot", "jit", "distribute", "kernel_init")
        }
    pprint.pprint(table, sort_dicts=False, width=76)


if __name__ == "__main__":  # pragma: no cover
    _print_defaults()
