"""FLOPs of a benchmark step, and the machine's measured matmul peak.

Counted from the algorithms, not measured: matrix products (`2mkn` each)
and the LU/triangular solves of the parametrizations; elementwise work
(activations, additions, the optimizer update) is left out, so the
achieved rate `FLOPs / time` is a lower bound of what the matrix units did
and the gap to the peak is everything else (elementwise work, copies, the
loop's own overhead; `benchmarks/profile_step.py` breaks that down).

`python benchmarks/flops.py` prints the measured rates of the products
behind the tables: the peak (4096³) and each setting's per-step
`(B, n) @ (n, n)`.

Loop of one training step (`B` batch, `T` steps, `F` inputs, `n` units,
`C` classes, `T'` = T with a loss on every step, else 1):

- forward: `2BT(Fn + n²)` (input projection, recurrent product) and the
  dense head `2BT'nC`;
- backward: `2BTn²` (`dh Wᵀ` per step) + `2BTn²` (`dW`) + `2BTFn`
  (`dkernel`) + twice the head's; no `dX`, which the model's input does not
  need (the fused layers compute it anyway: counted as work not done by
  SimpleRNN, so they are not credited with it);
- LSTM: four gates, four times the loop's products.

Parametrization (`n × n`, one product = `2n³`; an LU = `2n³/3`, two
triangular solves with `n` right-hand sides = `2n³`):

- Taylor expm, degree `m` (4/8/12/18) and `s` squarings: forward `p + s`
  products (`p` = 2/3/4/5), gradient `2p + 2s + max(s - 1, 0)`;
- Padé expm, degree 3/5/7: forward `q + s` products + one solve (`q` =
  2/3/4), gradient `d + 3s` products + one solve (`d` = 5/7/9, Al-Mohy &
  Higham's count with the product `(L_U − L_V) R₀`);
- nnRNN adds `P (Λ + T) Pᵀ`: 2 products forward, 4 backward; the dynamic
  trivialization the product with the base: 1 forward, 1 backward;
- Cayley (scoRNN): one solve forward; the gradient one more solve and one
  product.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from tf_nnrnn import parametrizations as par
from tf_nnrnn.expm_taylor import _table as taylor_table
from tf_nnrnn.expm_taylor import taylor_choice

TAYLOR_PRODUCTS = {4: 2, 8: 3, 12: 4, 18: 5}
PADE_PRODUCTS = {3: (2, 5), 5: (3, 7), 7: (4, 9)}


def loop_flops(setting, layer: str) -> dict | None:
    """`{"train": ..., "infer": ...}` FLOPs of the row `layer`, without the
    parametrization; None where not counted (NRU)."""
    if "NRU" in layer:
        return None
    s = setting
    gates = 4 if layer == "LSTM" else 1
    t_out = s.steps if s.sequence_output else 1
    bt = s.batch * s.steps
    fwd = gates * 2 * bt * (s.features * s.units + s.units**2)
    head = 2 * s.batch * t_out * s.units * s.classes
    bwd = gates * (4 * bt * s.units**2 + 2 * bt * s.features * s.units)
    return {"train": fwd + head + bwd + 2 * head, "infer": fwd + head}


def _solve(n):
    return 2 * n**3 / 3 + 2 * n**3


def _expm_flops(a, method: str) -> tuple[float, float]:
    n = int(a.shape[-1])
    product = 2.0 * n**3
    if method == "taylor":
        index, s = (int(v) for v in taylor_choice(a))
        p = TAYLOR_PRODUCTS[taylor_table(a.dtype)[index][0]]
        fwd = (p + s) * product
        grad = (2 * p + 2 * s + max(s - 1, 0)) * product
        return fwd, fwd + grad
    if method == "pade":
        index, s = (int(v) for v in par.expm_pade_choice(a))
        q, d = PADE_PRODUCTS[par._pade_table(a.dtype)[index][0]]
        fwd = (q + s) * product + _solve(n)
        grad = (d + 3 * s) * product + _solve(n)
        return fwd, fwd + grad
    raise ValueError(f"no FLOP count for expm method {method!r}")


def parametrization_flops(cell) -> tuple[float, float] | None:
    """`(forward, forward + gradient)` FLOPs of `cell.recurrent_matrix()`
    at its current weights (the expm's degree depends on ‖A‖₁)."""
    name = type(cell).__name__
    n = cell.units
    product = 2.0 * n**3
    if name == "ScoRNNCell":
        return _solve(n), 2 * _solve(n) + product
    if name in ("ExpRNNCell", "NNRNNCell"):
        a = par.skew(cell.skew_kernel)
        fwd, both = _expm_flops(a, cell.expm_gradient)
        if getattr(cell, "dynamic", False):  # P = B·expm(...): B fixed
            fwd, both = fwd + product, both + 2 * product
        if name == "NNRNNCell":
            fwd, both = fwd + 2 * product, both + 6 * product
        return fwd, both
    return None


def matmul_peak(n: int = 4096, repeats: int = 5) -> float:
    """Measured FLOP/s of one large float32 `tf.linalg.matmul` (median)."""
    return matmul_rate(n, n, n, repeats)


def matmul_rate(m: int, k: int, n: int, repeats: int = 7) -> float:
    """Measured FLOP/s of a float32 `(m, k) @ (k, n)` product (median)."""
    a = tf.random.stateless_normal((m, k), (1, 2))
    b = tf.random.stateless_normal((k, n), (3, 4))
    fn = tf.function(lambda: tf.linalg.matmul(a, b))
    fn().numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn().numpy()
        times.append(time.perf_counter() - start)
    return 2.0 * m * k * n / float(np.median(times))


def main():
    """Print the matmul rates behind the tables: the large product of the
    peak, and each setting's per-step product `(B, n) @ (n, n)`."""
    import common

    peak = matmul_rate(4096, 4096, 4096)
    print(f"peak, 4096 x 4096 x 4096: {peak / 1e9:.0f} GFLOP/s")
    for name, s in common.SETTINGS.items():
        if name == "quick":
            continue
        rate = matmul_rate(s.batch, s.units, s.units, repeats=51)
        print(f"{name}: per-step product ({s.batch}, {s.units}) @ "
              f"({s.units}, {s.units}): {rate / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
