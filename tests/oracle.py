"""Independent NumPy/SciPy reference of the recurrent cells.

Written from the papers' equations, in the papers' COLUMN convention
(`h_t = σ(V h_{t-1} + U x_t + b)`), with `scipy.linalg.expm` and
`numpy.linalg.solve`. Nothing here imports `tf_nnrnn`, TensorFlow or Keras,
and nothing is shared with the package's code: the skew map, the nnRNN
masks, the rotation blocks, scoRNN's `D`, modReLU and the time loop
(masking and `go_backwards` included) are re-derived from their
definitions (`shared/design/math.md`; Lezcano-Casado & Martínez-Rubio 2019,
Helfrich, Willmott & Ye 2018, Kerg et al. 2019). The tests
(`tests/test_oracles.py`) compare the package, in Keras' row convention
(`W = Vᵀ`, `kernel = Uᵀ`), against these functions.

Shapes: a matrix `V` is `(n, n)`, `U` is `(n, features)`; `step` works on
column-stacked batches (`x` `(features, batch)`, `h` `(n, batch)`);
`sequence` takes Keras-shaped `(batch, time, features)` inputs.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

__all__ = [
    "skew",
    "exprnn_V",
    "scornn_d",
    "scornn_V",
    "rotation",
    "rotation_blocks",
    "nnrnn_mask",
    "nnrnn_V",
    "modrelu",
    "step",
    "sequence",
]


def skew(x):
    """`triu(X, 1) − triu(X, 1)ᵀ`: only the strict upper triangle counts."""
    upper = np.triu(np.asarray(x, dtype=np.float64), 1)
    return upper - upper.T


def exprnn_V(x):
    """expRNN: `V = expm(skew(X))` (Lezcano-Casado & Martínez-Rubio 2019)."""
    return scipy.linalg.expm(skew(x))


def scornn_d(n, rho):
    """scoRNN's diagonal of `D`: `n − ρ` ones followed by `ρ` minus ones."""
    return np.array([1.0] * (n - rho) + [-1.0] * rho)


def scornn_V(x, d):
    """scoRNN: `V = (I + A)⁻¹ (I − A) D`, `A = skew(X)`, `D = diag(d)`.

    (Helfrich, Willmott & Ye 2018.)
    """
    a = skew(x)
    eye = np.eye(a.shape[0])
    return np.linalg.solve(eye + a, eye - a) @ np.diag(np.asarray(d, float))


def rotation(angle):
    """`R(θ) = [[cos θ, −sin θ], [sin θ, cos θ]]`."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def rotation_blocks(theta, gamma):
    """`Λ = blockdiag(γ_i R(θ_i))`, eigenvalues `γ_i e^{±iθ_i}`."""
    blocks = [g * rotation(t) for t, g in zip(theta, gamma)]
    return scipy.linalg.block_diag(*blocks)


def nnrnn_mask(n, kind):
    """The 0/1 mask of nnRNN's `T` (column convention), built entry by entry.

    `"strict"`: strictly lower triangular (the reference code's mask);
    `"block"`: strictly lower triangular and zero inside each 2×2 diagonal
    block of `Λ`, i.e. also zero at `(2i+1, 2i)` (a real Schur form).
    """
    if kind not in ("strict", "block"):
        raise ValueError(kind)
    mask = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            lower = i > j
            same_block = i // 2 == j // 2
            if lower and not (kind == "block" and same_block):
                mask[i, j] = 1.0
    return mask


def nnrnn_V(x, theta, gamma, t, mask):
    """nnRNN: `V = P (Λ + T∘M) Pᵀ`, `P = expm(skew(X))` (Kerg et al. 2019).

    `mask` is the 0/1 matrix `M` (see `nnrnn_mask`) or its name.
    """
    t = np.asarray(t, dtype=np.float64)
    if isinstance(mask, str):
        mask = nnrnn_mask(t.shape[0], mask)
    p = scipy.linalg.expm(skew(x))
    theta_mat = rotation_blocks(theta, gamma) + t * mask
    return p @ theta_mat @ p.T


def modrelu(z, b):
    """Real modReLU `sign(z) · relu(|z| + b)`; `b` per unit (rows of `z`)."""
    return np.sign(z) * np.maximum(np.abs(z) + b, 0.0)


def _activate(z, b_mod, activation):
    if activation == "modrelu":
        return modrelu(z, np.asarray(b_mod, float)[:, None])
    if activation == "tanh":
        return np.tanh(z)
    raise ValueError(activation)


def step(V, U, b_in, b_mod, x, h, activation="modrelu"):
    """One step `h' = σ(V h + U x + b_in)`, column-stacked batch.

    Args:
        V: `(n, n)`; U: `(n, features)`; b_in: `(n,)` or None;
        b_mod: modReLU bias `(n,)` (unused for tanh).
        x: `(features, batch)`; h: `(n, batch)`.
        activation: `"modrelu"` or `"tanh"`.
    """
    z = V @ h + U @ x
    if b_in is not None:
        z = z + np.asarray(b_in, float)[:, None]
    return _activate(z, b_mod, activation)


def sequence(
    V,
    U,
    b_in,
    b_mod,
    xs,
    h0=None,
    mask=None,
    go_backwards=False,
    activation="modrelu",
):
    """Run `step` over a sequence, with Keras' masking and `go_backwards`.

    Args:
        xs: `(batch, time, features)`.
        h0: initial state `(batch, n)`, default zeros.
        mask: optional boolean `(batch, time)`; on a masked step the state
            is kept and the output is the previous output (zeros before
            the first unmasked step), as `keras.layers.RNN` does.
        go_backwards: process the time steps in reverse; the outputs are
            then listed in processing order (Keras' convention).

    Returns:
        `(outputs, state)`: `(batch, time, n)` and `(batch, n)`.
    """
    xs = np.asarray(xs, dtype=np.float64)
    batch, steps, _ = xs.shape
    n = V.shape[0]
    h = np.zeros((n, batch)) if h0 is None else np.asarray(h0, float).T
    out = np.zeros((n, batch))
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    outputs = []
    for t in order:
        new = step(V, U, b_in, b_mod, xs[:, t, :].T, h, activation)
        if mask is None:
            h, out = new, new
        else:
            keep = np.asarray(mask, bool)[:, t][None, :]
            h = np.where(keep, new, h)
            out = np.where(keep, new, out)
        outputs.append(out.T)
    return np.stack(outputs, axis=1), h.T
