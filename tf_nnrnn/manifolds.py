"""Orthogonal and Stiefel constraints for the weights of any Keras layer.

A weight `W` of shape `(r, c)` lies on the **Stiefel manifold** when its
shorter side is orthonormal: `WᵀW = I` when `r ≥ c` (orthonormal columns),
`WWᵀ = I` when `r < c` (orthonormal rows); a square `W` is then orthogonal.
With `blocks=k` the last axis is split into `k` equal column blocks and
each block is kept on its own manifold: Keras' `LSTM` stores its recurrent
kernel as `(n, 4n)` with the gates `i, f, c, o` side by side, so
`Orthogonal(blocks=4)` keeps each gate's `n × n` block orthogonal (`GRU`:
3 blocks, `z, r, h`).

Keras applies a layer's `*_constraint` after every optimizer update
(`variable.assign(constraint(variable))`), so the constraint is a
**retraction** `R(W + ΔW)` back onto the manifold:

- `"polar"` (default): `R(Y) = U Vᵀ` from the thin SVD `Y = U Σ Vᵀ`, the
  closest point of the manifold to `Y` in the Frobenius norm (so a point
  already on it stays put), independent of the order of the columns.
- `"qr"`: `R(Y) = Q · diag(sign(diag(R)))` from `Y = QR` (the sign fix
  makes it the Gram–Schmidt orthonormalisation of the columns, hence a
  retraction): about 3–4× cheaper than the SVD but not the closest point,
  and it favours the first columns.

Both compile under XLA (`jit_compile=True`), but **on a CPU, XLA's SVD is
a slow Jacobi iteration**: the polar retraction of a 128 × 128 weight took
0.9 s per update under XLA against 2.8 ms in graph mode, and one call at
512 did not finish within 150 s (`benchmarks/README.md`). On a CPU with
`jit_compile=True`, use `retraction="qr"` (2.4 ms at 128 under XLA). A
Cayley retraction needs the tangent direction of the step, which a
constraint never sees: it is the Riemannian optimizer's
(`tf_nnrnn.riemannian`). The cost of each per update, beside the expm and
Cayley parametrizations, is measured by
`benchmarks/manifold_cost.py`.

Example:
    >>> import keras
    >>> layer = keras.layers.LSTM(8, recurrent_constraint=Orthogonal(4))
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tf_nnrnn.validation import check_choice, check_int

__all__ = [
    "RETRACTIONS",
    "polar_retraction",
    "qr_retraction",
    "split_blocks",
    "merge_blocks",
    "stiefel_error",
    "Stiefel",
    "Orthogonal",
    "BlockOrthogonal",
]


def _t(x):
    return tf.linalg.matrix_transpose(x)


def polar_retraction(y: tf.Tensor) -> tf.Tensor:
    """The orthogonal polar factor `U Vᵀ` of `Y = U Σ Vᵀ` (thin SVD).

    The closest matrix with orthonormal columns (rows, if `Y` is wide) to
    `Y` in the Frobenius norm.

    Args:
        y: `(..., r, c)`.

    Returns:
        The polar factor, same shape.

    Example:
        >>> import numpy as np
        >>> q = polar_retraction(tf.random.normal((5, 3)))
        >>> bool(np.allclose(tf.transpose(q) @ q, np.eye(3), atol=1e-5))
        True
    """
    _, u, v = tf.linalg.svd(y, full_matrices=False)
    return u @ _t(v)


def qr_retraction(y: tf.Tensor) -> tf.Tensor:
    """The sign-fixed `Q` of `Y = QR`: Gram–Schmidt of the columns.

    `Q · diag(sign(diag(R)))` (a zero of `diag(R)` counts as +1), so that
    the result is a smooth function of `Y` (a retraction). A wide `Y` is
    orthonormalised by rows (the QR of `Yᵀ`).

    Args:
        y: `(..., r, c)`.

    Returns:
        A matrix with orthonormal columns (rows if wide), same shape.

    Example:
        >>> import numpy as np
        >>> q = qr_retraction(tf.random.normal((3, 5)))
        >>> bool(np.allclose(q @ tf.transpose(q), np.eye(3), atol=1e-5))
        True
    """
    wide = y.shape[-2] < y.shape[-1]
    if wide:
        y = _t(y)
    q, r = tf.linalg.qr(y, full_matrices=False)
    d = tf.sign(tf.linalg.diag_part(r))
    d = tf.where(d == 0, tf.ones_like(d), d)
    q = q * d[..., None, :]
    return _t(q) if wide else q


#: The retractions a constraint accepts, by name.
RETRACTIONS = {"polar": polar_retraction, "qr": qr_retraction}


def _check_blocks(name: str, shape, blocks: int, square: bool):
    if len(shape) != 2:
        raise ValueError(
            f"{name} applies to a 2-D weight, got a weight of shape "
            f"{tuple(shape)}."
        )
    rows, cols = shape
    if cols % blocks:
        raise ValueError(
            f"{name}(blocks={blocks}) needs the last axis to be a multiple "
            f"of {blocks}, got a weight of shape {tuple(shape)}."
        )
    if square and rows != cols // blocks:
        raise ValueError(
            f"{name}(blocks={blocks}) needs square blocks, i.e. a weight of "
            f"shape (n, {blocks}·n); got {tuple(shape)} (use Stiefel for "
            "rectangular blocks)."
        )


def split_blocks(w: tf.Tensor, blocks: int) -> tf.Tensor:
    """`(r, k·c)` → `(k, r, c)`: the `k` column blocks, stacked.

    Example:
        >>> split_blocks(tf.reshape(tf.range(8.0), (2, 4)), 2).shape
        TensorShape([2, 2, 2])
    """
    rows, cols = w.shape
    w = tf.reshape(w, (rows, blocks, cols // blocks))
    return tf.transpose(w, (1, 0, 2))


def merge_blocks(b: tf.Tensor) -> tf.Tensor:
    """`(k, r, c)` → `(r, k·c)`, the inverse of `split_blocks`."""
    k, rows, cols = b.shape
    return tf.reshape(tf.transpose(b, (1, 0, 2)), (rows, k * cols))


def stiefel_error(w, blocks: int = 1) -> tf.Tensor:
    """`max_b ‖W_bᵀW_b − I‖_max`, per column block (`W_bW_bᵀ` if wide).

    Args:
        w: `(r, k·c)` weight.
        blocks: `k`, the number of column blocks.

    Returns:
        A scalar tensor: the largest deviation from orthonormality.

    Example:
        >>> float(stiefel_error(tf.eye(3))) == 0.0
        True
    """
    w = split_blocks(tf.convert_to_tensor(w), blocks)
    rows, cols = w.shape[-2:]
    gram = _t(w) @ w if rows >= cols else w @ _t(w)
    eye = tf.eye(min(rows, cols), dtype=w.dtype)
    return tf.reduce_max(tf.abs(gram - eye))


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class Stiefel(keras.constraints.Constraint):
    """Keep each column block of a weight on the Stiefel manifold.

    `W_b ← R(W_b)` for each of the `blocks` column blocks of `W`, with `R`
    the retraction: afterwards `W_bᵀW_b = I` (`W_bW_bᵀ = I` for a wide
    block). Usable with any `*_constraint=` argument of a Keras layer.

    Args:
        blocks: number of equal column blocks (default 1: the whole weight).
        retraction: `"polar"` (default; `U Vᵀ` of the SVD, the closest
            point) or `"qr"` (sign-fixed QR, cheaper; the one to use under
            `jit_compile=True` on a CPU, where XLA's SVD is very slow).

    Example:
        >>> import keras
        >>> dense = keras.layers.Dense(4, kernel_constraint=Stiefel())
        >>> w = Stiefel()(keras.random.normal((6, 4)))
        >>> bool(stiefel_error(w) < 1e-5)
        True
    """

    _square = False

    def __init__(self, blocks: int = 1, retraction: str = "polar"):
        self.blocks = check_int("blocks", blocks)
        self.retraction = check_choice(
            "retraction", retraction, tuple(RETRACTIONS)
        )

    def __call__(self, w):
        _check_blocks(type(self).__name__, w.shape, self.blocks, self._square)
        w = tf.convert_to_tensor(w)
        retract = RETRACTIONS[self.retraction]
        if self.blocks == 1:
            return retract(w)
        return merge_blocks(retract(split_blocks(w, self.blocks)))

    def get_config(self):
        return {"blocks": self.blocks, "retraction": self.retraction}


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class Orthogonal(Stiefel):
    """Keep each square column block of a weight orthogonal.

    `W_b ← R(W_b)`, `W_bᵀW_b = W_bW_bᵀ = I` for each `n × n` block of an
    `(n, k·n)` weight; `Stiefel` without the squareness check. For Keras'
    `LSTM` use `blocks=4`, for `GRU` `blocks=3`, for `SimpleRNN` 1.

    Args:
        blocks: number of square column blocks (default 1).
        retraction: `"polar"` (default) or `"qr"`, see `Stiefel`.

    Example:
        >>> import keras
        >>> gru = keras.layers.GRU(8, recurrent_constraint=Orthogonal(3))
        >>> w = Orthogonal(blocks=2)(keras.random.normal((3, 6)))
        >>> bool(stiefel_error(w, blocks=2) < 1e-5)
        True
    """

    _square = True


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class BlockOrthogonal(keras.initializers.Initializer):
    """Haar-random orthonormal column blocks: the initializer to pair with
    `Orthogonal(blocks=k)` or the Riemannian optimizer.

    Each block is the polar factor of a Gaussian matrix (Haar-distributed
    on the Stiefel manifold), times `gain`. Keras' own
    `initializers.Orthogonal` orthonormalises the *whole* `(n, 4n)` LSTM
    kernel instead, so its `n × n` blocks are not orthogonal.

    Args:
        blocks: number of equal column blocks (default 1).
        gain: multiplicative factor (default 1).
        seed: optional integer seed.

    Example:
        >>> w = BlockOrthogonal(blocks=4, seed=0)((5, 20))
        >>> bool(stiefel_error(w, blocks=4) < 1e-5)
        True
    """

    def __init__(self, blocks: int = 1, gain: float = 1.0, seed=None):
        self.blocks = check_int("blocks", blocks)
        self.gain = float(gain)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        _check_blocks("BlockOrthogonal", shape, self.blocks, square=False)
        rows, cols = shape
        dtype = dtype or keras.backend.floatx()
        g = keras.random.normal(
            (self.blocks, rows, cols // self.blocks),
            dtype="float32",
            seed=self.seed,
        )
        w = merge_blocks(polar_retraction(tf.convert_to_tensor(g)))
        return tf.cast(self.gain * w, dtype)

    def get_config(self):
        return {"blocks": self.blocks, "gain": self.gain, "seed": self.seed}
