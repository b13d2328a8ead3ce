"""tf_nnrnn: orthogonal and non-normal recurrent cells for Keras 3.

`import tf_nnrnn` loads the core only (TensorFlow, Keras, NumPy): the
cells, the fused layers, parametrizations, initializers, constraints,
regularizers, activations, metrics and optimizers. The experiment side
(`tf_nnrnn.experiments`: tasks, presets, runner, tuning) and
`tf_nnrnn.analysis` load on first use and need the extras
`tf_nnrnn[experiments]` / `tf_nnrnn[analysis]`.

Example:
    >>> import keras, tf_nnrnn
    >>> model = keras.Sequential([
    ...     keras.Input((None, 1)),
    ...     keras.layers.RNN(tf_nnrnn.NNRNNCell(128)),
    ...     keras.layers.Dense(1),
    ... ])
    >>> model.output_shape
    (None, 1)
"""

import importlib as _importlib

from tf_nnrnn import (
    _aliases,
    activations,
    cells,
    constraints,
    initializers,
    layers,
    metrics,
    optimizers,
    parametrizations,
    regularizers,
    validation,
)
from tf_nnrnn.activations import ModReLU, modrelu
from tf_nnrnn.cells import (
    ExpRNNCell,
    ModReLURNNCell,
    NNRNNCell,
    NRUCell,
    ScoRNNCell,
)
from tf_nnrnn.cells.registry import register_cell
from tf_nnrnn.constraints import (
    BlockOrthogonal,
    ClipRange,
    Orthogonal,
    SpectralRadiusBound,
    Stiefel,
    StrictlyLowerTriangular,
)
from tf_nnrnn.layers import NNRNN, ExpRNN, ScoRNN
from tf_nnrnn.metrics import BitsPerCharacter, RecallAccuracy
from tf_nnrnn.optimizers import RiemannianOptimizer, make_optimizer
from tf_nnrnn.parametrizations import cayley, expm, skew
from tf_nnrnn.regularizers import GammaRegularizer

_aliases.install()

__version__ = "0.2.0"

#: Loaded on first use: the experiment side and the analysis tools (their
#: dependencies are extras). Old top-level paths (`tf_nnrnn.training`,
#: `tf_nnrnn.tasks`, ...) are the modules under `tf_nnrnn.experiments`.
_LAZY_MODULES = ("analysis", "experiments", *_aliases.MOVED)
_LAZY_NAMES = {
    "run": "tf_nnrnn.experiments.training",
    "Settings": "tf_nnrnn.experiments.presets",
}

__all__ = [
    "NNRNNCell",
    "ExpRNNCell",
    "ScoRNNCell",
    "NRUCell",
    "ModReLURNNCell",
    "NNRNN",
    "ExpRNN",
    "ScoRNN",
    "RecallAccuracy",
    "BitsPerCharacter",
    "ModReLU",
    "modrelu",
    "GammaRegularizer",
    "StrictlyLowerTriangular",
    "ClipRange",
    "SpectralRadiusBound",
    "Orthogonal",
    "Stiefel",
    "BlockOrthogonal",
    "make_optimizer",
    "RiemannianOptimizer",
    "register_cell",
    "skew",
    "expm",
    "cayley",
    "activations",
    "cells",
    "constraints",
    "initializers",
    "layers",
    "metrics",
    "optimizers",
    "parametrizations",
    "regularizers",
    "validation",
    *_LAZY_MODULES,
    *_LAZY_NAMES,
]


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY_NAMES:
        return getattr(_importlib.import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
