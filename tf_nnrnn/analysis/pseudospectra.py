"""ε-pseudospectra: `Λ_ε(V) = {z ∈ C : σ_min(zI − V) < ε}`.

For a normal `V`, `σ_min(zI − V)` is the distance from `z` to the nearest
eigenvalue, so `Λ_ε` is the union of ε-discs around the spectrum; for a
non-normal `V` it can reach much further (Trefethen & Embree 2005), which is
how Sengupta & Friston (2018) show that trained recurrent matrices are far
from normal.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.linalg

from tf_nnrnn.analysis.matrix import (
    positive_float,
    positive_int,
    recurrent_matrix,
)

# Batched SVDs of (chunk, n, n) complex matrices: keep a chunk near 64 MiB.
_CHUNK_BYTES = 64 * 2**20


@dataclasses.dataclass(frozen=True)
class Pseudospectrum:
    """`σ_min(zI − V)` on a grid of the complex plane.

    Attributes:
        real: real parts of the grid, shape `(num_imag, num_real)`.
        imag: imaginary parts of the grid, same shape.
        sigma_min: `σ_min(zI − V)` at each grid point, same shape.
        eigenvalues: eigenvalues of `V`.
    """

    real: np.ndarray
    imag: np.ndarray
    sigma_min: np.ndarray
    eigenvalues: np.ndarray

    def area_fraction(self, epsilon: float) -> float:
        """Fraction of the grid inside the ε-pseudospectrum."""
        epsilon = positive_float(epsilon, "epsilon")
        return float(np.mean(self.sigma_min < epsilon))

    def radius(self, epsilon: float) -> float:
        """ε-pseudospectral radius `max{|z| : σ_min(zI − V) < ε}` on the grid.

        Only as wide as the grid: a value on the grid's edge means the set
        reaches beyond it. For a normal matrix it is `ρ(V) + ε`.
        """
        epsilon = positive_float(epsilon, "epsilon")
        inside = self.sigma_min < epsilon
        if not inside.any():
            return float("nan")
        return float(np.abs(self.real + 1j * self.imag)[inside].max())


def _bounds(eigenvalues: np.ndarray, margin: float) -> tuple[float, ...]:
    re, im = eigenvalues.real, eigenvalues.imag
    half = max(re.max() - re.min(), im.max() - im.min(), 1e-12) / 2
    pad = half * margin + margin
    center_re = (re.max() + re.min()) / 2
    center_im = (im.max() + im.min()) / 2
    return (
        center_re - half - pad,
        center_re + half + pad,
        center_im - half - pad,
        center_im + half + pad,
    )


def _svd_sigma_min(t: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Exact `σ_min(zI − T)` by batched SVDs (O(n³) per point)."""
    n = t.shape[0]
    out = np.empty(z.shape, dtype=np.float64)
    chunk = max(1, _CHUNK_BYTES // (16 * n * n))
    eye = np.eye(n)
    for start in range(0, z.size, chunk):
        shifted = z[start : start + chunk, None, None] * eye - t
        singular = np.linalg.svd(shifted, compute_uv=False)
        out[start : start + chunk] = singular[:, -1]
    return out


def _lanczos_sigma_min(
    t: np.ndarray, z: np.ndarray, tol: float, max_steps: int
) -> np.ndarray:
    """`σ_min(zI − T)` by inverse Lanczos on the triangular Schur factor.

    The largest eigenvalue of `(R^H R)^{-1}`, `R = zI − T`, is `σ_min^{-2}`;
    Lanczos finds it from products `R^{-1} R^{-H} q`: two triangular solves,
    done for all points at once (R's off-diagonal part, −T, is shared). The
    largest Ritz value converges without reorthogonalisation (Paige).
    Stops per point when the largest Ritz value θ changes by <= tol · θ.
    """
    n = t.shape[0]
    upper = -np.triu(t, k=1)
    out = np.zeros(z.shape, dtype=np.float64)
    diag_all = z[:, None] - np.diag(t)[None, :]
    singular = np.any(diag_all == 0, axis=1)
    index = np.flatnonzero(~singular)
    diag = diag_all[index]

    def solve(b, d, adjoint):
        # R x = b (back substitution) or R^H x = b (forward substitution).
        x = np.zeros_like(b)
        rows = range(n) if adjoint else range(n - 1, -1, -1)
        for i in rows:
            if adjoint:
                s = b[:, i] - x[:, :i] @ np.conj(upper[:i, i])
                x[:, i] = s / np.conj(d[:, i])
            else:
                s = b[:, i] - x[:, i + 1 :] @ upper[i, i + 1 :]
                x[:, i] = s / d[:, i]
        return x

    rng = np.random.default_rng(0)
    start = rng.standard_normal(n) + 1j * rng.standard_normal(n)
    q = np.tile(start / np.linalg.norm(start), (index.size, 1))
    q_prev = np.zeros_like(q)
    previous = np.zeros(index.size)
    alphas = np.zeros((index.size, max_steps))
    betas = np.zeros((index.size, max_steps))
    for j in range(max_steps):
        w = solve(solve(q, diag, adjoint=True), diag, adjoint=False)
        alpha = np.real(np.sum(np.conj(q) * w, axis=1))
        w -= alpha[:, None] * q
        if j:
            w -= betas[:, j - 1, None] * q_prev
        beta = np.linalg.norm(w, axis=1)
        alphas[:, j], betas[:, j] = alpha, beta
        if j >= 16 and j % 4 != 3 and j + 1 < max_steps:
            # Long runs: look at the Ritz values every 4th step only, since
            # the batched eigvalsh costs O(j³) per point.
            q_prev, q = q, w / np.maximum(beta, 1e-300)[:, None]
            continue
        tri = np.zeros((index.size, j + 1, j + 1))
        steps = np.arange(j + 1)
        tri[:, steps, steps] = alphas[:, : j + 1]
        tri[:, steps[1:], steps[:-1]] = betas[:, :j]
        tri[:, steps[:-1], steps[1:]] = betas[:, :j]
        theta = np.linalg.eigvalsh(tri)[:, -1]
        # Ritz values only grow; stop when the largest stops moving.
        done = (theta - previous <= tol * theta) | (beta <= tol * theta)
        if j + 1 == max_steps:
            done[:] = True
        out[index[done]] = 1.0 / np.sqrt(theta[done])
        keep = ~done
        if not keep.any():
            break
        index, diag = index[keep], diag[keep]
        alphas, betas = alphas[keep], betas[keep]
        previous = theta[keep]
        q_prev = q[keep]
        q = w[keep] / beta[keep, None]
    return out


def smallest_singular_values(
    source: Any, points: Any, method: str = "auto", tol: float = 1e-10
) -> np.ndarray:
    """`σ_min(zI − V)` for every complex `z` in `points`.

    Works on the complex Schur form `V = U T U^H` (`σ_min(zI − V) =
    σ_min(zI − T)`). "svd": batched singular values, exact, O(n³) per
    point. "lanczos": inverse Lanczos with triangular solves, O(n²) per
    step (Trefethen & Embree's method), vectorised over the points; it
    stops when the Ritz value moves by less than `tol` (relative), which
    leaves relative errors near 1e-6 in the slowest case (normal matrices,
    clustered singular values) at the default tol: ample for contours, use
    "svd" for exact values. "auto" uses "svd" for n <= 32.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.
        points: complex array of any shape.
        method: "auto" (default), "svd" or "lanczos".
        tol: relative tolerance of "lanczos". Defaults to 1e-10.

    Returns:
        Float array of the same shape as `points`.

    Example:
        >>> import numpy as np
        >>> smallest_singular_values(np.diag([0.0, 1.0]), [0.25, 2j]).round(4)
        array([0.25, 2.  ])
    """
    v_matrix = recurrent_matrix(source)
    z = np.asarray(points, dtype=np.complex128)
    if not np.all(np.isfinite(z)):
        raise ValueError(
            "Received an invalid value for argument `points`, expected "
            "finite complex numbers, got NaN or inf."
        )
    if method not in ("auto", "svd", "lanczos"):
        raise ValueError(
            "Received an invalid value for argument `method`, expected "
            f"'auto', 'svd' or 'lanczos', got {method!r}."
        )
    tol = positive_float(tol, "tol")
    t, _ = scipy.linalg.schur(v_matrix.astype(np.complex128), output="complex")
    n = t.shape[0]
    if method == "auto":
        method = "svd" if n <= 32 else "lanczos"
    flat = z.ravel()
    if method == "svd":
        out = _svd_sigma_min(t, flat)
    else:
        out = np.empty(flat.shape, dtype=np.float64)
        chunk = max(1, _CHUNK_BYTES // (16 * n * 8))
        for begin in range(0, flat.size, chunk):
            out[begin : begin + chunk] = _lanczos_sigma_min(
                t, flat[begin : begin + chunk], tol, max_steps=n
            )
    return out.reshape(z.shape)


def pseudospectrum(
    source: Any,
    num_points: int = 100,
    extent: tuple[float, float, float, float] | None = None,
    margin: float = 0.25,
    method: str = "auto",
) -> Pseudospectrum:
    """`σ_min(zI − V)` on a grid around the spectrum.

    `Λ_ε(V) = {z : σ_min(zI − V) < ε}`; contour the result at several ε.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.
        num_points: grid points per axis. Defaults to 100.
        extent: `(re_min, re_max, im_min, im_max)`. Defaults to the
            eigenvalues' bounding square widened by `margin`.
        margin: relative (and absolute) padding of the default extent.
            Defaults to 0.25.
        method: "auto", "svd" or "lanczos" (see
            `smallest_singular_values`).

    Returns:
        A `Pseudospectrum`.

    Example:
        >>> import numpy as np
        >>> grid = pseudospectrum(np.diag([0.5, -0.5]), num_points=11)
        >>> grid.sigma_min.shape
        (11, 11)
    """
    v_matrix = recurrent_matrix(source)
    num_points = positive_int(num_points, "num_points", minimum=2)
    eigenvalues = np.linalg.eigvals(v_matrix)
    if extent is None:
        margin = positive_float(margin, "margin")
        extent = _bounds(eigenvalues, margin)
    else:
        extent = tuple(float(e) for e in extent)
        if (
            len(extent) != 4
            or not np.all(np.isfinite(extent))
            or not (extent[0] < extent[1] and extent[2] < extent[3])
        ):
            raise ValueError(
                "Received an invalid value for argument `extent`, expected "
                "finite (re_min, re_max, im_min, im_max) with min < max, "
                f"got {extent}."
            )
    real, imag = np.meshgrid(
        np.linspace(extent[0], extent[1], num_points),
        np.linspace(extent[2], extent[3], num_points),
    )
    sigma = smallest_singular_values(v_matrix, real + 1j * imag, method)
    return Pseudospectrum(
        real=real, imag=imag, sigma_min=sigma, eigenvalues=eigenvalues
    )


def check_epsilons(epsilons: Any) -> list[float]:
    """Validates a sequence of pseudospectral levels ε > 0 (sorted).

    Args:
        epsilons: a number or a sequence of positive numbers.

    Returns:
        The levels as a sorted list of floats.

    Example:
        >>> check_epsilons([0.1, 0.01])
        [0.01, 0.1]
    """
    values = np.atleast_1d(np.asarray(epsilons, dtype=object))
    if values.size == 0:
        raise ValueError(
            "Received an invalid value for argument `epsilons`, expected "
            "at least one positive number, got an empty sequence."
        )
    return sorted(positive_float(e, "epsilons") for e in values)
