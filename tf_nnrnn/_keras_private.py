"""The one module that touches private Keras, TensorFlow and KerasTuner code.

Each use below says why no public name does the job. Every one is pinned
by `tests/test_keras_private.py`, which fails loudly (naming the symbol)
when a release moves it, so an upgrade breaks one test file, not the
cells' numbers. The supported versions are those `setup.py` allows and CI
tests (TensorFlow 2.21, Keras 3.15, keras-tuner 1.4).
"""

from __future__ import annotations

# 1. `keras.layers.RNN` calls `cell.get_dropout_mask(first_step_input)`
#    once before its step loop and `cell.reset_dropout_mask()` after it,
#    for every cell inheriting this mixin (also inside `StackedRNNCells`):
#    the only per-sequence hook Keras offers a cell, where our cells build
#    their recurrent matrix once per forward pass (`cells/base.py`). The
#    mixin is not exported publicly.
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

__all__ = [
    "DropoutRNNCell",
    "keras_training_flag",
    "CheckpointExclusion",
    "keras_tuner_hyperparameter_classes",
]


def keras_training_flag():
    """The `training` value of the Keras layer call in progress, or None.

    2. Keras resolves `training` once per outermost layer call and keeps it
    in its call context (`keras/src/layers/layer.py`, `CallContext`, in the
    global attribute `current_call_ctx`), where `keras.layers.RNN` has it
    when it calls our once-per-sequence hook (the hook itself receives no
    `training` argument). When it cannot be read this returns None, which
    selects the cached path, whose gradient is still exact.

    Example:
        >>> keras_training_flag() is None  # outside any layer call
        True
    """
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # pragma: no cover - a future Keras
        return None
    context = global_state.get_global_attribute("current_call_ctx")
    return None if context is None else getattr(context, "training", None)


class CheckpointExclusion:
    """Mixin: TensorFlow checkpoints leave out `_checkpoint_excluded`.

    3. `_trackable_children` is TensorFlow's (private) list of what a
    checkpoint saves; there is no public way to keep a tracked attribute
    out of checkpoints while SavedModel exports still see it. Our cells
    keep their matrix cache out of checkpoints (`cells/base.py`).
    """

    #: Attribute names left out of TensorFlow checkpoints.
    _checkpoint_excluded: tuple = ()

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        children = super()._trackable_children(save_type, **kwargs)
        if save_type == "checkpoint":
            for name in self._checkpoint_excluded:
                children.pop(name, None)
        return children


def keras_tuner_hyperparameter_classes():
    """`(Fixed, Choice, Float)`: KerasTuner's hyperparameter classes.

    4. KerasTuner exports them only under `keras_tuner.engine`, its
    internal package; the tuning space (`experiments/tuning/space.py`)
    needs them to read a user's `HyperParameters` back as a spec.
    Imported on call (keras-tuner is an extra).
    """
    from keras_tuner.engine import hyperparameters as hps

    return hps.Fixed, hps.Choice, hps.Float
