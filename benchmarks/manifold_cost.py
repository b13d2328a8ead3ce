"""Cost per update of keeping a weight orthogonal, four ways.

For an `n × n` float32 weight, times as `tf.function`s (XLA with `--jit`),
stepped *interleaved* (one call of each per round, so that the load of
other processes falls on all alike):

- `polar`: the `Orthogonal()` constraint, polar retraction (SVD), as Keras
  applies it after an optimizer step;
- `qr`: the same with `retraction="qr"` (sign-fixed QR);
- `riemannian`: one `RiemannianOptimizer(RMSprop)` step (the inner
  RMSprop step + the float64 Cayley retraction, one `n × n` solve);
- `riemannian32`: the same with `retraction_dtype="float32"`;
- `sgd`: one plain RMSprop step, the floor the others add to;
- `expm`, `cayley`: the parametrizations of expRNN and scoRNN, forward
  and gradient of `sum(C ∘ W(A))` (what a training step pays for `W`),
  at `‖skew(A)‖₁ = --norm` (the expm's cost grows with the norm).

Prints the median milliseconds per call. Usage:

    python benchmarks/manifold_cost.py                    # n = 128 512 1024
    python benchmarks/manifold_cost.py --units 128 --rounds 3 --jit
    python benchmarks/manifold_cost.py --norm 100   # expm far from 0
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf_nnrnn.manifolds import Orthogonal, polar_retraction  # noqa: E402
from tf_nnrnn.parametrizations import cayley, expm, skew  # noqa: E402
from tf_nnrnn.riemannian import RiemannianOptimizer  # noqa: E402

#: The contenders, in the order they are built and printed.
NAMES = ("sgd", "polar", "qr", "riemannian", "riemannian32", "expm", "cayley")


def contenders(
    n: int, jit: bool, norm: float = 1.0, only: tuple | None = None
) -> dict:
    """name → a no-argument callable doing one update (or W and dW).

    `norm` is `‖skew(A)‖₁` of the expm/Cayley argument: the expm's Padé
    degree and number of squarings grow with it."""
    rng = np.random.default_rng(0)
    w0 = polar_retraction(tf.constant(rng.normal(size=(n, n)), tf.float32))
    grad = tf.constant(0.01 * rng.normal(size=(n, n)), tf.float32)
    c = tf.constant(rng.normal(size=(n, n)), tf.float32)
    x = rng.normal(size=(n, n)).astype("float32")
    x *= norm / float(tf.reduce_max(tf.reduce_sum(tf.abs(skew(x)), 0)))
    a = tf.Variable(x)
    fns = {}

    def constraint(retraction):
        v = keras.Variable(w0)
        v.constraint = Orthogonal(retraction=retraction)
        opt = keras.optimizers.RMSprop(1e-3)
        opt.build([v])
        return lambda: opt.apply([grad], [v])

    def riemannian(dtype):
        v = keras.Variable(w0)
        opt = RiemannianOptimizer(
            keras.optimizers.RMSprop(1e-3), retraction_dtype=dtype
        )
        opt.build([v])
        return lambda: opt.apply([grad], [v])

    def plain():
        v = keras.Variable(w0)
        opt = keras.optimizers.RMSprop(1e-3)
        opt.build([v])
        return lambda: opt.apply([grad], [v])

    def parametrization(fn):
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(c * fn(skew(a)))
            return tape.gradient(loss, a)

        return step

    fns["sgd"] = plain()
    fns["polar"] = constraint("polar")
    fns["qr"] = constraint("qr")
    fns["riemannian"] = riemannian("float64")
    fns["riemannian32"] = riemannian("float32")
    fns["expm"] = parametrization(expm)
    fns["cayley"] = parametrization(cayley)
    assert tuple(fns) == NAMES, tuple(fns)
    return {
        k: tf.function(f, jit_compile=jit)
        for k, f in fns.items()
        if only is None or k in only
    }


def measure(
    n: int,
    jit: bool,
    rounds: int,
    warmup: int,
    norm: float = 1.0,
    only: tuple | None = None,
) -> dict:
    fns = contenders(n, jit, norm, only)
    for f in fns.values():
        for _ in range(warmup):
            f()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            start = time.perf_counter()
            out = f()
            if out is not None:
                out.numpy()  # wait for the result
            times[k].append(1e3 * (time.perf_counter() - start))
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+",
                        default=[128, 512, 1024])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--jit", action="store_true")
    parser.add_argument(
        "--norm", type=float, default=1.0,
        help="‖skew(A)‖₁ of the expm/Cayley argument (1: the default "
        "initializers' order at n = 1024)")
    parser.add_argument(
        "--only", default=None,
        help="comma-separated contenders to time (default: all)")
    args = parser.parse_args(argv)
    only = tuple(args.only.split(",")) if args.only else None
    if only is not None:
        unknown = sorted(set(only) - set(NAMES))
        if unknown:
            parser.error(f"argument --only: unknown {', '.join(unknown)}; "
                         f"choose from {', '.join(NAMES)}")
    print(f"float32, jit_compile={args.jit}, {args.rounds} rounds, "
          f"‖skew(A)‖₁ = {args.norm:g}")
    names = None
    for n in args.units:
        result = measure(
            n, args.jit, args.rounds, args.warmup, args.norm, only
        )
        if names is None:
            names = list(result)
            print("n     " + "".join(f"{k:>14}" for k in names) + "   (ms)")
        print(f"{n:<6}" + "".join(f"{result[k]:14.2f}" for k in names),
              flush=True)


if __name__ == "__main__":
    main()
