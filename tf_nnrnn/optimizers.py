"""Two learning rates: one for the orthogonal weights, one for the rest.

Built on Keras' own `keras.optimizers.MultiOptimizer` and `OptimizerMap`,
which route each variable by a regular expression on `variable.path`.
"""

from __future__ import annotations

import copy

import keras

__all__ = ["ORTHOGONAL_PATTERN", "make_optimizer", "orthogonal_multi_optimizer"]

#: Paths of the raw variables of every orthogonal parametrization.
ORTHOGONAL_PATTERN = r".*skew_kernel"

_NAMES = {
    "rmsprop": keras.optimizers.RMSprop,
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "adamw": keras.optimizers.AdamW,
}


def orthogonal_multi_optimizer(
    default_optimizer: keras.optimizers.Optimizer,
    orthogonal_optimizer: keras.optimizers.Optimizer,
    pattern: str = ORTHOGONAL_PATTERN,
) -> keras.optimizers.MultiOptimizer:
    """Route the orthogonal weights to `orthogonal_optimizer`.

    Args:
        default_optimizer: optimizer of every other variable.
        orthogonal_optimizer: optimizer of the variables whose path fully
            matches `pattern` (default: every `skew_kernel`).
        pattern: regular expression on `variable.path`.

    Returns:
        A `keras.optimizers.MultiOptimizer`; its `.optimizers` lists the
        orthogonal optimizer first.

    Example:
        >>> opt = orthogonal_multi_optimizer(
        ...     keras.optimizers.RMSprop(1e-3), keras.optimizers.RMSprop(1e-4))
        >>> [o.learning_rate.numpy() for o in opt.optimizers]  # doctest: +SKIP
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
    optimizer_map = keras.optimizers.OptimizerMap(
        default_optimizer=default_optimizer,
        optimizer_map={pattern: orthogonal_optimizer},
    )
    return keras.optimizers.MultiOptimizer(optimizer_map)


def make_optimizer(
    optimizer="rmsprop",
    learning_rate: float = 1e-3,
    orthogonal_learning_rate: float = 1e-4,
    pattern: str = ORTHOGONAL_PATTERN,
    **optimizer_kwargs,
) -> keras.optimizers.MultiOptimizer:
    """A two-learning-rate optimizer for models with our cells.

    Args:
        optimizer: `"rmsprop"`, `"adam"`, `"sgd"`, `"adamw"`, a Keras
            optimizer class, or an optimizer instance used as a template
            (its config is copied for both).
        learning_rate: learning rate of every non-orthogonal weight.
        orthogonal_learning_rate: learning rate of every `skew_kernel`.
        pattern: regular expression selecting the orthogonal weights.
        **optimizer_kwargs: passed to both optimizers (e.g. `rho=0.99`,
            `clipnorm=1.0`; note that clipping then applies per group).

    Returns:
        A `keras.optimizers.MultiOptimizer`.

    Example:
        >>> opt = make_optimizer("rmsprop", 1e-3, 1e-4, rho=0.99)
        >>> len(opt.optimizers)
        2
    """
    for name, value in (
        ("learning_rate", learning_rate),
        ("orthogonal_learning_rate", orthogonal_learning_rate),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if not isinstance(
                value, keras.optimizers.schedules.LearningRateSchedule
            ):
                raise TypeError(
                    f"Received an invalid value for argument `{name}`, "
                    f"expected a positive float or a schedule, got {value!r}."
                )
        elif not value > 0:
            raise ValueError(
                f"Received an invalid value for argument `{name}`, expected "
                f"a positive float, got {value}."
            )
    if isinstance(optimizer, keras.optimizers.Optimizer):
        config = optimizer.get_config()
        config.update(optimizer_kwargs)
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

    return orthogonal_multi_optimizer(
        build(learning_rate), build(orthogonal_learning_rate), pattern
    )
