"""Recurrent cells with orthogonal or non-normal recurrent matrices."""

from tf_nnrnn.cells.base import RecurrentMatrixCell
from tf_nnrnn.cells.exprnn import ExpRNNCell
from tf_nnrnn.cells.modrelu_rnn import ModReLURNNCell
from tf_nnrnn.cells.nnrnn import NNRNNCell
from tf_nnrnn.cells.nru import NRUCell
from tf_nnrnn.cells.scornn import ScoRNNCell

__all__ = [
    "RecurrentMatrixCell",
    "NNRNNCell",
    "ExpRNNCell",
    "ScoRNNCell",
    "NRUCell",
    "ModReLURNNCell",
]
