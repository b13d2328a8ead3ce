"""Bases of the cells parametrized by a skew-symmetric matrix.

expRNN, scoRNN and nnRNN all train a raw `skew_kernel` `X` whose strict
upper triangle defines `A = skew(X)` (the orthogonal learning rate's
weight), initialised by a skew initializer; the expm cells also choose the
gradient of the matrix exponential. These arguments live here once.
"""

from __future__ import annotations

import keras

from tf_nnrnn import initializers as skew_initializers
from tf_nnrnn.cells.base import RecurrentMatrixCell
from tf_nnrnn.parametrizations import EXPM_GRADIENTS, expm, skew
from tf_nnrnn.validation import check_choice

__all__ = ["SkewCell", "ExpmCell"]


class SkewCell(RecurrentMatrixCell):
    """A `RecurrentMatrixCell` with a weight `skew_kernel` (`X`).

    Args:
        units: positive integer.
        skew_initializer: `"cayley"`, `"henaff"`, `"random_orthogonal"`,
            `"zeros"` or a Keras initializer for `X`.
        **kwargs: the arguments of `RecurrentMatrixCell`.
    """

    def __init__(self, units: int, skew_initializer="cayley", **kwargs):
        super().__init__(units, **kwargs)
        self.skew_initializer = skew_initializers.get(skew_initializer)

    def add_skew_kernel(self):
        """Create `skew_kernel`, `(units, units)`, full precision."""
        n = self.units
        self.skew_kernel = self.add_parametrization_weight(
            "skew_kernel", (n, n), self.skew_initializer
        )

    def get_config(self):
        config = {
            "skew_initializer": keras.initializers.serialize(
                self.skew_initializer
            ),
        }
        return {**super().get_config(), **config}


class ExpmCell(SkewCell):
    """A `SkewCell` whose matrix uses `expm(skew(X))`.

    Args:
        units: positive integer.
        expm_gradient: `"pade"` (default, the cheapest), `"block"` or
            `"eig"`: the adjoint Fréchet derivative used as the gradient
            of the matrix exponential (see `parametrizations.expm`).
        **kwargs: the arguments of `SkewCell`.
    """

    def __init__(self, units: int, expm_gradient: str = "pade", **kwargs):
        super().__init__(units, **kwargs)
        self.expm_gradient = check_choice(
            "expm_gradient", expm_gradient, EXPM_GRADIENTS
        )

    def expm_skew(self, x, sign: float = 1.0):
        """`expm(sign · skew(x))` with the cell's gradient."""
        a = skew(x)
        return expm(a if sign > 0 else -a, gradient=self.expm_gradient)

    def get_config(self):
        return {**super().get_config(), "expm_gradient": self.expm_gradient}
