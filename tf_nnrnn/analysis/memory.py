"""Fisher memory curves of linear recurrent networks (Ganguli et al. 2008).

The linear network `h_t = V h_{t-1} + v s_t + ξ_t`, `ξ_t ~ N(0, ε I)`
(column convention) carries Fisher information about the past input
`s_{t-k}`:

    J(k) = (V^k v)^T C^{-1} (V^k v),    C = ε Σ_{k≥0} V^k (V^k)^T.

The total memory `J_tot = Σ_k J(k) = v^T M v`, where `M` solves the
observability-type equation `M = V^T M V + C^{-1}`; both `C` and `M` are
discrete Lyapunov equations, solved here exactly (no truncated sums).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.linalg

from tf_nnrnn.analysis.matrix import (
    as_vector,
    positive_float,
    positive_int,
    recurrent_matrix,
)

# Kerg et al. 2019, supplement Table 6: total Fisher memory of
# Θ = d·I + α·(first sub-diagonal) + β·(below it), N = 100, keyed (α, β, d).
SUPPLEMENT_TOTAL_MEMORY = {
    (0.95, 0.0, 0.0): 3.03,
    (1.00, 0.0, 0.0): 5.19,
    (1.05, 0.0, 0.0): 12.1,
    (0.95, 0.005, 0.0): 3.18,
    (1.00, 0.005, 0.0): 5.30,
    (0.95, 0.0, 0.2): 12.0,
    (1.00, 0.0, 0.2): 16.2,
    (1.05, 0.0, 0.2): 20.5,
}

_METHODS = ("sqrt", "lyapunov")
_MAX_DOUBLINGS = 64


@dataclasses.dataclass(frozen=True)
class FisherMemory:
    """A Fisher memory curve and the exact total memory.

    Attributes:
        curve: `J(k)` for `k = 0 .. steps - 1`, shape `(steps,)`.
        total: `Σ_{k≥0} J(k)` over all k (not only the curve's steps).
        noise: the noise variance ε.
    """

    curve: np.ndarray
    total: float
    noise: float


def _check_stable(v_matrix: np.ndarray) -> None:
    """Raises unless the powers of `V` decay to zero in float64.

    Squaring tests `V^(2^j) -> 0`, which is what the Gramians need; it does
    not trust computed eigenvalues, which are unreliable for strongly
    non-normal matrices (a 100-long chain moves them by ~0.7).
    """
    power = v_matrix.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(_MAX_DOUBLINGS):
            power = power @ power
            if not np.all(np.isfinite(power)):
                break
            if np.linalg.norm(power) <= 1e-17:
                return
    radius = float(np.max(np.abs(np.linalg.eigvals(v_matrix))))
    raise ValueError(
        "Received an invalid value for argument `source`, expected a matrix "
        "whose powers decay (spectral radius < 1; the noise covariance C is "
        f"infinite otherwise), got spectral radius {radius:.6g}."
    )


def _r_factor(stacked: np.ndarray, n: int) -> np.ndarray:
    return scipy.linalg.qr(stacked, mode="r", check_finite=False)[0][:n]


def _square_root_sum(
    factor: np.ndarray, v_matrix: np.ndarray, transpose: bool
) -> np.ndarray:
    """Square-root Smith doubling for a sum over powers of `V`.

    Returns upper-triangular `R` with `R^T R = Σ_k A_k^T F^T F A_k`, where
    `A_k = (V^k)^T` (`transpose=True`) or `V^k`. Each doubling
    `Σ_{k<2m} = Σ_{k<m} + (V^m)^T Σ_{k<m} V^m` is one QR of a stacked
    factor, so the result stays accurate when the sum is ill-conditioned.
    """
    n = v_matrix.shape[0]
    power = v_matrix.copy()
    for _ in range(_MAX_DOUBLINGS):
        step = power.T if transpose else power
        factor = _r_factor(np.vstack([factor, factor @ step]), n)
        power = power @ power
        size = np.linalg.norm(power) * max(1.0, np.linalg.norm(factor))
        if size <= 1e-17:
            return factor
    raise ValueError(
        "Received an invalid value for argument `source`: the powers of the "
        "matrix do not decay fast enough in float64 for its Fisher memory "
        "to be computed."
    )


def _noise_factor(v_matrix: np.ndarray) -> np.ndarray:
    """Upper-triangular `R` with `R^T R = Σ_k V^k (V^k)^T = C / ε`."""
    n = v_matrix.shape[0]
    return _square_root_sum(np.eye(n), v_matrix, transpose=True)


def _powers_times(v_matrix: np.ndarray, v: np.ndarray, steps: int):
    """Columns `V^k v` for k = 0 .. steps - 1."""
    columns = np.empty((v.shape[0], steps))
    x = v.copy()
    for k in range(steps):
        columns[:, k] = x
        x = v_matrix @ x
    return columns


def fisher_memory(
    source: Any,
    v: Any = None,
    noise: float = 1.0,
    steps: int = 100,
    method: str = "sqrt",
) -> FisherMemory:
    """Fisher memory curve `J(k)`, k < steps, and exact total memory.

    `J(k) = (V^k v)^T C^{-1} (V^k v)`, `C = ε Σ_k V^k V^{kT}`,
    `J_tot = v^T M v` with `M = V^T M V + C^{-1}`.

    With `method="sqrt"` (default) both Gramians are built as Cholesky
    factors by square-root Smith doubling (one QR per doubling of the number
    of powers), which keeps digits when `C` is badly conditioned (strongly
    non-normal `V`: cond(C) ~ 1e20 for the supplement's `d = 0.2` chains,
    where inverting a `C` from `scipy.linalg.solve_discrete_lyapunov` loses
    the second significant digit). `method="lyapunov"` solves the two
    Lyapunov equations with SciPy (Bartels–Stewart) and inverts `C`.

    Args:
        source: the recurrent matrix `V` (column convention) or a cell,
            recurrent layer or model (see `recurrent_matrix`). Its spectral
            radius must be < 1.
        v: input vector of shape `(n,)`. Defaults to `e_1`.
        noise: the noise variance ε > 0. Defaults to 1.
        steps: number of curve points `k = 0 .. steps - 1`. Defaults to 100.
        method: "sqrt" or "lyapunov".

    Returns:
        A `FisherMemory` with `curve` (shape `(steps,)`) and `total`.

    Example:
        >>> import numpy as np
        >>> memory = fisher_memory(0.5 * np.eye(3), steps=4)
        >>> round(memory.total, 6)  # normal V: ||v||^2 / ε
        1.0
    """
    v_matrix = recurrent_matrix(source)
    n = v_matrix.shape[0]
    noise = positive_float(noise, "noise")
    steps = positive_int(steps, "steps")
    if method not in _METHODS:
        raise ValueError(
            "Received an invalid value for argument `method`, expected one "
            f"of {_METHODS}, got {method!r}."
        )
    if v is None:
        v = np.eye(n)[0]
    v = as_vector(v, n, "v")
    _check_stable(v_matrix)
    columns = _powers_times(v_matrix, v, steps)
    if method == "lyapunov":
        c = scipy.linalg.solve_discrete_lyapunov(v_matrix, noise * np.eye(n))
        c_inv = np.linalg.inv(c)
        c_inv = 0.5 * (c_inv + c_inv.T)
        m = scipy.linalg.solve_discrete_lyapunov(v_matrix.T, c_inv)
        curve = np.einsum("ik,ij,jk->k", columns, c_inv, columns)
        total = float(v @ m @ v)
    else:
        r = _noise_factor(v_matrix)
        whitened = scipy.linalg.solve_triangular(r, columns, trans="T")
        curve = np.sum(whitened**2, axis=0) / noise
        # Trace form v^T M v = tr(C^{-1} D), D = Σ_k V^k v v^T V^{kT}
        # = Z^T Z (its own Lyapunov equation D = V D V^T + v v^T), so
        # J_tot = ||R^{-T} Z^T||_F^2 / ε, with no explicit inverse.
        z = _square_root_sum(v[None, :], v_matrix, transpose=True)
        whitened = scipy.linalg.solve_triangular(r, z.T, trans="T")
        total = float(np.sum(whitened**2) / noise)
    return FisherMemory(curve=curve, total=total, noise=noise)


def fisher_memory_curve(
    source: Any,
    v: Any = None,
    noise: float = 1.0,
    steps: int = 100,
    method: str = "sqrt",
) -> np.ndarray:
    """Fisher memory curve `J(k) = (V^k v)^T C^{-1} (V^k v)`, k < steps.

    `C = ε Σ_{k≥0} V^k (V^k)^T`, the stationary noise covariance (exact).
    See `fisher_memory` for the method and arguments.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.
        v: input vector of shape `(n,)`. Defaults to `e_1`.
        noise: the noise variance ε > 0. Defaults to 1.
        steps: number of points. Defaults to 100.
        method: "sqrt" (default) or "lyapunov".

    Returns:
        NumPy array of shape `(steps,)`.

    Example:
        >>> import numpy as np
        >>> delay_line = np.eye(3, k=-1)  # shift down, α = 1
        >>> fisher_memory_curve(delay_line, steps=4).round(4)
        array([1.    , 0.5   , 0.3333, 0.    ])
    """
    return fisher_memory(source, v, noise, steps, method).curve


def total_fisher_memory(
    source: Any, v: Any = None, noise: float = 1.0, method: str = "sqrt"
) -> float:
    """Total Fisher memory `J_tot = Σ_{k≥0} J(k) = v^T M v`, exactly.

    `M = V^T M V + C^{-1}`, `C = V C V^T + ε I` (two Lyapunov equations).
    See `fisher_memory` for the method and arguments.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.
        v: input vector of shape `(n,)`. Defaults to `e_1`.
        noise: the noise variance ε > 0. Defaults to 1.
        method: "sqrt" (default) or "lyapunov".

    Returns:
        The total memory as a float.

    Example:
        >>> import numpy as np
        >>> round(total_fisher_memory(np.eye(3, k=-1)), 6)
        1.833333
    """
    return fisher_memory(source, v, noise, 1, method).total
