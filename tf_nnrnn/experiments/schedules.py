"""Learning-rate schedules of the papers' runs.

`PlateauDecay` is the nnRNN reference's PTB schedule (`language_task.py`):
after every epoch the validation loss is compared with the best so far;
when it did not improve, every learning rate (the orthogonal one too) is
multiplied by `factor` (0.5 there: `StepLR(step_size=1, gamma=0.5)`
stepped only on those epochs). The runner adds it when
`Settings.plateau_factor` is set (`tf_nnrnn.experiments.training.run`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import keras

__all__ = ["PlateauDecay", "learning_rate_optimizers"]


def learning_rate_optimizers(optimizer) -> list:
    """The optimizers that hold a learning rate inside `optimizer`.

    A `keras.optimizers.MultiOptimizer` (the two-learning-rate optimizer of
    `tf_nnrnn.optimizers.make_optimizer`) has none of its own: its
    sub-optimizers do. A `LossScaleOptimizer` wraps `inner_optimizer`.

    Example:
        >>> from tf_nnrnn.optimizers import make_optimizer
        >>> opt = make_optimizer("rmsprop", 1e-3, 1e-4)
        >>> sorted(round(float(o.learning_rate.numpy()), 6)
        ...        for o in learning_rate_optimizers(opt))
        [0.0001, 0.001]
    """
    if isinstance(optimizer, keras.optimizers.MultiOptimizer):
        return [
            leaf
            for inner in optimizer.optimizers
            for leaf in learning_rate_optimizers(inner)
        ]
    inner = getattr(optimizer, "inner_optimizer", None)
    if inner is not None:
        return learning_rate_optimizers(inner)
    return [optimizer]


class PlateauDecay(keras.callbacks.Callback):
    """Scale every learning rate by `factor` after an epoch without progress.

    At the end of epoch `e` with `v_e = logs[monitor]`: if `v_e < min(v_1,
    ..., v_{e-1})` (or `e` is the first epoch) the rates are kept, else
    each is multiplied by `factor`: `lr ← factor · lr`, for the default
    and the orthogonal optimizer alike. The learning rates are optimizer
    variables, so a backup (`AtomicBackup`) keeps them; `history` gives a
    resumed run the values of the epochs already done.

    Place it after the callback that adds `monitor` to the logs (PTB's
    `StreamValidation`) and before the metrics CSV: it logs `lr`, the
    default optimizer's rate for the next epoch.

    Args:
        factor: in (0, 1); 0.5 in the reference.
        monitor: the logged value compared (default `"val_loss"`).
        history: `monitor` values of earlier epochs (a resumed run).

    Example:
        >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        >>> model.compile(keras.optimizers.SGD(0.1), "mse")
        >>> decay = PlateauDecay(0.5)
        >>> decay.set_model(model)
        >>> for epoch, loss in enumerate([3.0, 2.0, 2.5, 1.0, 1.0]):
        ...     decay.on_epoch_end(epoch, {"val_loss": loss})
        >>> round(float(model.optimizer.learning_rate.numpy()), 6)
        0.025
    """

    def __init__(
        self,
        factor: float = 0.5,
        monitor: str = "val_loss",
        history: Iterable[float] = (),
    ):
        super().__init__()
        if not (isinstance(factor, (int, float)) and 0 < factor < 1):
            raise ValueError(
                "Received an invalid value for argument `factor`, expected "
                f"a number in (0, 1), got {factor!r}."
            )
        self.factor = float(factor)
        self.monitor = monitor
        values = [float(v) for v in history if not math.isnan(float(v))]
        self.best = min(values) if values else None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if self.monitor not in logs:
            raise ValueError(
                f"PlateauDecay monitors `{self.monitor}`, which the epoch's "
                f"logs do not hold (they hold {sorted(logs)}); place it "
                "after the callback or validation data that log it."
            )
        value = float(logs[self.monitor])
        optimizers = learning_rate_optimizers(self.model.optimizer)
        if self.best is None or value < self.best:
            self.best = value
        else:
            for optimizer in optimizers:
                optimizer.learning_rate.assign(
                    optimizer.learning_rate * self.factor
                )
        logs["lr"] = float(
            keras.ops.convert_to_numpy(optimizers[-1].learning_rate)
        )
