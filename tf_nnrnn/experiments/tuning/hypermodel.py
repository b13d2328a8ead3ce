"""`RNNHyperModel`: a cell on a task as a Keras Tuner hypermodel."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import keras
import keras_tuner as kt

from tf_nnrnn.cells.registry import cell_names
from tf_nnrnn.experiments import training
from tf_nnrnn.experiments.callbacks import read_metrics_csv
from tf_nnrnn.experiments.models import build_model
from tf_nnrnn.experiments.presets import (
    SettingError,
    Settings,
    paper_settings,
    resolve,
)
from tf_nnrnn.experiments.tasks import TASK_NAMES
from tf_nnrnn.experiments.tuning.space import (
    OBJECTIVES,
    SearchSpaceMixin,
    _draw,
)
from tf_nnrnn.validation import invalid, is_number

__all__ = ["RNNHyperModel"]


class RNNHyperModel(SearchSpaceMixin, kt.HyperModel):
    """The learning rates (and more) of `cell` on `task` as a search space.

    Default space: `lr` log-uniform in `[lr0 / 10, 10 lr0]` and (orthogonal
    cells) `lr_orth` log-uniform in `[min(o0, lr0/10) / 10, 10 max(o0,
    lr0/10)]`, where `lr0`, `o0` are the paper's values for (task, cell)
    (`tf_nnrnn.experiments.presets.paper_settings`) or else the base settings'.

    Args:
        task: one of `tf_nnrnn.experiments.tasks.TASK_NAMES`.
        cell: a registered cell name (`tf_nnrnn.cells.registry`).
        units: hidden units (overrides `settings.units`), or None.
        search_space: None (the default space), a dict `{name: spec}` over
            `SEARCHABLE` (see the module docstring) or a
            `keras_tuner.HyperParameters`; entries not given keep the
            default space.
        settings: the base `tf_nnrnn.experiments.presets.Settings` of every
        trial, a
            dict of overrides of the task's quick defaults, or None.

    Example:
        >>> hm = RNNHyperModel("copy", "exprnn", units=8,
        ...                    search_space={"lr": [1e-4, 1e-2]})
        >>> hm.objective.name, hm.objective.direction
        ('test_loss', 'min')
    """

    def __init__(
        self,
        task: str,
        cell: str,
        units: int | None = None,
        search_space: dict | kt.HyperParameters | None = None,
        settings: Settings | dict | None = None,
    ):
        super().__init__(name=f"{task}_{cell}")
        if task not in TASK_NAMES:
            raise invalid("task", f"one of {list(TASK_NAMES)}", task)
        if cell not in cell_names():
            raise invalid("cell", f"one of {list(cell_names())}", cell)
        self.task, self.cell = task, cell
        self.settings = _base_settings(task, cell, units, settings)
        task_obj = training.make_task(task, self.settings)
        needed = "steps" if task_obj.uses_steps else "epochs"
        if getattr(self.settings, needed) is None:
            raise invalid(f"settings.{needed}", "a positive integer", None)
        self.uses_steps = task_obj.uses_steps
        try:
            self.paper = paper_settings(task, cell)
        except SettingError:
            self.paper = None
        self.objective = kt.Objective(*OBJECTIVES[task])
        self.hyperparameters = self._make_space(search_space)

    # Trials.

    @property
    def max_epochs(self) -> int:
        """A full trial in runner epochs (Hyperband's `max_epochs`)."""
        s = self.settings
        if not self.uses_steps:
            return s.epochs
        return s.steps // _steps_per_epoch(s.steps, s.log_every)

    def trial_settings(self, hp: kt.HyperParameters) -> Settings:
        """The base settings with the values drawn from `hp`."""
        values = {p.name: _draw(hp, p) for p in self.hyperparameters.space}
        values = {k: v for k, v in values.items() if v is not None}
        return dataclasses.replace(self.settings, **values)

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        """Draw the hyperparameters; the compiled model of the runner."""
        settings = self.trial_settings(hp)
        task_obj = training.make_task(self.task, settings)
        model = build_model(task_obj, self.cell, settings)
        training.compile_model(model, task_obj, settings)
        return model

    def fit(
        self,
        hp: kt.HyperParameters,
        model: keras.Model,
        *args: Any,
        callbacks: list | None = None,
        epochs: int | None = None,
        initial_epoch: int = 0,
        verbose: Any = None,
        **kwargs: Any,
    ) -> dict:
        """Train through `tf_nnrnn.experiments.training.run`; the trial's
        metrics.

        The runner builds its own copy of `model` (same builder, same
        settings); Keras Tuner's callbacks (`callbacks`) see that model.
        `epochs` / `initial_epoch` (Hyperband) set the budget in runner
        epochs; the continued trial starts from `model`'s weights.
        """
        if args or kwargs:
            raise TypeError(
                "RNNHyperModel.fit trains on the task's own pipeline; got "
                f"unexpected arguments {list(kwargs) or args}."
            )
        settings = self.trial_settings(hp)
        if verbose is not None:
            settings.verbose = 1 if verbose == "auto" else int(verbose)
        callbacks = list(callbacks or [])
        out_dir = _trial_run_dir(callbacks)
        if epochs is not None:
            budget = max(1, int(epochs) - int(initial_epoch))
            if self.uses_steps:
                per = _steps_per_epoch(settings.steps, settings.log_every)
                settings.steps = budget * per
                settings.log_every = per
            else:
                settings.epochs = budget
            resuming = out_dir is not None and os.path.exists(
                os.path.join(out_dir, "backup")
            )
            if initial_epoch and not resuming:
                callbacks.insert(0, _WarmStart(model))
        epoch_logs = _EpochLogs()
        try:
            result = training.run(
                self.task,
                self.cell,
                settings,
                out_dir,
                [*callbacks, epoch_logs],
            )
        except training.TrainingDiverged as error:
            raise kt.errors.FailedTrialError(str(error)) from error
        rows = epoch_logs.rows  # a resumed run: all of them in metrics.csv
        if out_dir is not None:
            rows = read_metrics_csv(os.path.join(out_dir, "metrics.csv"))
        return self._metrics(result, rows)

    def _metrics(self, result: dict, rows: list[dict]) -> dict:
        name, direction = OBJECTIVES[self.task]
        metrics = {
            k: float(v)
            for k, v in result.items()
            if k.startswith("test_") and is_number(v)
        }
        if result.get("final_train_loss") is not None:
            metrics["final_train_loss"] = float(result["final_train_loss"])
        if name.startswith("val_"):
            values = [r[name] for r in rows if name in r]
            if not values:
                raise kt.errors.FailedTrialError(f"no {name} was logged.")
            pick = max if direction == "max" else min
            metrics[name] = float(pick(values))
        return metrics


class _EpochLogs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rows = []

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append(dict(logs or {}))


class _WarmStart(keras.callbacks.Callback):
    """Start the runner's model from `source`'s weights (Hyperband)."""

    def __init__(self, source: keras.Model):
        super().__init__()
        self.source = source

    def on_train_begin(self, logs=None):
        self.model.set_weights(self.source.get_weights())


def _steps_per_epoch(steps: int, log_every: int) -> int:
    """Updates per runner epoch (as `tf_nnrnn.experiments.training` schedules
    them)."""
    per = min(log_every, steps)
    while steps % per:
        per -= 1
    return per


def _trial_run_dir(callbacks: list) -> str | None:
    """`<trial dir>/run`, from Keras Tuner's per-trial callback."""
    for callback in callbacks:
        trial, tuner = (getattr(callback, a, None) for a in ("trial", "tuner"))
        if trial is not None and hasattr(tuner, "get_trial_dir"):
            return os.path.join(tuner.get_trial_dir(trial.trial_id), "run")
    return None


def _base_settings(task, cell, units, settings) -> Settings:
    overrides = {} if units is None else {"units": units}
    if settings is None or isinstance(settings, dict):
        return resolve(task, cell, {**(settings or {}), **overrides})
    if not isinstance(settings, Settings):
        raise TypeError(
            "Received an invalid value for argument `settings`, expected "
            "None, a dict or a tf_nnrnn.experiments.presets.Settings, got "
            f"{type(settings).__name__}."
        )
    return dataclasses.replace(settings, **overrides)
