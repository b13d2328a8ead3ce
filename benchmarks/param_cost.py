"""Cost of the degree-adaptive Padé expm against the fixed degree 7.

Times `expm(A)` and its gradient (of `sum(C ∘ expm(A))`) as `tf.function`s
at `‖A‖₁` = 0.01 (degree 3), 1 (degree 5; the default Cayley skew
initializer gives ‖A‖₁ ≈ 1 at n = 1024) and 5 (degree 7 with one
squaring either way), for two choices of the Padé degree, stepped
*interleaved* (one call of each per round) so that the load of other
processes falls on both alike:

- `adaptive`: `tf_nnrnn.parametrizations.expm` as shipped, degree 3, 5 or
  7 (float32) chosen from `‖A‖₁` (`expm_pade_choice`);
- `fixed7`: the same code with the degree pinned to 7 and `s` from `θ₇`,
  i.e. the algorithm before issue 16.

Prints medians and the ratio adaptive/fixed7 of each (norm, pass). Usage:

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


def make_functions(jit: bool):
    def forward(a):
        return par.expm(a)

    def gradient(a, c):
        with tf.GradientTape() as tape:
            tape.watch(a)
            y = tf.reduce_sum(c * par.expm(a))
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
        "--norms", type=float, nargs="+", default=[1e-2, 1.0, 5.0]
    )
    parser.add_argument("--jit", action="store_true")
    args = parser.parse_args(argv)
    n = args.units
    c = tf.constant(np.random.default_rng(1).normal(size=(n, n)), tf.float32)
    variants = {"adaptive": make_functions(args.jit)}
    variants["fixed7"] = make_functions(args.jit)
    cases = []
    for norm in args.norms:
        a = tf.constant(skew_with_norm(n, norm))
        index, s = par.expm_pade_choice(a)
        degree = par._pade_table(a.dtype)[int(index)][0]
        print(f"‖A‖₁ = {norm:g}: adaptive degree {degree}, s = {int(s)}")
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
    print(f"{'‖A‖₁':>6} {'pass':>9} {'adaptive':>10} {'fixed7':>10} ratio")
    for norm in args.norms:
        for kind in ("forward", "fwd+grad"):
            new = np.median(times[(norm, kind, "adaptive")])
            old = np.median(times[(norm, kind, "fixed7")])
            print(
                f"{norm:>6g} {kind:>9} {1e3 * new:>8.1f}ms "
                f"{1e3 * old:>8.1f}ms {new / old:.2f}"
            )


if __name__ == "__main__":
    main()
