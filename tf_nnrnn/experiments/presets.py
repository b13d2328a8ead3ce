"""Run settings: their defaults, the quick defaults and the papers' table.

`Settings` is every knob of a run (`tf_nnrnn.experiments.training.run` reads
nothing else, and writes it to `config.json`). `resolve(task, cell,
overrides, preset)` layers, later winning: `Settings` defaults, the task's
quick defaults (`QUICK`: a run of a few minutes on a 2-core CPU), the
papers' settings for (task, cell) when `preset="paper"` (`PAPER`, typed
with the source of each number in `tf_nnrnn.experiments.paper_tables`,
which also holds the published tables: `PAPER_TABLES`, `paper_plan`),
then the explicit `overrides` (command-line flags). A paper preset sets
every quick default the paper does not use back to its full value
(`train_examples=None`, `steps=None`, ...), so a quick value survives a
preset only where the paper is silent (e.g. the adding task's
`test_size`).

Optimizer notes. RMSprop's `rho` is PyTorch's `alpha`. PyTorch adds its
`eps = 1e-8` outside the square root, Keras adds `epsilon` inside it
(`lr·g / sqrt(v + ε)`, default 1e-7, i.e. a floor of 3e-4 on the RMS).
That floor damps every update of weights with small gradients (the
orthogonal weights at LR orth 1e-6 …), so `epsilon=None` picks PyTorch's
behaviour: 1e-16 inside the root for RMSprop, 1e-8 for Adam. Gradient
clipping (`clip_norm`) clips the norm of all gradients jointly, before
they are routed to the two learning rates, like PyTorch's `clip_grad_norm_`
(`tf_nnrnn.optimizers.GlobalClipMultiOptimizer`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from tf_nnrnn.cells.registry import orthogonal_cells
from tf_nnrnn.cells.skew_cell import TRIVIALIZATIONS
from tf_nnrnn.experiments.paper_tables import (
    PAPER,
    PAPER_TABLES,
    PTB_300_NNRNN,
    PaperRun,
    paper_plan,
)
from tf_nnrnn.validation import check_int, invalid, is_number

__all__ = [
    "Settings",
    "SettingError",
    "QUICK",
    "PAPER",
    "PAPER_TABLES",
    "PaperRun",
    "paper_plan",
    "paper_settings",
    "resolve",
]

OPTIMIZERS = ("rmsprop", "adam")
GAMMA_PENALTIES = ("l2", "l1")
DISTRIBUTE = ("none", "mirrored")
MASKS = ("block", "strict")
MNIST_SPLITS = ("tail", "reference")


class SettingError(ValueError):
    """A bad setting; `name` is the `Settings` field (the flag's name)."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def _bad(name: str, expected: str, value: Any) -> SettingError:
    return invalid(name, expected, value, functools.partial(SettingError, name))


@dataclasses.dataclass
class Settings:
    """Every setting of a training run.

    Model and optimizer: `units`, `optimizer` ("rmsprop" | "adam"), `lr`,
    `lr_orth` (None: lr / 10), `rho` (RMSprop), `beta_1`, `beta_2` (Adam),
    `epsilon` (None: PyTorch-equivalent, see the module docstring),
    `clip_norm`, `delta` (γ penalty), `gamma_penalty` ("l2" | "l1"),
    `t_decay` (PyTorch weight decay on T), `skew_init`, `kernel_init`,
    `triangular_mask` (nnRNN), `num_negative_ones` (scoRNN),
    `memory_size`, `num_heads` (NRU), `trivialization` ("static" |
    "dynamic": expRNN/nnRNN re-based every `rebase_every` updates by the
    `DynamicTrivialization` callback, which the runner adds),
    `plateau_factor` (None: constant
    learning rates; else both are multiplied by it after every epoch
    whose validation loss did not improve on the best so far, as the
    nnRNN reference's PTB script does with 0.5:
    `tf_nnrnn.experiments.schedules.PlateauDecay`).

    Schedule: `batch_size`, `steps` (copy/adding: total updates; psMNIST,
    PTB: at most this many updates per epoch), `epochs` (psMNIST/PTB),
    `log_every` (copy/adding: updates per logged row), `seed`, `jit`,
    `distribute` ("none" | "mirrored"), `verbose`.

    Task shape: `time_lag`, `one_hot` (copy), `length` (adding),
    `permutation_seed`, `train_examples`, `mnist_split` (psMNIST:
    `"tail"` validates on the last 10,000 training images and shuffles
    every epoch; `"reference"` draws the split from the permutation's
    generator and keeps one order, as the reference), `data_dir`
    (psMNIST/PTB), `bptt`, `embedding_dim` (PTB), `test_size`
    (copy/adding held-out sequences), `eval_batch_size` (PTB: parallel
    streams of the validation and test text, 10 as in the reference).

    Example:
        >>> Settings(units=8).lr_orth_value
        0.0001
    """

    units: int = 128
    optimizer: str = "rmsprop"
    lr: float = 1e-3
    lr_orth: float | None = None
    rho: float = 0.9
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float | None = None
    clip_norm: float | None = None
    delta: float = 0.0
    gamma_penalty: str = "l2"
    t_decay: float = 0.0
    skew_init: str | None = None
    kernel_init: str | None = None
    triangular_mask: str = "block"
    num_negative_ones: int | None = None
    plateau_factor: float | None = None
    memory_size: int = 64
    num_heads: int = 4
    trivialization: str = "static"
    rebase_every: int = 100
    batch_size: int = 32
    steps: int | None = None
    epochs: int | None = None
    log_every: int = 10
    seed: int = 0
    jit: bool = False
    distribute: str = "none"
    verbose: int = 1
    time_lag: int = 200
    one_hot: bool = True
    length: int = 100
    permutation_seed: int = 1234
    train_examples: int | None = None
    mnist_split: str = "tail"
    data_dir: str | None = None
    bptt: int = 150
    embedding_dim: int = 200
    test_size: int = 500
    eval_batch_size: int = 10

    def __post_init__(self):
        positive_ints = (
            "units",
            "memory_size",
            "num_heads",
            "batch_size",
            "log_every",
            "time_lag",
            "bptt",
            "embedding_dim",
            "test_size",
            "eval_batch_size",
            "rebase_every",
        )
        for name in positive_ints:
            _check_int(name, getattr(self, name), 1)
        _check_int("length", self.length, 2)
        for name in ("steps", "epochs", "train_examples"):
            if getattr(self, name) is not None:
                _check_int(name, getattr(self, name), 1)
        for name in ("seed", "permutation_seed", "verbose"):
            _check_int(name, getattr(self, name), 0)
        if self.num_negative_ones is not None:
            _check_int("num_negative_ones", self.num_negative_ones, 0)
        for name in ("lr", "lr_orth", "epsilon", "clip_norm"):
            value = getattr(self, name)
            if value is not None and not _is_number(value, low=0.0):
                raise _bad(name, "a positive number", value)
        for name in ("delta", "t_decay"):
            if not _is_number(getattr(self, name), low=0.0, closed=True):
                raise _bad(name, "a non-negative number", getattr(self, name))
        for name in ("rho", "beta_1", "beta_2"):
            value = getattr(self, name)
            if not _is_number(value, low=0.0, closed=True) or value >= 1:
                raise _bad(name, "a number in [0, 1)", value)
        factor = self.plateau_factor
        if factor is not None and not (_is_number(factor, 0.0) and factor < 1):
            raise _bad("plateau_factor", "None or a number in (0, 1)", factor)
        for name, accepted in (
            ("optimizer", OPTIMIZERS),
            ("gamma_penalty", GAMMA_PENALTIES),
            ("distribute", DISTRIBUTE),
            ("triangular_mask", MASKS),
            ("mnist_split", MNIST_SPLITS),
            ("trivialization", TRIVIALIZATIONS),
        ):
            if getattr(self, name) not in accepted:
                raise _bad(
                    name, f"one of {list(accepted)}", getattr(self, name)
                )
        for name in ("jit", "one_hot"):
            if not isinstance(getattr(self, name), bool):
                raise _bad(name, "a bool", getattr(self, name))

    @property
    def lr_orth_value(self) -> float:
        """`lr_orth`, or `lr / 10` (the papers' rule of thumb) when None."""
        return self.lr / 10 if self.lr_orth is None else self.lr_orth

    @property
    def epsilon_value(self) -> float:
        """`epsilon`, or the value matching PyTorch's optimizer."""
        if self.epsilon is not None:
            return self.epsilon
        return 1e-16 if self.optimizer == "rmsprop" else 1e-8

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _is_number(value, low: float, closed: bool = False) -> bool:
    return is_number(value) and (value >= low if closed else value > low)


def _check_int(name: str, value: Any, minimum: int) -> None:
    check_int(name, value, minimum, error=functools.partial(SettingError, name))


#: Quick defaults: each finishes in a few minutes on a 2-core CPU.
QUICK: dict[str, dict] = {
    "copy": dict(
        time_lag=50,
        units=64,
        batch_size=32,
        steps=1000,
        lr=1e-3,
        lr_orth=1e-4,
        rho=0.99,
        test_size=500,
    ),
    "adding": dict(
        length=50,
        units=64,
        batch_size=50,
        steps=2000,
        lr=1e-3,
        lr_orth=1e-4,
        rho=0.99,
        test_size=1000,
    ),
    "psmnist": dict(
        units=64,
        batch_size=50,
        epochs=1,
        train_examples=5000,
        lr=1e-3,
        lr_orth=1e-4,
        rho=0.99,
    ),
    "ptb": dict(
        units=128,
        batch_size=32,
        bptt=50,
        embedding_dim=64,
        epochs=1,
        steps=300,
        lr=2e-3,
        lr_orth=2e-4,
        rho=0.9,
    ),
}

#: Quick-run input kernel of the orthogonal cells (the nnRNN reference
#: code's `xavier_normal_`): ExpRNNCell keeps expRNN's own He-normal
#: default, which makes the adding problem's first updates explode.
QUICK_ORTHOGONAL = dict(kernel_init="glorot_normal")
#: The built-in orthogonal cells (a snapshot of the registry's).
ORTHOGONAL_CELLS = orthogonal_cells()


def paper_settings(task: str, cell: str, bptt: int | None = None) -> dict:
    """The papers' settings for (task, cell); ValueError if there are none.

    Example:
        >>> paper_settings("copy", "nnrnn")["lr_orth"]
        1e-06
    """
    table = PAPER.get(task, {})
    if cell not in table:
        raise SettingError(
            "preset",
            f"Received an invalid value for argument `preset`: there is no "
            f"'paper' preset for task {task!r} and cell {cell!r}; presets "
            f"exist for cells {sorted(table)}.",
        )
    values = dict(table[cell])
    if task == "ptb" and cell == "nnrnn" and bptt == 300:
        values.update(PTB_300_NNRNN)
    return values


def resolve(
    task: str,
    cell: str,
    overrides: dict | None = None,
    preset: str | None = None,
) -> Settings:
    """Settings of a run: defaults < quick (task) < preset < overrides.

    Args:
        task: task name.
        cell: cell name.
        overrides: explicit settings (e.g. the flags a user typed).
        preset: None or `"paper"`.

    Example:
        >>> resolve("copy", "nnrnn", {"seed": 3}, preset="paper").units
        128
        >>> resolve("adding", "nnrnn", preset="paper").test_size  # quick
        1000
    """
    overrides = dict(overrides or {})
    unknown = set(overrides) - {f.name for f in dataclasses.fields(Settings)}
    if unknown:
        raise TypeError(f"Unknown settings: {sorted(unknown)}.")
    values = dict(QUICK.get(task, {}))
    if cell in orthogonal_cells() and task in ("copy", "adding", "psmnist"):
        values.update(QUICK_ORTHOGONAL)
    if preset is not None:
        if preset != "paper":
            raise _bad("preset", "None or 'paper'", preset)
        values.update(paper_settings(task, cell, overrides.get("bptt")))
    values.update(overrides)
    return Settings(**values)
