"""Keras Tuner search over the learning rates of a cell on a task.

`RNNHyperModel.build(hp)` draws the learning rate `lr` and the orthogonal
learning rate `lr_orth` on log scales (and, when asked, `delta`, `t_decay`,
`rho`, `skew_init`) and builds the model with
`tf_nnrnn.experiments.models.build_model`;
`fit(hp, model)` trains through `tf_nnrnn.experiments.training.run` (the runner
of the
example scripts, so a trial is exactly `examples/<task>.py` with those
settings, its files in `<trial dir>/run/`) and reports the task's objective:

- copy: `test_loss` (min), adding: `test_mse` (min): the loss on held-out
  sequences from a random stream disjoint from training (synthetic data, so
  this held-out set plays the part of a validation set);
- psMNIST: `val_accuracy` (max), PTB: `val_bpc` (min): the best validation
  value over the epochs (the test set is never used for the search).

A search space entry is `True` (the default range), `None` (not searched:
the base setting), a number or name (fixed), `[min, max]` (log scale for
`lr`, `lr_orth`, `delta`, `t_decay`, linear for `rho`), a dict
`{"min", "max", "sampling", "default"}` or `{"choices": [...]}`, or a list
of names for `skew_init`; a `keras_tuner.HyperParameters` works too.

Hyperband counts epochs of the runner (copy/adding: `log_every` updates);
a continued trial starts from its parent's best weights. A diverged trial
(NaN loss) is reported to the oracle as failed.

Example:
    >>> hm = RNNHyperModel(task="copy", cell="nnrnn", units=8)
    >>> [p.name for p in hm.hyperparameters.space]
    ['lr', 'lr_orth']
"""

from tf_nnrnn.experiments.tuning.hypermodel import RNNHyperModel
from tf_nnrnn.experiments.tuning.space import (
    OBJECTIVES,
    ORTHOGONAL_CELLS,
    SEARCHABLE,
    TUNERS,
)
from tf_nnrnn.experiments.tuning.tuners import (
    SEARCH_CONFIG,
    make_tuner,
    search_role,
)

__all__ = [
    "RNNHyperModel",
    "make_tuner",
    "search_role",
    "OBJECTIVES",
    "ORTHOGONAL_CELLS",
    "SEARCHABLE",
    "SEARCH_CONFIG",
    "TUNERS",
]
