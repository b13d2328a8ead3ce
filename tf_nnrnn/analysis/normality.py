"""Non-normality of recurrent matrices: Schur form and Henrici departure.

Every real `V` has a real Schur form `V = Q S Q^T`, `Q` orthogonal, `S`
quasi upper triangular: 1×1 blocks (real eigenvalues) and 2×2 blocks
(complex pairs) on the diagonal. `V` is normal exactly when `S` is block
diagonal; the part of `S` above its diagonal blocks is a set of feed-forward
connections between Schur modes: the "hidden chains" that Kerg et al. (2019)
find in trained networks.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.linalg

from tf_nnrnn.analysis.matrix import recurrent_matrix


@dataclasses.dataclass(frozen=True)
class NonNormality:
    """Measures of how far a matrix is from normal.

    Attributes:
        eigenvalues: complex eigenvalues, largest modulus first.
        schur: the real Schur form `S` (quasi upper triangular).
        schur_vectors: the orthogonal `Q` with `V = Q S Q^T`.
        henrici: Henrici's departure `sqrt(‖V‖_F² − Σ|λ_i|²)`.
        relative_henrici: `henrici / ‖V‖_F` (0 when V = 0).
        triangular_share: `‖S_off‖_F / ‖S‖_F`, the share of the Schur form
            outside its 1×1 / 2×2 diagonal blocks (0 when V = 0).
        frobenius_norm: `‖V‖_F`.
        spectral_radius: `max |λ_i|`.
    """

    eigenvalues: np.ndarray
    schur: np.ndarray
    schur_vectors: np.ndarray
    henrici: float
    relative_henrici: float
    triangular_share: float
    frobenius_norm: float
    spectral_radius: float

    def as_dict(self) -> dict[str, float]:
        """The scalar measures, for tables."""
        return {
            "henrici": self.henrici,
            "relative_henrici": self.relative_henrici,
            "triangular_share": self.triangular_share,
            "frobenius_norm": self.frobenius_norm,
            "spectral_radius": self.spectral_radius,
        }


def schur_form(source: Any) -> tuple[np.ndarray, np.ndarray]:
    """Real Schur form `V = Q S Q^T`.

    `S` is quasi upper triangular with 1×1 and 2×2 diagonal blocks, `Q`
    orthogonal (`scipy.linalg.schur(output="real")`).

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.

    Returns:
        `(S, Q)`, both `(n, n)` float64.

    Example:
        >>> import numpy as np
        >>> s, q = schur_form(np.array([[0.0, -1.0], [1.0, 0.0]]))
        >>> bool(np.allclose(q @ s @ q.T, [[0, -1], [1, 0]]))
        True
    """
    v_matrix = recurrent_matrix(source)
    s, q = scipy.linalg.schur(v_matrix, output="real")
    return s, q


def block_diagonal_mask(schur: Any) -> np.ndarray:
    """Boolean mask of the 1×1 and 2×2 diagonal blocks of a real Schur form.

    A 2×2 block starts at `i` where `S[i + 1, i] != 0`.

    Args:
        schur: a quasi upper triangular matrix `S` from `schur_form`.

    Returns:
        Boolean `(n, n)` array, True inside the diagonal blocks.

    Example:
        >>> import numpy as np
        >>> block_diagonal_mask(np.array([[1.0, 2.0], [-3.0, 1.0]])).all()
        np.True_
    """
    s = np.asarray(schur, dtype=np.float64)
    n = s.shape[0]
    mask = np.eye(n, dtype=bool)
    for i in range(n - 1):
        if s[i + 1, i] != 0.0:
            mask[i : i + 2, i : i + 2] = True
    return mask


def henrici_departure(source: Any) -> float:
    """Henrici's departure from normality `sqrt(‖V‖_F² − Σ_i |λ_i|²)`.

    Computed as `‖N‖_F` of the complex Schur form `V = U (D + N) U^H`
    (`N` strictly upper triangular), which equals the formula without its
    cancellation: it is 0 (to rounding) exactly for normal `V`.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.

    Returns:
        The departure as a float >= 0.

    Example:
        >>> import numpy as np
        >>> henrici_departure(np.array([[0.5, 2.0], [0.0, 0.5]]))
        2.0
    """
    v_matrix = recurrent_matrix(source)
    t, _ = scipy.linalg.schur(v_matrix.astype(np.complex128), output="complex")
    return float(np.linalg.norm(np.triu(t, k=1)))


def non_normality(source: Any) -> NonNormality:
    """Schur form, eigenvalues, Henrici departure and triangular share.

    `V = Q S Q^T`; `henrici = sqrt(‖V‖_F² − Σ|λ_i|²)`;
    `triangular_share = ‖S_off‖_F / ‖S‖_F` with `S_off` the part of `S`
    outside its diagonal blocks.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.

    Returns:
        A `NonNormality` record.

    Example:
        >>> import numpy as np
        >>> record = non_normality(np.array([[0.5, 1.0], [0.0, 0.5]]))
        >>> round(record.henrici, 6), round(record.triangular_share, 4)
        (1.0, 0.8165)
    """
    v_matrix = recurrent_matrix(source)
    s, q = scipy.linalg.schur(v_matrix, output="real")
    eigenvalues = np.linalg.eigvals(s)
    eigenvalues = eigenvalues[np.argsort(-np.abs(eigenvalues), kind="stable")]
    frobenius = float(np.linalg.norm(v_matrix))
    off_blocks = float(np.linalg.norm(np.where(block_diagonal_mask(s), 0, s)))
    s_norm = float(np.linalg.norm(s))
    henrici = henrici_departure(v_matrix)
    return NonNormality(
        eigenvalues=eigenvalues,
        schur=s,
        schur_vectors=q,
        henrici=henrici,
        relative_henrici=henrici / frobenius if frobenius else 0.0,
        triangular_share=off_blocks / s_norm if s_norm else 0.0,
        frobenius_norm=frobenius,
        spectral_radius=float(np.max(np.abs(eigenvalues))),
    )
