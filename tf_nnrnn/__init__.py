"""tf_nnrnn: orthogonal and non-normal recurrent cells for Keras 3.

Example:
    >>> import keras, tf_nnrnn
    >>> model = keras.Sequential([
    ...     keras.Input((None, 1)),
    ...     keras.layers.RNN(tf_nnrnn.NNRNNCell(128)),
    ...     keras.layers.Dense(1),
    ... ])
"""

from tf_nnrnn import (
    activations,
    analysis,
    callbacks,
    cli,
    constraints,
    experiments,
    initializers,
    layers,
    models,
    optimizers,
    parametrizations,
    presets,
    regularizers,
    results,
    tasks,
    training,
    tuning,
)
from tf_nnrnn.activations import ModReLU, modrelu
from tf_nnrnn.cells import ExpRNNCell, NNRNNCell, NRUCell, ScoRNNCell
from tf_nnrnn.constraints import (
    ClipRange,
    SpectralRadiusBound,
    StrictlyLowerTriangular,
)
from tf_nnrnn.layers import NNRNN, ExpRNN, ScoRNN
from tf_nnrnn.models import ModReLURNNCell
from tf_nnrnn.optimizers import make_optimizer
from tf_nnrnn.parametrizations import cayley, expm, skew
from tf_nnrnn.presets import Settings
from tf_nnrnn.regularizers import GammaRegularizer
from tf_nnrnn.tasks.copy import RecallAccuracy
from tf_nnrnn.tasks.ptb import BitsPerCharacter
from tf_nnrnn.training import run

__version__ = "0.1.0"

__all__ = [
    "NNRNNCell",
    "ExpRNNCell",
    "ScoRNNCell",
    "NRUCell",
    "NNRNN",
    "ExpRNN",
    "ScoRNN",
    "ModReLURNNCell",
    "Settings",
    "run",
    "RecallAccuracy",
    "BitsPerCharacter",
    "ModReLU",
    "modrelu",
    "GammaRegularizer",
    "StrictlyLowerTriangular",
    "ClipRange",
    "SpectralRadiusBound",
    "make_optimizer",
    "skew",
    "expm",
    "cayley",
    "activations",
    "analysis",
    "callbacks",
    "cli",
    "experiments",
    "models",
    "presets",
    "results",
    "tasks",
    "training",
    "constraints",
    "initializers",
    "layers",
    "optimizers",
    "parametrizations",
    "regularizers",
    "tuning",
]
