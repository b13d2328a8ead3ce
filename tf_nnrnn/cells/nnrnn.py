"""The non-normal RNN cell of Kerg et al. (NeurIPS 2019)."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from tf_nnrnn.cells.skew_cell import ExpmCell
from tf_nnrnn.constraints import StrictlyLowerTriangular
from tf_nnrnn.parametrizations import (
    nnrnn_matrix,
    rotation_blocks,
    triangular_mask,
)
from tf_nnrnn.validation import check_choice

__all__ = ["NNRNNCell"]

_MASKS = ("block", "strict")


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class NNRNNCell(ExpmCell):
    """Non-normal RNN cell: `V = P (Λ + T) Pᵀ` (Kerg et al., 2019).

    Papers' column convention: `h_t = modReLU(V h_{t-1} + U x_t)` with
    `P = expm(skew(X))` orthogonal (the Schur basis, trained with the
    orthogonal learning rate), `Λ = blockdiag(γ_i R(θ_i))` (eigenvalues
    `γ_i e^{±iθ_i}`) and `T` strictly lower triangular (feed-forward chains
    between Schur modes). The step is written in Keras' row convention,
    `h_t = modReLU(x_t @ kernel + h_{t-1} @ W)` with `W = Vᵀ`, which
    `recurrent_matrix()` returns. With `T = 0` and `γ = 1` the cell is an
    orthogonal RNN. `units` must be even (Λ has 2×2 blocks only).

    Weights: `kernel` (input, `U`ᵀ), `skew_kernel` (`X`), `theta`, `gamma`,
    `triangular_kernel` (`T`, column convention), `modrelu_bias`.

    Args:
        units: even positive integer.
        skew_initializer: `"cayley"` (default), `"henaff"`,
            `"random_orthogonal"`, `"zeros"` or a Keras initializer for `X`.
        kernel_initializer: input kernel initializer (default Glorot
            normal, the reference's `xavier_normal_`; its PTB runs use
            `"he_normal"`).
        theta_initializer: default uniform in [0, 2π).
        gamma_initializer: default ones.
        triangular_initializer: default zeros.
        gamma_regularizer: e.g. `GammaRegularizer(delta, "l2")`.
        gamma_constraint: e.g. `ClipRange(0.0)`.
        triangular_regularizer: T decay, e.g. `keras.regularizers.L2(wd/2)`.
        triangular_constraint: default `StrictlyLowerTriangular(block)`
            matching `triangular_mask`; `None` for none.
        triangular_mask: `"block"` (default: `T` strictly *block* lower
            triangular, a true real Schur form, so the eigenvalues are
            exactly `γ_i e^{±iθ_i}`) or `"strict"` (the reference code's
            mask, which also frees the entry below each 2×2 block's
            diagonal).
        expm_gradient: `"taylor"` (default, the cheapest), `"pade"`,
            `"block"` or `"eig"`, see
            `parametrizations.expm`.
        trivialization: `"static"` (default) or `"dynamic"`: then
            `P = B·expm(skew(X))` with the non-trainable `orthogonal_base`
            `B`, re-based (`B ← P`, `X ← 0`) every `rebase_every` updates
            by the `DynamicTrivialization` callback (see
            `cells/skew_cell.py`).
        rebase_every: updates between re-basings (default 100).
        **kwargs: `activation`, `use_bias`, dropout and the other arguments
            of `RecurrentMatrixCell`, and Keras layer arguments.

    Call arguments:
        inputs: `(batch, features)`; states: `[(batch, units)]`.

    Example:
        >>> import keras, tf_nnrnn
        >>> layer = keras.layers.RNN(tf_nnrnn.NNRNNCell(8))
        >>> tuple(layer(keras.ops.ones((2, 5, 3))).shape)
        (2, 8)
    """

    def __init__(
        self,
        units: int,
        skew_initializer="cayley",
        kernel_initializer="glorot_normal",
        theta_initializer="default",
        gamma_initializer="ones",
        triangular_initializer="zeros",
        gamma_regularizer=None,
        gamma_constraint=None,
        triangular_regularizer=None,
        triangular_constraint="default",
        triangular_mask: str = "block",
        expm_gradient: str = "taylor",
        trivialization: str = "static",
        rebase_every: int = 100,
        **kwargs,
    ):
        super().__init__(
            units,
            skew_initializer=skew_initializer,
            kernel_initializer=kernel_initializer,
            expm_gradient=expm_gradient,
            trivialization=trivialization,
            rebase_every=rebase_every,
            even_units=True,
            **kwargs,
        )
        self.triangular_mask = check_choice(
            "triangular_mask", triangular_mask, _MASKS
        )
        if theta_initializer == "default":
            theta_initializer = keras.initializers.RandomUniform(
                0.0, 2.0 * math.pi
            )
        self.theta_initializer = keras.initializers.get(theta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.triangular_initializer = keras.initializers.get(
            triangular_initializer
        )
        self.gamma_regularizer = keras.regularizers.get(gamma_regularizer)
        self.gamma_constraint = keras.constraints.get(gamma_constraint)
        self.triangular_regularizer = keras.regularizers.get(
            triangular_regularizer
        )
        if triangular_constraint == "default":
            triangular_constraint = StrictlyLowerTriangular(
                block=triangular_mask == "block"
            )
        self.triangular_constraint = keras.constraints.get(
            triangular_constraint
        )

    def build_recurrent(self):
        n = self.units
        self.add_skew_kernel()
        self.theta = self.add_parametrization_weight(
            "theta", (n // 2,), self.theta_initializer
        )
        self.gamma = self.add_parametrization_weight(
            "gamma",
            (n // 2,),
            self.gamma_initializer,
            regularizer=self.gamma_regularizer,
            constraint=self.gamma_constraint,
        )
        self.triangular_kernel = self.add_parametrization_weight(
            "triangular_kernel",
            (n, n),
            self.triangular_initializer,
            regularizer=self.triangular_regularizer,
            constraint=self.triangular_constraint,
        )
        self._mask = triangular_mask(
            n, block=self.triangular_mask == "block", dtype="float32"
        )

    def schur_parts(self):
        """`(P, Θ)` with `V = P Θ Pᵀ`, float32, column convention."""
        base = None
        if self.dynamic:
            base = tf.convert_to_tensor(self.orthogonal_base)
        p = self.orthogonal_factor(
            tf.convert_to_tensor(self.skew_kernel), base
        )
        t = tf.convert_to_tensor(self.triangular_kernel) * self._mask
        theta_mat = rotation_blocks(
            tf.convert_to_tensor(self.gamma), tf.convert_to_tensor(self.theta)
        )
        return p, theta_mat + t

    parametrization_names = (
        "skew_kernel",
        "theta",
        "gamma",
        "triangular_kernel",
    )

    def matrix_from(
        self, skew_kernel, theta, gamma, triangular_kernel, orthogonal_base=None
    ):
        if orthogonal_base is not None:
            # Dynamic: V = P (Λ + T) Pᵀ with P = B·expm(skew(X)).
            p = self.orthogonal_factor(skew_kernel, orthogonal_base)
            t = triangular_kernel * tf.cast(self._mask, triangular_kernel.dtype)
            v = p @ (rotation_blocks(gamma, theta) + t)
            return tf.linalg.matrix_transpose(v @ tf.linalg.matrix_transpose(p))
        v = nnrnn_matrix(
            skew_kernel,
            theta,
            gamma,
            triangular_kernel,
            mask=self._mask,
            gradient=self.expm_gradient,
        )
        return tf.linalg.matrix_transpose(v)

    def get_config(self):
        ser_i = keras.initializers.serialize
        ser_r = keras.regularizers.serialize
        ser_c = keras.constraints.serialize
        config = {
            "theta_initializer": ser_i(self.theta_initializer),
            "gamma_initializer": ser_i(self.gamma_initializer),
            "triangular_initializer": ser_i(self.triangular_initializer),
            "gamma_regularizer": ser_r(self.gamma_regularizer),
            "gamma_constraint": ser_c(self.gamma_constraint),
            "triangular_regularizer": ser_r(self.triangular_regularizer),
            "triangular_constraint": ser_c(self.triangular_constraint),
            "triangular_mask": self.triangular_mask,
        }
        return {**super().get_config(), **config}
