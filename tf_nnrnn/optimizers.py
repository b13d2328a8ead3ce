"""Two learning rates: one for the orthogonal weights, one for the rest.

Built on Keras' own `keras.optimizers.MultiOptimizer` and `OptimizerMap`,
which route each variable by a regular expression on `variable.path`.
"""

from __future__ import annotations

import copy

import keras

from tf_nnrnn.validation import check_float, check_pattern, invalid

__all__ = [
    "ORTHOGONAL_PATTERN",
    "GlobalClipMultiOptimizer",
    "make_optimizer",
    "orthogonal_multi_optimizer",
]

#: Paths of the raw variables of the built-in orthogonal parametrizations.
#: The default routing (`pattern=None`) reads the cell registry instead
#: (`tf_nnrnn.cells.registry.orthogonal_pattern()`), so that a registered
#: cell's orthogonal weights are routed too.
ORTHOGONAL_PATTERN = r".*skew_kernel"


def _default_pattern(pattern: str | None) -> str:
    if pattern is not None:
        return pattern
    from tf_nnrnn.cells.registry import orthogonal_pattern

    return orthogonal_pattern()

_NAMES = {
    "rmsprop": keras.optimizers.RMSprop,
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "adamw": keras.optimizers.AdamW,
}


@keras.saving.register_keras_serializable(package="tf_nnrnn")
class GlobalClipMultiOptimizer(keras.optimizers.MultiOptimizer):
    """`keras.optimizers.MultiOptimizer` that clips all gradients jointly.

    `g ← g · min(1, c / ‖g‖)` with `‖g‖` the norm of *all* gradients
    together, before they are routed to the sub-optimizers: the semantics of
    PyTorch's `clip_grad_norm_(model.parameters(), c)` used by the papers.
    (A `global_clipnorm` given to each sub-optimizer would clip each group
    on its own.)

    Args:
        optimizer_map: an `OptimizerMap` or a callable, as for
            `MultiOptimizer`.
        global_clipnorm: `c > 0`, or None for no clipping.
        loss_scale_factor, name: as for `MultiOptimizer`.

    Example:
        >>> opt = make_optimizer("rmsprop", 1e-3, 1e-4, global_clipnorm=1.0)
        >>> type(opt).__name__
        'GlobalClipMultiOptimizer'
    """

    def __init__(
        self,
        optimizer_map,
        global_clipnorm: float | None = None,
        loss_scale_factor=None,
        name=None,
    ):
        super().__init__(
            optimizer_map, loss_scale_factor=loss_scale_factor, name=name
        )
        if global_clipnorm is not None:
            global_clipnorm = check_float(
                "global_clipnorm", global_clipnorm, 0.0
            )
        self.joint_clipnorm = global_clipnorm

    def apply(self, grads, trainable_variables=None):
        if self.joint_clipnorm is not None and len(grads):
            present = [g for g in grads if g is not None]
            norm = keras.ops.sqrt(
                sum(
                    keras.ops.sum(
                        keras.ops.square(keras.ops.cast(g, "float32"))
                    )
                    for g in present
                )
            )
            scale = keras.ops.minimum(
                1.0, self.joint_clipnorm / keras.ops.maximum(norm, 1e-12)
            )
            grads = [
                None if g is None else g * keras.ops.cast(scale, g.dtype)
                for g in grads
            ]
        return super().apply(grads, trainable_variables)

    def get_config(self):
        return {**super().get_config(), "global_clipnorm": self.joint_clipnorm}


def orthogonal_multi_optimizer(
    default_optimizer: keras.optimizers.Optimizer,
    orthogonal_optimizer: keras.optimizers.Optimizer,
    pattern: str | None = None,
    global_clipnorm: float | None = None,
) -> keras.optimizers.MultiOptimizer:
    """Route the orthogonal weights to `orthogonal_optimizer`.

    Args:
        default_optimizer: optimizer of every other variable.
        orthogonal_optimizer: optimizer of the variables whose path fully
            matches `pattern` (default: every registered cell's orthogonal
            weights, e.g. `skew_kernel`).
        pattern: regular expression on `variable.path`; None (default)
            reads the cell registry.
        global_clipnorm: clip the norm of all gradients together (see
            `GlobalClipMultiOptimizer`), or None.

    Returns:
        A `keras.optimizers.MultiOptimizer`; its `.optimizers` lists the
        orthogonal optimizer first.

    Example:
        >>> opt = orthogonal_multi_optimizer(
        ...     keras.optimizers.RMSprop(1e-3), keras.optimizers.RMSprop(1e-4))
        >>> [round(float(keras.ops.convert_to_numpy(o.learning_rate)), 6)
        ...  for o in opt.optimizers]
        [0.0001, 0.001]
    """
    for name, opt in (
        ("default_optimizer", default_optimizer),
        ("orthogonal_optimizer", orthogonal_optimizer),
    ):
        if not isinstance(opt, keras.optimizers.Optimizer):
            raise TypeError(
                f"Received an invalid value for argument `{name}`, expected "
                f"a keras.optimizers.Optimizer instance, got {opt!r}."
            )
    pattern = check_pattern("pattern", pattern)
    optimizer_map = keras.optimizers.OptimizerMap(
        default_optimizer=default_optimizer,
        optimizer_map={_default_pattern(pattern): orthogonal_optimizer},
    )
    if global_clipnorm is not None:
        return GlobalClipMultiOptimizer(optimizer_map, global_clipnorm)
    return keras.optimizers.MultiOptimizer(optimizer_map)


#: Clipping arguments of Keras optimizers: a positive finite number or
#: None. Keras ignores NaN and negative values silently (no clipping).
_CLIP_ARGUMENTS = ("clipnorm", "clipvalue", "global_clipnorm")


def _check_clip(name: str, value):
    """`value` as a positive finite float, or None."""
    return None if value is None else check_float(name, value, 0.0)


def _check_learning_rate(name: str, value):
    """A positive finite number (as a float; NumPy scalars too) or a
    `LearningRateSchedule`, else an error naming `name`."""
    if isinstance(value, keras.optimizers.schedules.LearningRateSchedule):
        return value
    try:
        return check_float(name, value, 0.0)
    except TypeError:
        expected = "a positive finite float or a schedule"
        raise invalid(name, expected, value, TypeError) from None


def make_optimizer(
    optimizer="rmsprop",
    learning_rate: float = 1e-3,
    orthogonal_learning_rate: float = 1e-4,
    pattern: str | None = None,
    global_clipnorm: float | None = None,
    orthogonal_wrapper=None,
    **optimizer_kwargs,
) -> keras.optimizers.MultiOptimizer:
    """A two-learning-rate optimizer for models with our cells.

    Args:
        optimizer: `"rmsprop"`, `"adam"`, `"sgd"`, `"adamw"`, a Keras
            optimizer class, or an optimizer instance used as a template
            (its config is copied for both).
        learning_rate: learning rate of every non-orthogonal weight.
        orthogonal_learning_rate: learning rate of every `skew_kernel`.
        pattern: regular expression selecting the orthogonal weights; None
            (default) reads the cell registry.
        global_clipnorm: clip the norm of all gradients together (see
            `GlobalClipMultiOptimizer`), or None.
        orthogonal_wrapper: None, or a callable applied to the orthogonal
            weights' optimizer, e.g. `lambda o: RiemannianOptimizer(o,
            blocks=4)` with `pattern=r".*recurrent_kernel"` for Keras'
            LSTM (Riemannian RMSprop there, RMSprop for the rest).
        **optimizer_kwargs: passed to both optimizers (e.g. `rho=0.99`,
            `clipnorm=1.0`), except `global_clipnorm`, which clips the
            gradients of both groups jointly (as PyTorch's
            `clip_grad_norm_` over all parameters).

    Learning rates are positive finite numbers (NumPy scalars too) or
    schedules; `clipnorm`, `clipvalue` and `global_clipnorm` positive
    finite numbers or None; `pattern` must compile. Anything else raises
    here (TypeError for a wrong type, else ValueError), where Keras would
    ignore a NaN or negative clip and a bad pattern would fail in `fit`.

    Returns:
        A `keras.optimizers.MultiOptimizer`.

    Example:
        >>> opt = make_optimizer("rmsprop", 1e-3, 1e-4, rho=0.99)
        >>> len(opt.optimizers)
        2
    """
    learning_rate = _check_learning_rate("learning_rate", learning_rate)
    orthogonal_learning_rate = _check_learning_rate(
        "orthogonal_learning_rate", orthogonal_learning_rate
    )
    pattern = check_pattern("pattern", pattern)
    global_clipnorm = _check_clip("global_clipnorm", global_clipnorm)
    for name in _CLIP_ARGUMENTS:
        if name in optimizer_kwargs:
            optimizer_kwargs[name] = _check_clip(name, optimizer_kwargs[name])
    if isinstance(optimizer, keras.optimizers.Optimizer):
        config = optimizer.get_config()
        config.update(optimizer_kwargs)
        for name in _CLIP_ARGUMENTS:  # the template's own, too
            if name in config:
                config[name] = _check_clip(name, config[name])
        if global_clipnorm is None:  # a template's own global clip: jointly
            global_clipnorm = config.get("global_clipnorm")
        config["global_clipnorm"] = None
        config.pop("name", None)
        cls = type(optimizer)

        def build(lr):
            return cls.from_config(
                {**copy.deepcopy(config), "learning_rate": lr}
            )

    else:
        if isinstance(optimizer, str):
            if optimizer.lower() not in _NAMES:
                raise ValueError(
                    "Received an invalid value for argument `optimizer`, "
                    f"expected one of {sorted(_NAMES)}, a Keras optimizer "
                    f"class or instance, got {optimizer!r}."
                )
            cls = _NAMES[optimizer.lower()]
        elif isinstance(optimizer, type) and issubclass(
            optimizer, keras.optimizers.Optimizer
        ):
            cls = optimizer
        else:
            raise TypeError(
                "Received an invalid value for argument `optimizer`, expected "
                f"one of {sorted(_NAMES)}, a Keras optimizer class or "
                f"instance, got {optimizer!r}."
            )

        def build(lr):
            return cls(learning_rate=lr, **optimizer_kwargs)

    orthogonal_optimizer = build(orthogonal_learning_rate)
    if orthogonal_wrapper is not None:
        orthogonal_optimizer = orthogonal_wrapper(orthogonal_optimizer)
    return orthogonal_multi_optimizer(
        build(learning_rate),
        orthogonal_optimizer,
        pattern,
        global_clipnorm=global_clipnorm,
    )

from tf_nnrnn.riemannian import RiemannianOptimizer  # noqa
