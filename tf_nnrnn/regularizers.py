"""The γ penalty of nnRNN; T decay is Keras' own L2."""

from __future__ import annotations

import keras

from tf_nnrnn.validation import check_choice, check_float

__all__ = ["GammaRegularizer"]


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class GammaRegularizer(keras.regularizers.Regularizer):
    """Pull the eigenvalue moduli `γ` toward 1.

    `R(γ) = δ Σ_i (1 − γ_i)²` (`norm="l2"`, the nnRNN paper) or
    `δ Σ_i |1 − γ_i|` (`norm="l1"`, the reproducibility report's ablation).
    For T decay with PyTorch's `weight_decay=wd` semantics use
    `keras.regularizers.L2(wd / 2)`.

    Args:
        delta: penalty strength, a finite `δ ≥ 0`.
        norm: `"l2"` or `"l1"`.

    Example:
        >>> float(GammaRegularizer(0.5)(keras.ops.array([0.0, 1.0])))
        0.5
    """

    def __init__(self, delta: float = 1e-4, norm: str = "l2"):
        # Finite: an infinite δ makes the loss NaN (∞ · 0 at γ = 1).
        self.delta = check_float("delta", delta, 0.0, low_closed=True)
        self.norm = check_choice("norm", norm, ("l1", "l2"))

    def __call__(self, gamma):
        gap = 1.0 - gamma
        if self.norm == "l2":
            penalty = keras.ops.sum(keras.ops.square(gap))
        else:
            penalty = keras.ops.sum(keras.ops.abs(gap))
        return self.delta * penalty

    def get_config(self):
        return {"delta": self.delta, "norm": self.norm}
