"""Constraints for nnRNN's `T` and `γ`, and a spectral-radius bound.

`SpectralRadiusBound` (Sengupta & Friston 2018) is also re-exported by
`tf_nnrnn.analysis.spectral`, next to the spectral-radius estimates.

Keras applies a constraint to a variable after each optimizer update
(`variable.assign(constraint(variable))`).
"""

from __future__ import annotations

from typing import Any

import keras

from tf_nnrnn.parametrizations import triangular_mask
from tf_nnrnn.validation import check_bool, check_float, check_int

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
        self.block = check_bool("block", block)

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
        min_value: finite lower bound, or `None` for none (default 0.0).
        max_value: finite upper bound, or `None` for none.

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
        # A NaN bound would turn every weight into NaN.
        if min_value is not None:
            min_value = check_float("min_value", min_value)
        if max_value is not None:
            max_value = check_float("max_value", max_value)
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
        self.min_value = min_value
        self.max_value = max_value

    def __call__(self, w):
        if self.min_value is not None:
            w = keras.ops.maximum(w, self.min_value)
        if self.max_value is not None:
            w = keras.ops.minimum(w, self.max_value)
        return w

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value}


def _gelfand_bound(w, num_squarings: int):
    """`‖W^(2^k)‖_F^(1/2^k) >= ρ(W)`, by normalised repeated squaring."""
    ops = keras.ops
    tiny = 1e-30

    def frobenius(a):
        return ops.maximum(ops.sqrt(ops.sum(ops.square(a))), tiny)

    norm = frobenius(w)
    a = w / norm
    log_norm = ops.log(norm)  # W^(2^m) = a_m · exp(log_norm_m), ‖a_m‖ = 1
    for _ in range(num_squarings):
        a = ops.matmul(a, a)
        norm = frobenius(a)
        a = a / norm
        log_norm = 2.0 * log_norm + ops.log(norm)
    return ops.exp(log_norm / float(2**num_squarings))


_MARGIN = 1e-6


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class SpectralRadiusBound(keras.constraints.Constraint):
    """Scales a square recurrent kernel so its spectral radius is <= a bound.

    `W ← W · min(1, r / ρ̂(W))`, with `ρ̂(W) = (1 + 1e-6) ‖W^k‖_F^{1/k}
    >= ρ(W)` (`k = 2^num_squarings`, by repeated squaring: power iteration
    on the matrix; the factor covers rounding). Because `ρ̂` does not
    underestimate ρ, the constraint keeps `ρ(W) <= r` after every optimizer
    step; it shrinks slightly more than needed where ρ̂ overshoots (see
    `spectral_radius_upper_bound`), once: a kernel already scaled to the
    bound is left alone. This is Sengupta & Friston's (2018) spectral
    normalisation of a plain RNN.

    Args:
        max_radius: the bound r > 0. Defaults to 1.
        num_squarings: squarings in the estimate (12 → k = 4096).
            Defaults to 12.

    Example:
        >>> import keras
        >>> layer = keras.layers.SimpleRNN(
        ...     8, recurrent_constraint=SpectralRadiusBound(0.9))
    """

    def __init__(self, max_radius: float = 1.0, num_squarings: int = 12):
        self.max_radius = check_float("max_radius", max_radius, 0.0)
        self.num_squarings = check_int(
            "num_squarings", num_squarings, minimum=1, maximum=60
        )

    def __call__(self, w):
        w = keras.ops.convert_to_tensor(w)
        shape = tuple(w.shape)
        if len(shape) != 2 or shape[0] != shape[1]:
            raise ValueError(
                "SpectralRadiusBound applies to a square recurrent kernel; "
                f"received a weight of shape {shape}."
            )
        # The 1e-6 margin covers the bound's rounding in float32.
        radius = _gelfand_bound(w, self.num_squarings) * (1.0 + _MARGIN)
        scale = keras.ops.minimum(1.0, self.max_radius / radius)
        return w * keras.ops.cast(scale, w.dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            "max_radius": self.max_radius,
            "num_squarings": self.num_squarings,
        }

from tf_nnrnn.manifolds import BlockOrthogonal, Orthogonal, Stiefel  # noqa
