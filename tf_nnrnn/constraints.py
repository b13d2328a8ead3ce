"""Constraints for nnRNN's `T` and `γ`, and a spectral-radius bound.

`SpectralRadiusBound` (Sengupta & Friston 2018) lives with the spectral
analysis in `tf_nnrnn.analysis.spectral` and is re-exported here.

Keras applies a constraint to a variable after each optimizer update
(`variable.assign(constraint(variable))`).
"""

from __future__ import annotations

import keras

from tf_nnrnn.analysis.spectral import SpectralRadiusBound
from tf_nnrnn.parametrizations import triangular_mask

__all__ = ["StrictlyLowerTriangular", "ClipRange", "SpectralRadiusBound"]


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class StrictlyLowerTriangular(keras.constraints.Constraint):
    """Zero every entry of a square matrix on or above its diagonal.

    `T ← T ∘ M` with `M` strictly lower triangular; with `block=True` the
    entries `(2i+1, 2i)` inside the 2×2 diagonal blocks are zeroed too, so
    `Λ + T` stays a real Schur form (see `parametrizations.triangular_mask`).

    Args:
        block: whether to keep `T` strictly *block* lower triangular.

    Example:
        >>> c = StrictlyLowerTriangular(block=False)
        >>> c(keras.ops.ones((3, 3))).numpy().tolist()
        [[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    """

    def __init__(self, block: bool = True):
        if not isinstance(block, bool):
            raise TypeError(
                "Received an invalid value for argument `block`, expected a "
                f"bool, got {block!r}."
            )
        self.block = block

    def __call__(self, w):
        shape = tuple(w.shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(
                "StrictlyLowerTriangular applies to square matrices, got a "
                f"variable of shape {shape}."
            )
        mask = triangular_mask(shape[0], block=self.block)
        return w * keras.ops.cast(mask, w.dtype)

    def get_config(self):
        return {"block": self.block}


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class ClipRange(keras.constraints.Constraint):
    """Clip every entry into `[min_value, max_value]` (e.g. `γ ≥ 0`).

    Args:
        min_value: lower bound, or `None` for none (default 0.0).
        max_value: upper bound, or `None` for none.

    Example:
        >>> ClipRange(0.0, 1.0)(keras.ops.array([-1.0, 0.5, 2.0])).numpy()
        array([0. , 0.5, 1. ], dtype=float32)
    """

    def __init__(
        self, min_value: float | None = 0.0, max_value: float | None = None
    ):
        if min_value is None and max_value is None:
            raise ValueError(
                "Received `min_value=None` and `max_value=None`; expected at "
                "least one bound."
            )
        if (
            min_value is not None
            and max_value is not None
            and not min_value < max_value
        ):
            raise ValueError(
                "Received an invalid value for arguments `min_value` and "
                "`max_value`, expected min_value < max_value, got "
                f"{min_value} and {max_value}."
            )
        self.min_value = None if min_value is None else float(min_value)
        self.max_value = None if max_value is None else float(max_value)

    def __call__(self, w):
        if self.min_value is not None:
            w = keras.ops.maximum(w, self.min_value)
        if self.max_value is not None:
            w = keras.ops.minimum(w, self.max_value)
        return w

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value}
