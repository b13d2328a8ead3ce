"""A Riemannian optimizer for Keras 3: Cayley retraction on the Stiefel
manifold around any Keras optimizer.

The rule is Wisdom et al.'s (2016, after Wen & Yin 2013, Tagare 2011), the
one of the nnRNN authors' `geo_SGD`: for a weight `W` with orthonormal
columns and a step `D` (for SGD, `D = η G`, `G = ∂L/∂W`),

    A = D Wᵀ − W Dᵀ                      (skew, the Riemannian step)
    W ← (I + A/2)⁻¹ (I − A/2) W           (the Cayley transform of −A)

`(I + A/2)⁻¹(I − A/2)` is orthogonal for every skew `A`, so `W` stays on
the manifold with no projection step; for small steps the update is
`W − A W`, `A W = D − W Dᵀ W`, the Riemannian gradient of the canonical
metric. Here `D` is what the wrapped optimizer would subtract from `W`
(`D = W − inner(W)`), so the wrapped optimizer chooses the direction:
`keras.optimizers.SGD` gives exactly the rule above, `RMSprop` a
Riemannian RMSprop (Wisdom et al.'s preconditioned variant), `Adam` a
Riemannian Adam, each with its own state, schedule and clipping.

A wide weight (fewer rows than columns) has orthonormal rows and is
updated through its transpose; `blocks=k` updates each of `k` equal column
blocks on its own (Keras' `LSTM` recurrent kernel: `blocks=4`, `GRU`: 3).
The retraction runs in float64 by default (`retraction_dtype`): in
float32, rounding in the solve lets `‖WᵀW − I‖` drift by ~1e-5 over a few
hundred large steps, in float64 it stays near float32's rounding of `W`.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from tf_nnrnn.manifolds import merge_blocks, split_blocks
from tf_nnrnn.validation import check_choice, check_int

__all__ = ["cayley_retraction", "RiemannianOptimizer"]


def _t(x):
    return tf.linalg.matrix_transpose(x)


def cayley_retraction(w: tf.Tensor, d: tf.Tensor) -> tf.Tensor:
    """`(I + A/2)⁻¹ (I − A/2) W` with `A = D Wᵀ − W Dᵀ` (tall or square).

    A wide `W` (orthonormal rows) is updated through its transpose.

    Args:
        w: point(s) on the Stiefel manifold, `(..., r, c)`.
        d: the Euclidean step to take (e.g. `η ∂L/∂W`), same shape.

    Returns:
        The new point, same shape.

    Example:
        >>> import numpy as np
        >>> w = tf.eye(3, dtype=tf.float64)
        >>> new = cayley_retraction(w, tf.random.normal((3, 3), dtype="float64"))
        >>> bool(np.allclose(tf.transpose(new) @ new, np.eye(3)))
        True
    """  # noqa: E501
    wide = w.shape[-2] < w.shape[-1]
    if wide:
        w, d = _t(w), _t(d)
    a = d @ _t(w) - w @ _t(d)
    eye = tf.eye(tf.shape(a)[-1], dtype=a.dtype)
    new = tf.linalg.solve(eye + 0.5 * a, w - 0.5 * (a @ w))
    return _t(new) if wide else new


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class RiemannianOptimizer(keras.optimizers.Optimizer):
    """Wrap a Keras optimizer so that its weights move on the Stiefel
    manifold by a Cayley retraction.

    For each weight `W` (or each of its `blocks` column blocks) it lets the
    inner optimizer take its step, reads that step `D = W − W_inner`, and
    sets `W ← (I + A/2)⁻¹ (I − A/2) W`, `A = D Wᵀ − W Dᵀ` (see the module
    docstring). The weights must start on the manifold (e.g.
    `manifolds.BlockOrthogonal(blocks)`). Give it only the weights to keep
    orthogonal, e.g. through `optimizers.orthogonal_multi_optimizer`'s
    routing or `make_optimizer(..., orthogonal_wrapper=...)`. It runs under
    `jit_compile=True` and saves its own and the inner optimizer's state
    in `.keras` files (TensorFlow backend).

    Args:
        inner_optimizer: a `keras.optimizers.Optimizer` giving the step
            (its learning rate, schedule, clipping and state are used).
        blocks: number of equal column blocks of each weight, each kept on
            its own Stiefel manifold (default 1).
        retraction_dtype: `"float64"` (default) or `"float32"`; None uses
            each variable's dtype.
        name: optional name.

    Example:
        >>> import keras, numpy as np
        >>> w = keras.Variable(np.eye(3, dtype="float32"))
        >>> opt = RiemannianOptimizer(keras.optimizers.SGD(0.5))
        >>> opt.apply([keras.random.normal((3, 3))], [w])
        >>> w_np = keras.ops.convert_to_numpy(w)
        >>> bool(np.allclose(w_np.T @ w_np, np.eye(3), atol=1e-6))
        True
    """

    def __init__(
        self,
        inner_optimizer: keras.optimizers.Optimizer,
        blocks: int = 1,
        retraction_dtype: str | None = "float64",
        name: str | None = None,
        **kwargs,
    ):
        if not isinstance(inner_optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                "Received an invalid value for argument `inner_optimizer`, "
                "expected a keras.optimizers.Optimizer instance, got "
                f"{inner_optimizer!r}."
            )
        if isinstance(inner_optimizer, keras.optimizers.LossScaleOptimizer):
            raise TypeError(
                "Received a LossScaleOptimizer as `inner_optimizer`; wrap "
                "the RiemannianOptimizer in it instead."
            )
        if kwargs:
            raise ValueError(
                "RiemannianOptimizer takes no base optimizer arguments "
                f"(set them on the `inner_optimizer`), got {sorted(kwargs)}."
            )
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.blocks = check_int("blocks", blocks)
        self.retraction_dtype = check_choice(
            "retraction_dtype", retraction_dtype, ("float64", "float32", None)
        )

    def build(self, var_list):
        for v in var_list:
            if len(v.shape) != 2 or v.shape[-1] % self.blocks:
                raise ValueError(
                    f"RiemannianOptimizer(blocks={self.blocks}) applies to "
                    "2-D weights whose last axis is a multiple of "
                    f"{self.blocks}; got {v.path} of shape {tuple(v.shape)}."
                )
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self.inner_optimizer.learning_rate = value

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def _retract(self, old, new):
        dtype = self.retraction_dtype or old.dtype
        w = tf.cast(old, dtype)
        d = w - tf.cast(new, dtype)
        if self.blocks == 1:
            out = cayley_retraction(w, d)
        else:
            out = merge_blocks(
                cayley_retraction(
                    split_blocks(w, self.blocks), split_blocks(d, self.blocks)
                )
            )
        return tf.cast(out, old.dtype)

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:
            trainable_variables = self._trainable_variables
        if not self.built:
            with keras.name_scope(self.name, caller=self):
                self.build(trainable_variables)
            self.built = True
        trainable_variables = list(trainable_variables)
        moved = [v for g, v in zip(grads, trainable_variables) if g is not None]
        # Snapshots of the weights before the inner step (ordered before
        # its assignments by TensorFlow's automatic control dependencies).
        olds = [tf.identity(tf.convert_to_tensor(v)) for v in moved]
        self.inner_optimizer.apply(grads, trainable_variables)
        for v, old in zip(moved, olds):
            v.assign(self._retract(old, tf.convert_to_tensor(v)))

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self):
        return {
            "name": self.name,
            "inner_optimizer": keras.saving.serialize_keras_object(
                self.inner_optimizer
            ),
            "blocks": self.blocks,
            "retraction_dtype": self.retraction_dtype,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(
            config.pop("inner_optimizer"), custom_objects=custom_objects
        )
        return cls(inner, **config)
