"""Initializers for the raw skew variable `X` of `P = expm(skew(X))`.

Each fills the strict upper triangle of `X` (the free parameters of
`skew(X)`); the entries on and below the diagonal are zero.

- `Henaff`: `X[2i, 2i+1] = s_i ~ U(-π, π)`; `expm` gives independent 2×2
  rotations by angle `s_i` (Henaff, Szlam & LeCun 2016).
- `Cayley`: the same places, `s_i = -sqrt((1 - cos u_i) / (1 + cos u_i))`,
  `u_i ~ U(0, π/2)` (Helfrich et al. 2018).
- `RandomOrthogonalSkew`: `Q` Haar-distributed on SO(n), `X` the upper
  triangle of `logm(Q)`, so that `expm(skew(X)) = Q`.
- `"zeros"`: `P = I`.
"""

from __future__ import annotations

import math
import random

import keras
import numpy as np

__all__ = ["Henaff", "Cayley", "RandomOrthogonalSkew", "get", "SKEW_NAMES"]


def _check_square(shape) -> int:
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(
            "Received an invalid value for argument `shape`, expected a "
            f"square matrix shape (n, n), got {tuple(shape)}."
        )
    return int(shape[0])


def _place_on_superdiagonal(values, n: int, dtype):
    """`X` with `values[i]` at `(2i, 2i+1)` and zeros elsewhere."""
    m = n // 2
    sup = keras.ops.reshape(
        keras.ops.stack([values, keras.ops.zeros((m,), dtype)], axis=-1),
        (-1,),
    )
    if n % 2 == 0:
        sup = sup[:-1]  # length n - 1
    return keras.ops.diag(keras.ops.cast(sup, dtype), k=1)


class _SkewInitializer(keras.initializers.Initializer):
    def __init__(self, seed: int | None = None):
        self._init_seed = seed
        if seed is None:
            # As Keras' random initializers: an integer seed drawn now (from
            # Python's `random`, which `keras.utils.set_random_seed` seeds),
            # so that no global seed generator is touched when a subclassed
            # model is built inside Keras' stateless symbolic build.
            seed = random.randint(1, int(1e9))
        self.seed = seed

    def get_config(self):
        return {"seed": self._init_seed}


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class Henaff(_SkewInitializer):
    """Henaff initialization: 2×2 rotations by angles `U(-π, π)`.

    `X[2i, 2i+1] = s_i ~ U(-π, π)`, zero elsewhere, so `expm(skew(X)) =
    blockdiag(R(-s_i))`.

    Args:
        seed: optional integer seed.

    Example:
        >>> x = Henaff(seed=1)((4, 4))
        >>> tuple(x.shape)
        (4, 4)
        >>> (keras.ops.convert_to_numpy(x) != 0).astype(int).tolist()
        [[0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    """

    def __call__(self, shape, dtype=None):
        n = _check_square(shape)
        dtype = dtype or "float32"
        s = keras.random.uniform(
            (n // 2,), -math.pi, math.pi, dtype=dtype, seed=self.seed
        )
        return _place_on_superdiagonal(s, n, dtype)


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class Cayley(_SkewInitializer):
    """Cayley initialization of Helfrich et al. (2018).

    `X[2i, 2i+1] = -sqrt((1 - cos u_i) / (1 + cos u_i))`, `u_i ~ U(0, π/2)`.

    Args:
        seed: optional integer seed.

    Example:
        >>> x = Cayley(seed=1)((4, 4))
        >>> float(x[0, 1]) <= 0.0
        True
    """

    def __call__(self, shape, dtype=None):
        n = _check_square(shape)
        dtype = dtype or "float32"
        u = keras.random.uniform(
            (n // 2,), 0.0, math.pi / 2, dtype=dtype, seed=self.seed
        )
        c = keras.ops.cos(u)
        s = -keras.ops.sqrt((1.0 - c) / (1.0 + c))
        return _place_on_superdiagonal(s, n, dtype)


def _log_orthogonal(q: np.ndarray) -> np.ndarray:
    """Principal logarithm of an orthogonal `q` (no eigenvalue −1), skew.

    `q` is normal: `q = U diag(e^{iω}) Uᴴ` with unitary `U`. The Hermitian
    `(q + qᵀ)/2 + α (q − qᵀ)/(2i) = U diag(cos ω + α sin ω) Uᴴ` has the same
    eigenvectors and, for a generic α, distinct eigenvalues, so `eigh`
    returns an orthonormal `U` (plain `eig` need not); then
    `log q = U diag(iω) Uᴴ` with `ω = angle(diag(Uᴴ q U))` in (−π, π].
    NumPy only (the same matrix as `scipy.linalg.logm`, to rounding).
    """
    alpha = 0.5**0.5 + 0.1  # generic: irrational-like, not 0 or ±1
    herm = 0.5 * (q + q.T) + alpha * (q - q.T) / 2j
    _, u = np.linalg.eigh(herm)
    omega = np.angle(np.einsum("ji,jk,ki->i", u.conj(), q, u))
    log_q = np.real((u * (1j * omega)) @ u.conj().T)
    return 0.5 * (log_q - log_q.T)


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class RandomOrthogonalSkew(_SkewInitializer):
    """Haar-random `P ∈ SO(n)`: `X = triu(logm(Q), 1)`.

    `Q` is the orthogonal factor of a Gaussian matrix with the signs of
    `diag(R)` fixed (Haar on O(n)), one column negated if `det Q = -1`.

    Args:
        seed: optional integer seed.

    Example:
        >>> from tf_nnrnn.parametrizations import expm, skew
        >>> x = RandomOrthogonalSkew(seed=1)((4, 4))
        >>> tuple(x.shape)
        (4, 4)
        >>> q = expm(skew(x)).numpy()  # in SO(4)
        >>> bool(np.allclose(q @ q.T, np.eye(4), atol=1e-5))
        True
        >>> round(float(np.linalg.det(q)), 4)
        1.0
    """

    def __call__(self, shape, dtype=None):
        n = _check_square(shape)
        dtype = dtype or "float32"
        g = keras.ops.convert_to_numpy(
            keras.random.normal((n, n), dtype="float32", seed=self.seed)
        ).astype(np.float64)
        q, r = np.linalg.qr(g)
        q = q * np.sign(np.diag(r))
        if np.linalg.det(q) < 0:
            q[:, 0] = -q[:, 0]
        log_q = _log_orthogonal(q)
        return keras.ops.convert_to_tensor(np.triu(log_q, 1), dtype=dtype)


SKEW_NAMES = {
    "henaff": Henaff,
    "cayley": Cayley,
    "random_orthogonal": RandomOrthogonalSkew,
    "haar": RandomOrthogonalSkew,
}


def get(identifier):
    """Resolve a skew initializer from a name, config or Keras initializer.

    Args:
        identifier: one of `"cayley"`, `"henaff"`, `"random_orthogonal"`
            (alias `"haar"`), `"zeros"`, a Keras initializer name or object,
            a serialized config, or a callable `(shape, dtype) -> tensor`.

    Returns:
        A Keras initializer.
    """
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in SKEW_NAMES:
            return SKEW_NAMES[key]()
        try:
            return keras.initializers.get(identifier)
        except ValueError:
            accepted = sorted([*SKEW_NAMES, "zeros"])
            raise ValueError(
                "Received an invalid value for argument `skew_initializer`, "
                f"expected one of {accepted} or a Keras initializer, got "
                f"{identifier!r}."
            ) from None
    return keras.initializers.get(identifier)
