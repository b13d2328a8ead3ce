"""Keras Tuner search over the learning rates of a cell on a task.

`RNNHyperModel.build(hp)` draws the learning rate `lr` and the orthogonal
learning rate `lr_orth` on log scales (and, when asked, `delta`, `t_decay`,
`rho`, `skew_init`) and builds the model with `tf_nnrnn.models.build_model`;
`fit(hp, model)` trains through `tf_nnrnn.training.run` (the runner of the
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

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
from typing import Any

import keras
import keras_tuner as kt

from tf_nnrnn import initializers, training
from tf_nnrnn.callbacks import read_metrics_csv
from tf_nnrnn.models import CELL_NAMES, build_model
from tf_nnrnn.presets import SettingError, Settings, paper_settings, resolve
from tf_nnrnn.results import atomic_write_json
from tf_nnrnn.tasks import TASK_NAMES

__all__ = [
    "RNNHyperModel",
    "make_tuner",
    "search_role",
    "OBJECTIVES",
    "SEARCHABLE",
    "TUNERS",
]

#: The task's objective: (name, direction).
OBJECTIVES = {
    "copy": ("test_loss", "min"),
    "adding": ("test_mse", "min"),
    "psmnist": ("val_accuracy", "max"),
    "ptb": ("val_bpc", "min"),
}
TUNERS = ("random", "bayesian", "hyperband")
#: Settings a search space may name.
SEARCHABLE = ("lr", "lr_orth", "delta", "t_decay", "rho", "skew_init")
ORTHOGONAL_CELLS = ("nnrnn", "exprnn", "scornn")
_LOG_NAMES = ("lr", "lr_orth", "delta", "t_decay")
_SKEW_CHOICES = ["cayley", "henaff", "random_orthogonal"]
#: File of the project folder recording the search's settings.
SEARCH_CONFIG = "tf_nnrnn_search.json"


def _bad(name: str, expected: str, value: Any) -> ValueError:
    return ValueError(
        f"Received an invalid value for argument `{name}`, expected "
        f"{expected}, got {value!r}."
    )


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def search_role() -> str:
    """`"single"`, `"chief"` or `"worker"`, from Keras Tuner's variables.

    Distributed search: `KERASTUNER_ORACLE_IP` set, `KERASTUNER_TUNER_ID`
    containing "chief" for the oracle's process.

    Example:
        >>> search_role() in ("single", "chief", "worker")
        True
    """
    if not os.environ.get("KERASTUNER_ORACLE_IP"):
        return "single"
    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "")
    return "chief" if "chief" in tuner_id else "worker"


class RNNHyperModel(kt.HyperModel):
    """The learning rates (and more) of `cell` on `task` as a search space.

    Default space: `lr` log-uniform in `[lr0 / 10, 10 lr0]` and (orthogonal
    cells) `lr_orth` log-uniform in `[min(o0, lr0/10) / 10, 10 max(o0,
    lr0/10)]`, where `lr0`, `o0` are the paper's values for (task, cell)
    (`tf_nnrnn.presets.paper_settings`) or else the base settings'.

    Args:
        task: one of `tf_nnrnn.tasks.TASK_NAMES`.
        cell: one of `tf_nnrnn.models.CELL_NAMES`.
        units: hidden units (overrides `settings.units`), or None.
        search_space: None (the default space), a dict `{name: spec}` over
            `SEARCHABLE` (see the module docstring) or a
            `keras_tuner.HyperParameters`; entries not given keep the
            default space.
        settings: the base `tf_nnrnn.presets.Settings` of every trial, a
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
            raise _bad("task", f"one of {list(TASK_NAMES)}", task)
        if cell not in CELL_NAMES:
            raise _bad("cell", f"one of {list(CELL_NAMES)}", cell)
        self.task, self.cell = task, cell
        self.settings = _base_settings(task, cell, units, settings)
        task_obj = training.make_task(task, self.settings)
        needed = "steps" if task_obj.uses_steps else "epochs"
        if getattr(self.settings, needed) is None:
            raise _bad(f"settings.{needed}", "a positive integer", None)
        self.uses_steps = task_obj.uses_steps
        try:
            self.paper = paper_settings(task, cell)
        except SettingError:
            self.paper = None
        self.objective = kt.Objective(*OBJECTIVES[task])
        self.hyperparameters = self._make_space(search_space)

    # The search space.

    def _relevant(self, name: str) -> str | None:
        """Why `name` does nothing for this cell, or None."""
        if name in ("lr_orth", "skew_init") and self.cell not in (
            ORTHOGONAL_CELLS
        ):
            return f"only affects the cells {list(ORTHOGONAL_CELLS)}"
        if name in ("delta", "t_decay") and self.cell != "nnrnn":
            return "only affects the nnrnn cell"
        if name == "rho" and self.settings.optimizer != "rmsprop":
            return "is RMSprop's smoothing, the optimizer is adam"
        return None

    def _defaults(self) -> dict:
        ref = self.paper or {}
        lr0 = ref.get("lr", self.settings.lr)
        orth0 = ref.get("lr_orth", self.settings.lr_orth_value)
        rho0 = self.settings.rho
        skew0 = self.settings.skew_init or "cayley"
        return {
            "lr": {"min": lr0 / 10, "max": lr0 * 10, "default": lr0},
            "lr_orth": {
                "min": min(orth0, lr0 / 10) / 10,
                "max": max(orth0, lr0 / 10) * 10,
                "default": orth0,
            },
            "delta": {"min": 1e-5, "max": 1.0, "default": ref.get("delta")},
            "t_decay": {
                "min": 1e-7,
                "max": 1e-3,
                "default": ref.get("t_decay"),
            },
            "rho": {"choices": sorted({0.9, 0.99, rho0}), "default": rho0},
            "skew_init": {
                "choices": sorted({*_SKEW_CHOICES, skew0}),
                "default": skew0,
            },
        }

    def _make_space(self, search_space) -> kt.HyperParameters:
        defaults = self._defaults()
        entries: dict[str, Any] = {"lr": True}
        if self.cell in ORTHOGONAL_CELLS:
            entries["lr_orth"] = True
        given = search_space
        if isinstance(search_space, kt.HyperParameters):
            given = {p.name: _spec_of(p) for p in search_space.space}
        elif search_space is not None and not isinstance(search_space, dict):
            raise TypeError(
                "Received an invalid value for argument `search_space`, "
                "expected None, a dict or a keras_tuner.HyperParameters, got "
                f"{type(search_space).__name__}."
            )
        for name, spec in (given or {}).items():
            if name not in SEARCHABLE:
                raise _bad("search_space", f"keys among {SEARCHABLE}", name)
            if spec is not None and spec is not False:
                why = self._relevant(name)
                if why:
                    raise ValueError(
                        "Received an invalid value for argument "
                        f"`search_space`: {name!r} {why}; got cell "
                        f"{self.cell!r}."
                    )
            entries[name] = spec
        space = kt.HyperParameters()
        for name, spec in entries.items():
            if spec is None or spec is False:
                continue
            if spec is True:
                spec = defaults[name]
            self._add(space, name, spec)
        return space

    def _check_value(self, key: str, name: str, value: Any) -> None:
        """`value` must be a valid setting `name` (checked by Settings)."""
        if name == "skew_init":
            if not isinstance(value, str):
                raise _bad(key, "an initializer name", value)
            initializers.get(value)
            return
        if not _is_number(value):
            raise _bad(key, "a finite number", value)
        try:
            dataclasses.replace(self.settings, **{name: value})
        except SettingError as error:
            message = str(error).replace(f"`{name}`", f"`{key}`")
            raise ValueError(message) from None

    def _add(self, space, name: str, spec: Any) -> None:
        key = f"search_space[{name!r}]"
        if isinstance(spec, dict) and "choices" in spec:
            self._add_choice(space, name, spec, key)
        elif isinstance(spec, (dict, list, tuple)) and name != "skew_init":
            self._add_range(space, name, spec, key)
        elif isinstance(spec, (list, tuple)):
            self._add_choice(space, name, {"choices": list(spec)}, key)
        else:
            self._check_value(key, name, spec)
            space.Fixed(name, spec)

    def _add_range(self, space, name: str, spec: Any, key: str) -> None:
        if isinstance(spec, dict):
            unknown = set(spec) - {"min", "max", "sampling", "default"}
            if unknown or not {"min", "max"} <= set(spec):
                raise _bad(
                    key,
                    "a dict with 'min', 'max' (and 'sampling', 'default')",
                    spec,
                )
            low, high = spec["min"], spec["max"]
            sampling = spec.get("sampling")
            default = spec.get("default")
        else:
            if len(spec) != 2:
                raise _bad(key, "[min, max]", spec)
            (low, high), sampling, default = spec, None, None
        sampling = sampling or ("log" if name in _LOG_NAMES else "linear")
        if sampling not in ("log", "linear"):
            raise _bad(f"{key}['sampling']", "'log' or 'linear'", sampling)
        for bound in (low, high):
            self._check_value(key, name, bound)
        if not low < high:
            raise ValueError(
                f"Received an invalid value for argument `{key}`, expected "
                f"min < max, got min={low!r}, max={high!r}."
            )
        if sampling == "log" and low <= 0:
            raise _bad(key, "min > 0 on a log scale", low)
        if default is None or not low <= default <= high:
            default = (
                math.sqrt(low * high) if sampling == "log" else (low + high) / 2
            )
        space.Float(
            name,
            float(low),
            float(high),
            sampling=sampling,
            default=float(default),
        )

    def _add_choice(self, space, name: str, spec: dict, key: str) -> None:
        values = spec["choices"]
        if set(spec) - {"choices", "default"} or not isinstance(
            values, (list, tuple)
        ):
            raise _bad(key, "{'choices': [...], 'default': ...}", spec)
        if len(values) < 1 or len(set(values)) != len(values):
            raise _bad(key, "a non-empty list of distinct choices", values)
        for value in values:
            self._check_value(key, name, value)
        default = spec.get("default")
        space.Choice(
            name,
            list(values),
            default=default if default in values else values[0],
        )

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
        """Train through `tf_nnrnn.training.run`; the trial's metrics.

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
            if k.startswith("test_") and _is_number(v)
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


def _spec_of(p) -> Any:
    """A `keras_tuner` entry as a search space spec (checked like one)."""
    c = p.get_config()
    hps = kt.engine.hyperparameters
    if c.get("conditions"):
        raise _bad(f"search_space[{p.name!r}]", "an unconditional entry", p)
    if isinstance(p, hps.Fixed):
        return c["value"]
    if isinstance(p, hps.Choice):
        return {"choices": c["values"], "default": c["default"]}
    if isinstance(p, hps.Float) and c["step"] is None:
        keys = ("min_value", "max_value", "sampling", "default")
        return dict(
            zip(("min", "max", "sampling", "default"), map(c.get, keys))
        )
    raise TypeError(
        f"Received an invalid value for argument `search_space[{p.name!r}]`, "
        f"expected a Float (no step), Choice or Fixed, got {p!r}."
    )


def _draw(hp: kt.HyperParameters, p) -> Any:
    """Register (or read) the entry `p` in `hp`, as `hp.Float` etc. do."""
    c = p.get_config()
    if isinstance(p, kt.engine.hyperparameters.Fixed):
        return hp.Fixed(c["name"], c["value"])
    if isinstance(p, kt.engine.hyperparameters.Choice):
        return hp.Choice(
            c["name"], c["values"], ordered=c["ordered"], default=c["default"]
        )
    return hp.Float(
        c["name"],
        c["min_value"],
        c["max_value"],
        step=c["step"],
        sampling=c["sampling"],
        default=c["default"],
    )


def _steps_per_epoch(steps: int, log_every: int) -> int:
    """Updates per runner epoch (as `tf_nnrnn.training` schedules them)."""
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
            "None, a dict or a tf_nnrnn.presets.Settings, got "
            f"{type(settings).__name__}."
        )
    return dataclasses.replace(settings, **overrides)


def make_tuner(
    hypermodel: RNNHyperModel,
    tuner: str = "random",
    max_trials: int = 10,
    directory: str = "tuning",
    project_name: str | None = None,
    overwrite: bool = False,
    seed: int | None = None,
    max_epochs: int | None = None,
    factor: int = 3,
    max_consecutive_failed_trials: int = 3,
) -> kt.Tuner:
    """A Keras Tuner tuner of `hypermodel`: random, bayesian or hyperband.

    Re-creating it with the same `directory` and `project_name` continues
    the search (finished trials are kept, an interrupted one is rerun and
    its run resumes from its checkpoint); `overwrite=True` starts over.
    In a distributed search (`KERASTUNER_*` variables) `overwrite` applies
    to the chief only.

    Args:
        hypermodel: an `RNNHyperModel`.
        tuner: `"random"`, `"bayesian"` or `"hyperband"`.
        max_trials: positive integer, the number of trials (Hyperband: at
            most this many).
        directory: folder of the search.
        project_name: default `"<task>_<cell>"`.
        overwrite: start over.
        seed: the oracle's random seed.
        max_epochs: Hyperband's largest budget in runner epochs (default:
            the base settings' full run).
        factor: Hyperband's reduction factor.
        max_consecutive_failed_trials: stop after this many failed trials
            in a row (e.g. diverged ones).

    Example:
        >>> hm = RNNHyperModel("copy", "nnrnn", units=8)
        >>> t = make_tuner(hm, "random", 2, "/tmp/tf_nnrnn_tuning_example",
        ...                overwrite=True)
        >>> t.oracle.max_trials
        2
    """
    if not isinstance(hypermodel, RNNHyperModel):
        raise TypeError(
            "Received an invalid value for argument `hypermodel`, expected "
            f"an RNNHyperModel, got {type(hypermodel).__name__}."
        )
    if tuner not in TUNERS:
        raise _bad("tuner", f"one of {list(TUNERS)}", tuner)
    if importlib.util.find_spec("tensorboard") is None:
        # keras_tuner's Tuner.run_trial imports it on the TensorFlow backend.
        raise ImportError(
            "keras_tuner needs the `tensorboard` package with the TensorFlow "
            "backend: pip install tensorboard."
        )
    for name, value, low in (
        ("max_trials", max_trials, 1),
        ("factor", factor, 2),
        ("max_epochs", 1 if max_epochs is None else max_epochs, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise _bad(name, f"an integer >= {low}", value)
    project_name = project_name or f"{hypermodel.task}_{hypermodel.cell}"
    role = search_role()
    config = _search_config(hypermodel, tuner, max_epochs, factor)
    path = os.path.join(directory, project_name, SEARCH_CONFIG)
    if os.path.exists(path) and not (overwrite and role != "worker"):
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
        if old != config:
            changed = sorted(
                k for k in config if k != "settings" and old.get(k) != config[k]
            )
            before = old.get("settings", {})
            changed += sorted(
                k for k, v in config["settings"].items() if before.get(k) != v
            )
            raise ValueError(
                "Received an invalid value for argument `directory`: "
                f"{os.path.join(directory, project_name)!r} holds another "
                f"search (different {', '.join(changed)}); rerun it with the "
                "same settings, choose another folder or overwrite it."
            )
    common = dict(
        hypermodel=hypermodel,
        objective=hypermodel.objective,
        hyperparameters=hypermodel.hyperparameters.copy(),
        seed=seed,
        directory=directory,
        project_name=project_name,
        overwrite=overwrite and role != "worker",
        max_consecutive_failed_trials=max_consecutive_failed_trials,
    )
    if tuner == "random":
        result = kt.RandomSearch(max_trials=max_trials, **common)
    elif tuner == "bayesian":
        result = kt.BayesianOptimization(max_trials=max_trials, **common)
    else:
        result = kt.Hyperband(
            max_epochs=config["max_epochs"], factor=factor, **common
        )
        if role != "worker":
            result.oracle.max_trials = max_trials
    if role != "worker":
        atomic_write_json(path, config)
    return result


def _search_config(hypermodel, tuner, max_epochs, factor) -> dict:
    """What must not change when a search is continued."""
    free = ("verbose", "jit", "distribute")
    settings = hypermodel.settings.to_dict()
    config = {
        "task": hypermodel.task,
        "cell": hypermodel.cell,
        "tuner": tuner,
        "settings": {k: v for k, v in settings.items() if k not in free},
        "search_space": hypermodel.hyperparameters.get_config(),
    }
    if tuner == "hyperband":
        config.update(max_epochs=max_epochs or hypermodel.max_epochs)
        config.update(factor=factor)
    return json.loads(json.dumps(config))
