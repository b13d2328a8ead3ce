"""The recurrent matrix kept across forward passes that do not train.

A forward pass of our cells starts with the parametrization (an expm or a
Cayley solve, O(n³)). While training, the weights change every step and
`W` must be recomputed. At inference they do not: `model.predict`, a
validation pass, or a stateful PTB evaluation of thousands of segments
would redo the same O(n³) work on every call (74–164 ms per call at
n = 1024 on a 2-core CPU, 19–41% of SimpleRNN's whole inference step).

`MatrixCache` keeps the last `W` with a copy of the parameters it was
computed from; `cached_matrix` compares the current parameters with that
copy (O(n²)) and returns the stored `W` when they are equal, or computes and
stores a new one. The comparison is exact, so any change of the weights
(an optimizer step, `set_weights`, loading a file, a constraint) refreshes
it. Its gradient is exact too: the backward pass recomputes the
parametrization and differentiates it, so a `GradientTape` around a call
that did not say `training=True` still trains every weight (at the cost of
one more forward of the parametrization in that case).

The cache is a `tf.Module`: TensorFlow checkpoints and SavedModel exports
track its variables like any other resource, but they are not Keras weights
(`layer.weights`, `get_weights()` and `.keras` files are unchanged).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from tf_nnrnn._keras_private import keras_training_flag  # noqa: F401

__all__ = ["MatrixCache", "cached_matrix", "keras_training_flag"]


class MatrixCache(tf.Module):
    """The last recurrent matrix and the parameters it was computed from.

    Args:
        params: the parametrization's variables (their shapes and dtypes).
        matrix_shape: shape of `W`.
        dtype: dtype of `W` (the parameters' dtype).

    Example:
        `compute` receives the list of parameters; a second call with the
        same parameters reads the stored `W`, a changed one recomputes it:

        >>> v = tf.Variable(tf.eye(2))
        >>> cache = MatrixCache([v], (2, 2), tf.float32)
        >>> calls = []
        >>> def compute(params):
        ...     calls.append(1)
        ...     return 2.0 * params[0]
        >>> float(cached_matrix(cache, [v], compute)[0, 0])
        2.0
        >>> float(cached_matrix(cache, [v], compute)[0, 0]), len(calls)
        (2.0, 1)
        >>> _ = v.assign(3.0 * tf.eye(2))
        >>> float(cached_matrix(cache, [v], compute)[0, 0]), len(calls)
        (6.0, 2)
    """

    def __init__(self, params, matrix_shape, dtype, name="matrix_cache"):
        super().__init__(name=name)
        # Every replica computes the same W from the same weights; ON_READ
        # lets each one write its own copy inside a replica context.
        kwargs = {
            "trainable": False,
            "synchronization": tf.VariableSynchronization.ON_READ,
            "aggregation": tf.VariableAggregation.ONLY_FIRST_REPLICA,
        }
        self.matrix = tf.Variable(
            tf.zeros(matrix_shape, dtype), name="matrix", **kwargs
        )
        # NaN snapshots never compare equal: the first call computes W.
        self.snapshots = [
            tf.Variable(
                tf.fill(p.shape, tf.constant(float("nan"), p.dtype)),
                name=f"snapshot_{i}",
                **kwargs,
            )
            for i, p in enumerate(params)
        ]


def cached_matrix(
    cache: MatrixCache,
    params: Sequence,
    compute: Callable[[list], tf.Tensor],
) -> tf.Tensor:
    """`compute(params)`, read from `cache` while `params` are unchanged.

    Args:
        cache: the `MatrixCache` of the cell.
        params: the parametrization's variables or tensors, in the order
            of `cache.snapshots` and of `compute`'s argument.
        compute: the parametrization, `list of tensors -> W`.

    Returns:
        `W`, equal to `compute(params)`, with the gradient of `compute`.
    """
    tensors = [tf.convert_to_tensor(p) for p in params]

    @tf.custom_gradient
    def matrix(*params):
        params = list(params)
        unchanged = [
            tf.reduce_all(tf.equal(p, s))
            for p, s in zip(params, cache.snapshots)
        ]
        hit = tf.reduce_all(tf.stack(unchanged))

        def refresh():
            w = compute(params)
            writes = [cache.matrix.assign(w)]
            writes += [s.assign(p) for s, p in zip(cache.snapshots, params)]
            with tf.control_dependencies(writes):
                return tf.identity(w)

        w = tf.cond(hit, lambda: tf.identity(cache.matrix), refresh)

        def grad(upstream, variables=None):
            with tf.GradientTape() as tape:
                tape.watch(params)
                fresh = compute(params)
            grads = tape.gradient(fresh, params, output_gradients=upstream)
            return grads, [None] * len(variables or ())

        return w, grad

    return matrix(*tensors)
