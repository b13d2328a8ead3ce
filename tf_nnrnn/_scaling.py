"""Scaling and squaring: the pieces the Padé (`parametrizations`) and the
Taylor (`expm_taylor`) matrix exponentials share.

`expm(A) = r(A/2^s)^(2^s)` with the approximant `r` of the lowest degree
whose threshold `θ_m` bounds `‖A‖₁` (Higham 2005), else the top degree and
`s = ⌈log₂(‖A‖₁/θ_top)⌉` squarings.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def choose_degree(a: tf.Tensor, thetas) -> tuple[tf.Tensor, tf.Tensor]:
    """`(index, s)`, int32 scalars: the index into `thetas` (ascending) of
    the lowest `θ ≥ ‖A‖₁` (the last past all of them) and the squarings
    `s` (0 unless `‖A‖₁` exceeds the last `θ`). A batch `(..., n, n)`
    shares one choice; one `‖A‖₁` (O(n²)); graph- and XLA-compatible.

    Example:
        >>> index, s = choose_degree(tf.fill((2, 2), 1.0), (0.5, 1.0))
        >>> int(index), int(s)  # ‖A‖₁ = 2: the last θ, one squaring
        (1, 1)
    """
    thetas = tf.constant(thetas, tf.float64)
    norm = tf.cast(tf.reduce_max(tf.reduce_sum(tf.abs(a), axis=-2)), tf.float64)
    index = tf.reduce_sum(tf.cast(norm > thetas[:-1], tf.int32))
    s = tf.math.ceil(tf.math.log(norm / thetas[-1]) / np.log(2.0))
    s = tf.where(tf.math.is_finite(s), tf.clip_by_value(s, 0.0, 64.0), 0.0)
    return index, tf.cast(s, tf.int32)


def inv_pow2(s: tf.Tensor, dtype) -> tf.Tensor:
    """`2^-s` (exact) in `dtype`."""
    half = tf.constant(0.5, tf.float64)
    return tf.cast(tf.pow(half, tf.cast(s, tf.float64)), dtype)


def square(r: tf.Tensor, s: tf.Tensor) -> tf.Tensor:
    """`R^(2^s)` by `s` squarings (a loop, so `s` may be data-dependent)."""
    _, r = tf.while_loop(
        lambda i, _: i < s, lambda i, r: (i + 1, r @ r), (tf.constant(0), r)
    )
    return r
