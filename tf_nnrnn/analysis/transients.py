"""Transient amplification of linear recurrent dynamics (Kerg et al. 2019).

A non-normal `V` can amplify `‖h_t‖` for a while even when all its
eigenvalues are inside the unit disk. The nnRNN paper shows this with
`Θ = d·I + α·(first sub-diagonal) + β·(everything below it)`: with `d = 0`
the matrix is nilpotent, `‖h_t‖` rises with α, its shape follows β, and it
falls to exactly zero at `t = n`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tf_nnrnn.analysis.matrix import positive_int, recurrent_matrix


def _finite(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"Received an invalid value for argument `{name}`, expected a "
            f"real number, got {value!r}."
        ) from None
    if not np.isfinite(number):
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected a "
            f"finite number, got {value!r}."
        )
    return number


def chain_matrix(
    n: int = 100, alpha: float = 1.0, beta: float = 0.0, diagonal: float = 0.0
) -> np.ndarray:
    """The nnRNN paper's feed-forward chain `Θ` (column convention).

    `Θ_ii = d`, `Θ_{i+1,i} = α`, `Θ_ij = β` for `i > j + 1`, 0 above the
    diagonal: `h_t = Θ h_{t-1}` passes activity down the chain of units.

    Args:
        n: number of units. Defaults to 100.
        alpha: weight on the first sub-diagonal. Defaults to 1.
        beta: weight on every entry below the first sub-diagonal.
            Defaults to 0.
        diagonal: `d`, weight on the diagonal (the eigenvalue). Defaults
            to 0 (nilpotent chain).

    Returns:
        The `(n, n)` float64 matrix `Θ`.

    Example:
        >>> chain_matrix(3, alpha=0.5, beta=0.1)
        array([[0. , 0. , 0. ],
               [0.5, 0. , 0. ],
               [0.1, 0.5, 0. ]])
    """
    n = positive_int(n, "n")
    alpha = _finite(alpha, "alpha")
    beta = _finite(beta, "beta")
    diagonal = _finite(diagonal, "diagonal")
    theta = beta * np.tril(np.ones((n, n)), k=-2)
    theta += alpha * np.eye(n, k=-1) + diagonal * np.eye(n)
    return theta


def transient_norms(
    source: Any, steps: int = 100, num_samples: int = 100, seed: int = 0
) -> np.ndarray:
    """`‖h_t‖` of `h_t = V h_{t-1}` from random unit initial conditions.

    `h_0 = g / ‖g‖`, `g ~ N(0, I)` (an impulse at t = 0), then
    `h_t = V^t h_0` for `t = 0 .. steps`. For a cell this is its linear part:
    the row-convention step `h @ W` has the same norms as `V h`, `V = W^T`.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.
        steps: number of steps after the impulse. Defaults to 100.
        num_samples: size of the ensemble of initial conditions.
            Defaults to 100.
        seed: seed of the initial conditions. Defaults to 0.

    Returns:
        Array of shape `(num_samples, steps + 1)`; column t holds `‖h_t‖`.

    Example:
        >>> norms = transient_norms(chain_matrix(10, alpha=1.5), steps=12)
        >>> bool(norms[:, 10:].max() == 0.0)  # nilpotent: zero at t = n
        True
    """
    v_matrix = recurrent_matrix(source)
    steps = positive_int(steps, "steps", minimum=0)
    num_samples = positive_int(num_samples, "num_samples")
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((v_matrix.shape[0], num_samples))
    h /= np.linalg.norm(h, axis=0, keepdims=True)
    norms = np.empty((num_samples, steps + 1))
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps + 1):
            norms[:, t] = np.linalg.norm(h, axis=0)
            h = v_matrix @ h
    return norms


def transient_summary(norms: Any) -> dict[str, np.ndarray | float | int]:
    """Mean, spread and peak of an ensemble of `‖h_t‖` curves.

    `mean_t = E‖h_t‖`, `std_t` its standard deviation over the ensemble, the
    peak `max_t mean_t` and the step where it occurs.

    Args:
        norms: array of shape `(num_samples, steps + 1)` from
            `transient_norms`.

    Returns:
        Dict with "mean", "std", "lower", "upper" (10th / 90th percentiles),
        "peak" and "peak_step".

    Example:
        >>> import numpy as np
        >>> transient_summary(np.ones((4, 3)))["peak"]
        1.0
    """
    norms = np.asarray(norms, dtype=np.float64)
    if norms.ndim != 2 or norms.shape[1] == 0:
        raise ValueError(
            "Received an invalid value for argument `norms`, expected an "
            f"array of shape (num_samples, steps + 1), got {norms.shape}."
        )
    mean = norms.mean(axis=0)
    return {
        "mean": mean,
        "std": norms.std(axis=0),
        "lower": np.percentile(norms, 10, axis=0),
        "upper": np.percentile(norms, 90, axis=0),
        "peak": float(mean.max()),
        "peak_step": int(np.argmax(mean)),
    }
