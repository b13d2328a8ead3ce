"""Old import paths of the experiment side, kept working.

Version 0.1 had the runner, tasks, presets and tuning at the top level
(`tf_nnrnn.training`, `tf_nnrnn.tasks.copy`, ...). They now live in
`tf_nnrnn.experiments`; this finder makes every old module path (and its
submodules) import the *same* module object from its new home, so that
`import tf_nnrnn.training` and `tf_nnrnn.experiments.training` are one
module (patching one patches the other) and nothing is loaded twice.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

#: Old top-level names → their home under `tf_nnrnn.experiments`.
MOVED = (
    "callbacks",
    "cli",
    "evaluation",
    "models",
    "presets",
    "results",
    "tasks",
    "training",
    "tuning",
)
_PREFIX = "tf_nnrnn."


def new_name(fullname: str) -> str | None:
    """The new module path of an old one, or None if it did not move.

    Example:
        >>> new_name("tf_nnrnn.tasks.copy")
        'tf_nnrnn.experiments.tasks.copy'
        >>> new_name("tf_nnrnn.cells") is None
        True
    """
    if not fullname.startswith(_PREFIX):
        return None
    head = fullname[len(_PREFIX) :].split(".", 1)[0]
    if head not in MOVED:
        return None
    return "tf_nnrnn.experiments." + fullname[len(_PREFIX) :]


class _AliasFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old path as the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        target_name = new_name(fullname)
        if target_name is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        module = importlib.import_module(new_name(spec.name))
        spec.loader_state = module.__spec__  # the real one, see below
        return module

    def exec_module(self, module):
        """Nothing to run (it ran at its new path); undo the import
        system's overwrite of `__spec__` with the alias's spec."""
        module.__spec__ = module.__spec__.loader_state


def install() -> None:
    """Put the finder first on `sys.meta_path` (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
