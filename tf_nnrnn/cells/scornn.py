"""The scaled Cayley orthogonal RNN cell of Helfrich, Willmott & Ye (2018)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tf_nnrnn.cells.skew_cell import SkewCell
from tf_nnrnn.parametrizations import cayley, skew
from tf_nnrnn.validation import check_int

__all__ = ["ScoRNNCell"]


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class ScoRNNCell(SkewCell):
    """Orthogonal RNN cell through the scaled Cayley transform (scoRNN).

    Papers' column convention: `V = (I + A)⁻¹ (I − A) D`, `A = skew(X)`,
    `D = diag(+1 × (n − ρ), −1 × ρ)` fixed, `h_t = modReLU(V h_{t-1} +
    U x_t)`. The step is written in Keras' row convention,
    `h_t = modReLU(x_t @ kernel + h_{t-1} @ W)` with `W = Vᵀ`, which
    `recurrent_matrix()` returns. `X` is the weight `skew_kernel`, trained
    with the orthogonal learning rate. `D` lets `V` reach eigenvalue −1,
    which the plain Cayley transform cannot.

    Args:
        units: positive integer.
        num_negative_ones: ρ, the number of −1 entries of `D`, in
            `[0, units]`; default `units // 2`.
        skew_initializer: `"cayley"` (default), `"henaff"`,
            `"random_orthogonal"`, `"zeros"` or a Keras initializer.
        kernel_initializer: default uniform in [−0.01, 0.01], scoRNN's
            own code, not the nnRNN reference's Glorot normal;
            `--preset paper` sets what each paper's run used.
        modrelu_bias_initializer: default zeros (as in scoRNN).
        **kwargs: `activation`, `use_bias`, dropout and the other arguments
            of `RecurrentMatrixCell`, and Keras layer arguments.

    Call arguments:
        inputs: `(batch, features)`; states: `[(batch, units)]`.

    Example:
        >>> import keras, numpy as np, tf_nnrnn
        >>> layer = keras.layers.RNN(tf_nnrnn.ScoRNNCell(8, 2))
        >>> tuple(layer(keras.ops.ones((2, 5, 3))).shape)
        (2, 8)

        `recurrent_matrix()` is `W = Vᵀ`, `V = (I + A)⁻¹ (I − A) D`:

        >>> cell = layer.cell
        >>> x = keras.ops.convert_to_numpy(cell.skew_kernel)
        >>> a = np.triu(x, 1) - np.triu(x, 1).T  # skew(X)
        >>> eye = np.eye(8)
        >>> v = np.linalg.solve(eye + a, eye - a) * cell.scaling_diagonal()
        >>> bool(np.allclose(cell.recurrent_matrix(), v.T, atol=1e-5))
        True
    """

    def __init__(
        self,
        units: int,
        num_negative_ones: int | None = None,
        skew_initializer="cayley",
        kernel_initializer="default",
        modrelu_bias_initializer="zeros",
        **kwargs,
    ):
        if kernel_initializer == "default":
            kernel_initializer = keras.initializers.RandomUniform(-0.01, 0.01)
        super().__init__(
            units,
            skew_initializer=skew_initializer,
            kernel_initializer=kernel_initializer,
            modrelu_bias_initializer=modrelu_bias_initializer,
            **kwargs,
        )
        if num_negative_ones is None:
            num_negative_ones = self.units // 2
        self.num_negative_ones = check_int(
            "num_negative_ones", num_negative_ones, 0, self.units, ValueError
        )

    def scaling_diagonal(self) -> np.ndarray:
        """The fixed diagonal of `D`: `n − ρ` ones, then ρ minus ones."""
        n, rho = self.units, self.num_negative_ones
        return np.concatenate([np.ones(n - rho), -np.ones(rho)]).astype(
            "float32"
        )

    def build_recurrent(self):
        self.add_skew_kernel()
        self._d = self.scaling_diagonal()

    parametrization_names = ("skew_kernel",)

    def matrix_from(self, skew_kernel):
        return tf.linalg.matrix_transpose(cayley(skew(skew_kernel), self._d))

    def get_config(self):
        config = {"num_negative_ones": self.num_negative_ones}
        return {**super().get_config(), **config}
