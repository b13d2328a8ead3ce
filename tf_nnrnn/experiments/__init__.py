"""The experiment side: the papers' tasks, settings, runner and tuning.

Stands on the core (`tf_nnrnn.cells`, `layers`, `optimizers`, ...) and
needs the extra `pip install "tf_nnrnn[experiments]"` (tensorflow-datasets
for psMNIST, matplotlib for the curves, keras-tuner and scikit-learn for
`tuning`). Nothing in the core imports it.

- `tasks`: copy, adding, psMNIST and PTB as `tf.data` pipelines;
- `presets`: `Settings` and the papers' settings;
- `models`: a model for (task, cell, settings), cells from the registry;
- `training`: `run`, the runner with exact resume; `callbacks`,
  `evaluation`, `results`: its parts;
- `grids`: cells × seeds grids with one table and plot;
- `cli`: the examples' command lines; `tuning`: Keras Tuner search.

The grid helpers are also importable from here (`from
tf_nnrnn.experiments import Variant, run_grid`), as in version 0.1.
"""

from __future__ import annotations

import importlib

from tf_nnrnn._aliases import MOVED

__all__ = [
    "Variant",
    "run_grid",
    "summarize",
    "write_report",
    "markdown_table",
]

_SUBMODULES = (*MOVED, "grids")


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module(f"{__name__}.grids"), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__, *_SUBMODULES])
