"""Robustness of trained models to bounded input perturbations.

Following Sengupta & Friston (2018), a model is evaluated on `x + ε δ` for
growing ε, with three kinds of direction `δ`:

- "uniform": `δ ~ U(-1, 1)` elementwise, so `‖ε δ‖_∞ <= ε`;
- "gaussian": `δ ~ N(0, 1)` elementwise (standard deviation ε; not bounded);
- "fgsm": `δ = sign(∇_x L(y, f(x)))`, the fast gradient-sign attack
  (Goodfellow et al. 2015), `‖ε δ‖_∞ = ε`.

The directions are drawn (or differentiated) once and scaled by every ε, so
a curve compares the same perturbations at different sizes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

KINDS = ("uniform", "gaussian", "fgsm")


@dataclasses.dataclass(frozen=True)
class RobustnessCurve:
    """A metric of one model under perturbations of growing size.

    Attributes:
        epsilons: the perturbation sizes, shape `(m,)`.
        values: `{kind: array of shape (m,)}` of the metric.
        metric: the metric's name ("accuracy", "loss" or a callable's name).
    """

    epsilons: np.ndarray
    values: dict[str, np.ndarray]
    metric: str


def _float_inputs(x: Any) -> np.ndarray:
    x = np.asarray(keras.ops.convert_to_numpy(x))
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            "Received an invalid value for argument `x`, expected floating "
            f"inputs that can be perturbed, got dtype {x.dtype} (integer "
            "token inputs cannot be perturbed; perturb one-hot inputs)."
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(
            "Received an invalid value for argument `x`, expected finite "
            "inputs, got NaN or inf."
        )
    return x


def _epsilons(epsilons: Any) -> np.ndarray:
    values = np.atleast_1d(np.asarray(epsilons, dtype=np.float64))
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            "Received an invalid value for argument `epsilons`, expected a "
            f"non-empty 1-D sequence of sizes >= 0, got shape {values.shape}."
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(
            "Received an invalid value for argument `epsilons`, expected "
            f"finite sizes >= 0, got {values.tolist()}."
        )
    return values


def _resolve_loss(model: keras.Model, loss: Any) -> Callable:
    if loss is None:
        loss = getattr(model, "loss", None)
        if loss is None:
            raise ValueError(
                "Received `loss=None` for a model that was not compiled with "
                "a loss; pass `loss`, e.g. keras.losses."
                "SparseCategoricalCrossentropy(from_logits=True)."
            )
    if isinstance(loss, str | dict):
        loss = keras.losses.get(loss)
    if not callable(loss):
        raise TypeError(
            "Received an invalid value for argument `loss`, expected a Keras "
            f"loss (name, object or callable), got {loss!r}."
        )
    return loss


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Classification accuracy: `mean(argmax(y_pred, -1) == y)`.

    Works for integer labels of shape `y_pred.shape[:-1]` and for one-hot
    labels of the same shape as `y_pred`, with any number of time steps.

    Args:
        y_true: labels (integers or one-hot).
        y_pred: scores or probabilities, classes on the last axis (>= 2).

    Returns:
        The accuracy as a float.

    Example:
        >>> accuracy([1, 0], [[0.2, 0.8], [0.3, 0.7]])
        0.5
    """
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim < 1 or y_pred.shape[-1] < 2:
        raise ValueError(
            "accuracy needs class scores on the last axis (at least 2), got "
            f"predictions of shape {y_pred.shape}; pass a callable `metric` "
            "for other outputs."
        )
    if y_true.shape == y_pred.shape:
        y_true = np.argmax(y_true, axis=-1)
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"Labels of shape {y_true.shape} do not match predictions of "
            f"shape {y_pred.shape}."
        )
    return float(np.mean(np.argmax(y_pred, axis=-1) == y_true))


def gradient_sign(
    model: keras.Model,
    x: Any,
    y: Any,
    loss: Any = None,
    batch_size: int = 256,
) -> np.ndarray:
    """FGSM directions `sign(∇_x L(y, model(x)))`, by `tf.GradientTape`.

    Args:
        model: a Keras model (called with `training=False`).
        x: float inputs.
        y: targets for the loss.
        loss: the loss L. Defaults to the model's compiled loss.
        batch_size: examples per gradient computation. Defaults to 256.

    Returns:
        Array like `x` with entries in {-1, 0, 1}.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        >>> gradient_sign(model, np.ones((4, 3), "float32"), [0, 1, 0, 1],
        ...               loss=loss).shape
        (4, 3)
    """
    x = _float_inputs(x)
    y = np.asarray(keras.ops.convert_to_numpy(y))
    loss_fn = _resolve_loss(model, loss)

    @tf.function(reduce_retracing=True)
    def signed_gradient(xb, yb):
        with tf.GradientTape() as tape:
            tape.watch(xb)
            value = loss_fn(yb, model(xb, training=False))
            value = tf.reduce_sum(value)
        return tf.sign(tape.gradient(value, xb))

    parts = []
    for start in range(0, len(x), batch_size):
        xb = tf.convert_to_tensor(x[start : start + batch_size])
        yb = tf.convert_to_tensor(y[start : start + batch_size])
        parts.append(signed_gradient(xb, yb).numpy())
    return np.concatenate(parts, axis=0).astype(x.dtype)


def perturbation_directions(
    model: keras.Model,
    x: Any,
    y: Any,
    kind: str,
    loss: Any = None,
    seed: int = 0,
    batch_size: int = 256,
) -> np.ndarray:
    """Unit-size directions `δ` of one kind; the perturbed input is `x + ε δ`.

    "uniform": `U(-1, 1)`; "gaussian": `N(0, 1)`; "fgsm": the gradient sign.

    Args:
        model: the Keras model (used by "fgsm" only).
        x: float inputs.
        y: targets (used by "fgsm" only).
        kind: "uniform", "gaussian" or "fgsm".
        loss: loss for "fgsm". Defaults to the model's compiled loss.
        seed: seed of the random kinds. Defaults to 0.
        batch_size: batch size of the gradient. Defaults to 256.

    Returns:
        Array like `x`.

    Example:
        >>> import numpy as np
        >>> d = perturbation_directions(None, np.zeros((2, 3)), None, "uniform")
        >>> bool(np.abs(d).max() <= 1)
        True
    """
    x = _float_inputs(x)
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return rng.uniform(-1.0, 1.0, size=x.shape).astype(x.dtype)
    if kind == "gaussian":
        return rng.standard_normal(size=x.shape).astype(x.dtype)
    if kind == "fgsm":
        return gradient_sign(model, x, y, loss=loss, batch_size=batch_size)
    raise ValueError(
        "Received an invalid value for argument `kind`, expected one of "
        f"{KINDS}, got {kind!r}."
    )


def _evaluate(model, x, y, metric, loss_fn, batch_size) -> float:
    y_pred = model.predict(x, batch_size=batch_size, verbose=0)
    if metric == "accuracy":
        return accuracy(y, y_pred)
    if metric == "loss":
        value = loss_fn(keras.ops.convert_to_tensor(y), y_pred)
        return float(np.mean(keras.ops.convert_to_numpy(value)))
    return float(metric(np.asarray(y), np.asarray(y_pred)))


def robustness_curve(
    model: keras.Model,
    x: Any,
    y: Any,
    epsilons: Sequence[float] = (0.0, 0.01, 0.05, 0.1, 0.2),
    kinds: Sequence[str] = KINDS,
    metric: str | Callable = "accuracy",
    loss: Any = None,
    clip: tuple[float, float] | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> RobustnessCurve:
    """A trained model's metric on `x + ε δ` for every ε and kind of `δ`.

    `value[kind][i] = metric(y, model(clip(x + ε_i δ_kind)))`, with `δ`
    uniform in [-1, 1], standard Gaussian, or the FGSM gradient sign.

    Args:
        model: a trained Keras model.
        x: float inputs (e.g. one-hot sequences).
        y: targets.
        epsilons: perturbation sizes >= 0. Defaults to
            (0, 0.01, 0.05, 0.1, 0.2).
        kinds: any of "uniform", "gaussian", "fgsm". Defaults to all.
        metric: "accuracy" (argmax over the last axis), "loss", or a
            callable `metric(y_true, y_pred) -> float` on NumPy arrays.
        loss: loss for "fgsm" and "loss". Defaults to the compiled loss.
        clip: optional `(low, high)` range to clip perturbed inputs to.
        seed: seed of the random directions. Defaults to 0.
        batch_size: evaluation batch size. Defaults to 256.

    Returns:
        A `RobustnessCurve`.

    Example:
        >>> import keras, numpy as np
        >>> model = keras.Sequential([keras.Input((5, 1)),
        ...                           keras.layers.SimpleRNN(4),
        ...                           keras.layers.Dense(2)])
        >>> model.compile(loss=keras.losses.SparseCategoricalCrossentropy(
        ...     from_logits=True))
        >>> x = np.random.rand(8, 5, 1).astype("float32")
        >>> curve = robustness_curve(model, x, np.zeros(8, int), [0.0, 0.1])
        >>> sorted(curve.values)
        ['fgsm', 'gaussian', 'uniform']
    """
    x = _float_inputs(x)
    epsilons = _epsilons(epsilons)
    kinds = list(kinds)
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(
                "Received an invalid value for argument `kinds`, expected "
                f"a subset of {KINDS}, got {kind!r}."
            )
    if not (metric in ("accuracy", "loss") or callable(metric)):
        raise ValueError(
            "Received an invalid value for argument `metric`, expected "
            f"'accuracy', 'loss' or a callable, got {metric!r}."
        )
    needs_loss = metric == "loss" or "fgsm" in kinds
    loss_fn = _resolve_loss(model, loss) if needs_loss else None
    y = np.asarray(keras.ops.convert_to_numpy(y))
    values = {}
    for kind in kinds:
        direction = perturbation_directions(
            model, x, y, kind, loss_fn, seed, batch_size
        )
        row = []
        for eps in epsilons:
            perturbed = x + np.asarray(eps, x.dtype) * direction
            if clip is not None:
                perturbed = np.clip(perturbed, clip[0], clip[1])
            row.append(
                _evaluate(model, perturbed, y, metric, loss_fn, batch_size)
            )
        values[kind] = np.asarray(row)
    name = (
        metric if isinstance(metric, str) else getattr(metric, "__name__", "")
    )
    return RobustnessCurve(epsilons=epsilons, values=values, metric=name)


def robustness_table(curves: Mapping[str, RobustnessCurve]) -> str:
    """A markdown table of robustness curves: one row per model and kind.

    Args:
        curves: `{model name: RobustnessCurve}`; all with the same epsilons.

    Returns:
        The table as a markdown string.

    Example:
        >>> import numpy as np
        >>> curve = RobustnessCurve(np.array([0.0, 0.1]),
        ...                         {"fgsm": np.array([1.0, 0.5])}, "accuracy")
        >>> print(robustness_table({"rnn": curve}))
        | model | perturbation | ε = 0 | ε = 0.1 |
        | --- | --- | --- | --- |
        | rnn | fgsm | 1.000 | 0.500 |
    """
    if not curves:
        raise ValueError(
            "Received an invalid value for argument `curves`, expected at "
            "least one model's curve, got an empty mapping."
        )
    epsilons = next(iter(curves.values())).epsilons
    for name, curve in curves.items():
        if not np.array_equal(curve.epsilons, epsilons):
            raise ValueError(
                f"Curves must share epsilons; model {name!r} has "
                f"{curve.epsilons.tolist()}, expected {epsilons.tolist()}."
            )
    header = " | ".join(f"ε = {e:g}" for e in epsilons)
    lines = [
        f"| model | perturbation | {header} |",
        "| --- | --- | " + " | ".join("---" for _ in epsilons) + " |",
    ]
    for name, curve in curves.items():
        for kind, values in curve.values.items():
            cells = " | ".join(f"{v:.3f}" for v in values)
            lines.append(f"| {name} | {kind} | {cells} |")
    return "\n".join(lines)
