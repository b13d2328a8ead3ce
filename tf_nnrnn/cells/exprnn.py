"""The exponential RNN cell of Lezcano-Casado & Martínez-Rubio (2019)."""

from __future__ import annotations

import keras
import tensorflow as tf

from tf_nnrnn.cells.skew_cell import ExpmCell

__all__ = ["ExpRNNCell"]


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class ExpRNNCell(ExpmCell):
    """Orthogonal RNN cell through the exponential map (expRNN).

    Papers' column convention: `V = expm(A) ∈ SO(n)`, `A = skew(X)`,
    `h_t = modReLU(V h_{t-1} + U x_t)`. The step is written in Keras' row
    convention, `h_t = modReLU(x_t @ kernel + h_{t-1} @ W)` with
    `W = Vᵀ = expm(−A)`, which `recurrent_matrix()` returns. `X` is the
    weight `skew_kernel`, trained with the orthogonal learning rate; the
    input kernel is He normal.

    Args:
        units: positive integer.
        skew_initializer: `"henaff"` (default), `"cayley"`,
            `"random_orthogonal"`, `"zeros"` or a Keras initializer.
        kernel_initializer: default `"he_normal"`, expRNN's own code
            (`kaiming_normal_`), not the nnRNN reference's Glorot normal;
            `--preset paper` sets what each paper's run used.
        expm_gradient: `"taylor"` (default, the cheapest), `"pade"`,
            `"block"` or `"eig"`, see
            `parametrizations.expm`.
        trivialization: `"static"` (default) or `"dynamic"`: then
            `V = B·expm(A)` with the non-trainable `orthogonal_base` `B`,
            re-based (`B ← B·expm(A)`, `X ← 0`) every `rebase_every`
            updates by the `DynamicTrivialization` callback (see
            `cells/skew_cell.py`).
        rebase_every: updates between re-basings (default 100).
        **kwargs: `activation`, `use_bias`, dropout and the other arguments
            of `RecurrentMatrixCell`, and Keras layer arguments.

    Call arguments:
        inputs: `(batch, features)`; states: `[(batch, units)]`.

    Example:
        >>> import keras, numpy as np, tf_nnrnn
        >>> layer = keras.layers.RNN(tf_nnrnn.ExpRNNCell(8))
        >>> tuple(layer(keras.ops.ones((2, 5, 3))).shape)
        (2, 8)

        `recurrent_matrix()` is `W = Vᵀ`, `V = expm(skew(X))`:

        >>> cell = layer.cell
        >>> v = tf_nnrnn.expm(tf_nnrnn.skew(cell.skew_kernel)).numpy()
        >>> bool(np.allclose(cell.recurrent_matrix(), v.T, atol=1e-5))
        True
    """

    def __init__(
        self,
        units: int,
        skew_initializer="henaff",
        kernel_initializer="he_normal",
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
            **kwargs,
        )

    def build_recurrent(self):
        self.add_skew_kernel()

    parametrization_names = ("skew_kernel",)

    def matrix_from(self, skew_kernel, orthogonal_base=None):
        # W = Vᵀ = expm(A)ᵀ = expm(−A): no transpose needed.
        w = self.expm_skew(skew_kernel, sign=-1.0)
        if orthogonal_base is None:
            return w
        # Dynamic: V = B expm(A), W = expm(−A) Bᵀ.
        return w @ tf.linalg.matrix_transpose(orthogonal_base)
