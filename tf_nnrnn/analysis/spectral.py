"""Spectral radius: power iteration, Rayleigh quotient and a Keras bound.

Sengupta & Friston (2018) normalise a plain RNN's recurrent matrix so that
its spectral radius `ρ(W) = max_i |λ_i|` is at most 1, estimating ρ by power
iteration and the Rayleigh quotient. `SpectralRadiusBound` (defined in
`tf_nnrnn.constraints`, re-exported here) does this as a Keras constraint
after every optimizer step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np

from tf_nnrnn.analysis.matrix import (
    as_vector,
    positive_float,
    positive_int,
    recurrent_matrix,
)
from tf_nnrnn.constraints import (  # re-exported here
    SpectralRadiusBound,  # noqa: F401
    _gelfand_bound,
)


@dataclasses.dataclass(frozen=True)
class PowerIterationResult:
    """Dominant eigenpair estimate from `power_iteration`.

    Attributes:
        eigenvalue: the Ritz value of largest modulus (complex).
        vector: its unit Ritz vector (complex), shape `(n,)`.
        spectral_radius: `|eigenvalue|`.
        iterations: iterations run.
        converged: whether the residual `‖V x − λ x‖` fell below
            `tol · ‖V‖_F`.
    """

    eigenvalue: complex
    vector: np.ndarray
    spectral_radius: float
    iterations: int
    converged: bool


def rayleigh_quotient(source: Any, x: Any) -> complex:
    """Rayleigh quotient `x^H V x / x^H x`.

    Equals λ when `x` is an eigenvector of `V` for λ.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.
        x: real or complex vector of shape `(n,)`, not zero.

    Returns:
        The quotient as a complex number.

    Example:
        >>> import numpy as np
        >>> rayleigh_quotient(np.diag([2.0, 1.0]), [1.0, 0.0])
        (2+0j)
    """
    v_matrix = recurrent_matrix(source)
    n = v_matrix.shape[0]
    x = np.asarray(x)
    if np.iscomplexobj(x):
        x = as_vector(x.real, n, "x") + 1j * as_vector(x.imag, n, "x")
    else:
        x = as_vector(x, n, "x")
    denominator = np.vdot(x, x)
    if denominator == 0:
        raise ValueError(
            "Received an invalid value for argument `x`, expected a nonzero "
            "vector, got all zeros."
        )
    return complex(np.vdot(x, v_matrix @ x) / denominator)


def power_iteration(
    source: Any,
    num_iters: int = 1000,
    tol: float = 1e-12,
    block_size: int = 2,
    seed: int = 0,
) -> PowerIterationResult:
    """Dominant eigenvalue by (block) power iteration with Rayleigh–Ritz.

    `Q_{k+1} = qr(V Q_k)`; the Ritz values are the eigenvalues of the
    block Rayleigh quotient `Q_k^T V Q_k`. A block of 2 lets a real matrix's
    dominant complex-conjugate pair converge (a single real vector would
    rotate forever); the error decays like `|λ_{p+1} / λ_1|^k`.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.
        num_iters: maximum number of iterations. Defaults to 1000.
        tol: stop when `‖V x − λ x‖ <= tol · ‖V‖_F`. Defaults to 1e-12.
        block_size: number of vectors `p` iterated together. Defaults to 2.
        seed: seed of the random start block. Defaults to 0.

    Returns:
        A `PowerIterationResult`.

    Example:
        >>> import numpy as np
        >>> result = power_iteration(np.diag([0.5, -0.9, 0.1]))
        >>> round(result.spectral_radius, 8)
        0.9
    """
    v_matrix = recurrent_matrix(source)
    n = v_matrix.shape[0]
    num_iters = positive_int(num_iters, "num_iters")
    tol = positive_float(tol, "tol")
    p = min(positive_int(block_size, "block_size"), n)
    scale = np.linalg.norm(v_matrix)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, p)))
    value, vector, converged, iterations = 0j, q[:, 0].astype(complex), False, 0
    while iterations < num_iters:
        iterations += 1
        z = v_matrix @ q
        values, vectors = np.linalg.eig(q.T @ z)
        best = int(np.argmax(np.abs(values)))
        value = complex(values[best])
        vector = q @ vectors[:, best]
        vector = vector / np.linalg.norm(vector)
        residual = np.linalg.norm(v_matrix @ vector - value * vector)
        if scale == 0 or residual <= tol * scale:
            converged = True
            break
        q, _ = np.linalg.qr(z)
    return PowerIterationResult(
        eigenvalue=value,
        vector=vector,
        spectral_radius=abs(value),
        iterations=iterations,
        converged=converged,
    )


def spectral_radius(source: Any, method: str = "eig") -> float:
    """Spectral radius `ρ(V) = max_i |λ_i|`.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.
        method: "eig" (all eigenvalues, LAPACK), "power"
            (`power_iteration`) or "gelfand" (the guaranteed upper bound
            `spectral_radius_upper_bound`). Defaults to "eig".

    Returns:
        ρ as a float.

    Example:
        >>> import numpy as np
        >>> round(spectral_radius(np.array([[0.0, -0.5], [0.5, 0.0]])), 12)
        0.5
    """
    if method == "eig":
        return float(
            np.max(np.abs(np.linalg.eigvals(recurrent_matrix(source))))
        )
    if method == "power":
        return power_iteration(source).spectral_radius
    if method == "gelfand":
        return spectral_radius_upper_bound(source)
    raise ValueError(
        "Received an invalid value for argument `method`, expected one of "
        f"('eig', 'power', 'gelfand'), got {method!r}."
    )


def spectral_radius_upper_bound(source: Any, num_squarings: int = 12) -> float:
    """Gelfand's upper bound `ρ(V) <= ‖V^k‖_F^{1/k}`, `k = 2^num_squarings`.

    Power iteration on the matrix itself, by repeated squaring. In exact
    arithmetic it never underestimates ρ (for any k), and in floating point
    only by rounding (a few ulps of the log); it converges to ρ as k grows.
    The excess
    is about `(c · k^j)^{1/k}` for a Jordan block of size j+1 and
    eigenvector condition c (0.06 % for a 128×128 orthogonal matrix at the
    default k = 4096, more for long non-normal chains).

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.
        num_squarings: number of squarings; `k = 2^num_squarings`.
            Defaults to 12.

    Returns:
        The bound as a float.

    Example:
        >>> import numpy as np
        >>> bound = spectral_radius_upper_bound(np.diag([0.5, 0.25]))
        >>> 0.4999999 < bound < 0.5001
        True
    """
    v_matrix = recurrent_matrix(source)
    num_squarings = positive_int(num_squarings, "num_squarings")
    bound = _gelfand_bound(keras.ops.convert_to_tensor(v_matrix), num_squarings)
    return float(keras.ops.convert_to_numpy(bound))
