"""Cost of the expm choices: Taylor, degree-adaptive Padé, fixed Padé 7.

Times `expm(A)` and its gradient (of `sum(C ∘ expm(A))`) as `tf.function`s
at several `‖A‖₁` (default 0.01, 1, 4 and 10: the degrees of both
families, and squarings), stepped *interleaved* (one call of each per
round) so that the load of other processes falls on all alike:

- `taylor`: `tf_nnrnn.parametrizations.expm(..., gradient="taylor")`, the
  optimized Taylor polynomials of degree 4/8/12/18 (2–5 products, no
  solve; `tf_nnrnn.expm_taylor`);
- `pade`: `expm(..., gradient="pade")`, Padé degree 3, 5 or 7 (float32)
  chosen from `‖A‖₁` (`expm_pade_choice`; products and one LU solve);
- `fixed7`: the same Padé code pinned to degree 7 with `s` from `θ₇`,
  the algorithm before issue 16.

Prints the degrees chosen, medians, and the ratios taylor/pade and
pade/fixed7 of each (norm, pass). Usage:

    python benchmarks/param_cost.py              # n = 1024, float32
    python benchmarks/param_cost.py --units 256 --rounds 5 --jit
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_nnrnn import parametrizations as par  # noqa: E402
from tf_nnrnn.expm_taylor import _table, taylor_choice  # noqa: E402


@contextlib.contextmanager
def fixed_degree7():
    """Pin the Padé degree to the top single-precision one (7)."""
    adaptive = par.expm_pade_choice

    def choice(a):
        _, s = adaptive(a)  # s already follows θ₇ past it, 0 below
        return tf.constant(len(par._pade_table(a.dtype)) - 1), s

    par.expm_pade_choice = choice
    try:
        yield
    finally:
        par.expm_pade_choice = adaptive


def skew_with_norm(n, norm, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, n))
    a = x - x.T
    return (a * (norm / np.abs(a).sum(axis=0).max())).astype(np.float32)


def make_functions(jit: bool, method: str):
    def forward(a):
        return par.expm(a, gradient=method)

    def gradient(a, c):
        with tf.GradientTape() as tape:
            tape.watch(a)
            y = tf.reduce_sum(c * par.expm(a, gradient=method))
        return tape.gradient(y, a)

    return {
        "forward": tf.function(forward, jit_compile=jit),
        "fwd+grad": tf.function(gradient, jit_compile=jit),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--norms", type=float, nargs="+", default=[1e-2, 1.0, 4.0, 10.0]
    )
    parser.add_argument("--jit", action="store_true")
    args = parser.parse_args(argv)
    n = args.units
    c = tf.constant(np.random.default_rng(1).normal(size=(n, n)), tf.float32)
    names = ("taylor", "pade", "fixed7")
    variants = {
        name: make_functions(args.jit, "pade" if name == "fixed7" else name)
        for name in names
    }
    cases = []
    for norm in args.norms:
        a = tf.constant(skew_with_norm(n, norm))
        index, s = par.expm_pade_choice(a)
        degree = par._pade_table(a.dtype)[int(index)][0]
        t_index, t_s = taylor_choice(a)
        t_degree = _table(a.dtype)[int(t_index)][0]
        print(
            f"‖A‖₁ = {norm:g}: adaptive degree {degree}, s = {int(s)}; "
            f"taylor degree {t_degree}, s = {int(t_s)}"
        )
        for name, fns in variants.items():
            pin = fixed_degree7 if name == "fixed7" else contextlib.nullcontext
            for kind, fn in fns.items():
                call = (
                    (lambda fn=fn, a=a: fn(a))
                    if kind == "forward"
                    else (lambda fn=fn, a=a: fn(a, c))
                )
                with pin():  # trace (and warm up) under the pin
                    call().numpy()
                    call().numpy()
                cases.append((norm, kind, name, call))
    times = {(norm, kind, name): [] for norm, kind, name, _ in cases}
    for _ in range(args.rounds):
        for norm, kind, name, call in cases:
            start = time.perf_counter()
            call().numpy()
            times[(norm, kind, name)].append(time.perf_counter() - start)
    print(f"n = {n}, float32, jit_compile={args.jit}, {args.rounds} rounds")
    print(
        f"{'‖A‖₁':>6} {'pass':>9} {'taylor':>10} {'pade':>10} {'fixed7':>10}"
        " taylor/pade pade/fixed7"
    )
    for norm in args.norms:
        for kind in ("forward", "fwd+grad"):
            ms = [np.median(times[(norm, kind, name)]) for name in names]
            print(
                f"{norm:>6g} {kind:>9} "
                + " ".join(f"{1e3 * t:>8.1f}ms" for t in ms)
                + f" {ms[0] / ms[1]:.2f} {ms[1] / ms[2]:.2f}"
            )


if __name__ == "__main__":
    main()
