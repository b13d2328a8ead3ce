"""One runner for every task: `run(task, cell, settings, out_dir)`.

The path of a run: `tf_nnrnn.experiments.tasks` gives the data sets,
`tf_nnrnn.experiments.models`
builds `keras.layers.RNN(cell)` and its head, `make_optimizer` routes the
orthogonal weights to their own learning rate, `model.fit` trains with a
Keras progress bar, and the run leaves in `out_dir`:

- `config.json`: every setting (written first; a resumed run must match);
- `metrics.csv`: one row per epoch (copy/adding: per `log_every` updates);
- `result.json`: task, cell, units, parameters, steps, epochs, seconds,
  final train loss, the task's test metric and its baseline;
- `learning_curve.png`;
- `backup/`: the training state after the last finished epoch
  (`tf_nnrnn.experiments.callbacks.AtomicBackup`: weights and optimizer state)
  while the
  run is unfinished, so re-running the same command resumes where it
  stopped;
- `best.weights.h5` (psMNIST, PTB): the best-validation weights, which the
  test uses.

PTB is validated and tested as in the reference code
(`tf_nnrnn.experiments.evaluation`): `eval_batch_size` streams, every character
scored
once, the state carried across segments.

A NaN loss raises `TrainingDiverged` and no result is written.
"""

from __future__ import annotations

import os
import platform
import re
import sys
from typing import Any

import keras
import tensorflow as tf

from tf_nnrnn.cells.registry import cell_names, get_cell
from tf_nnrnn.cells.skew_cell import DynamicTrivialization
from tf_nnrnn.experiments.callbacks import (
    BestWeights,
    MetricsCSV,
    NaNGuard,
    PlainProgress,
    ResetRNNState,
    TrainingDiverged,
    read_metrics_csv,
)
from tf_nnrnn.experiments.checkpoints import AtomicBackup, has_backup, resume
from tf_nnrnn.experiments.evaluation import StreamEvaluator, StreamValidation
from tf_nnrnn.experiments.models import build_model, free_parameters
from tf_nnrnn.experiments.presets import SettingError, Settings
from tf_nnrnn.experiments.results import atomic_write_json, plot_learning_curve
from tf_nnrnn.experiments.run_folder import RunFolder
from tf_nnrnn.experiments.schedules import PlateauDecay
from tf_nnrnn.experiments.tasks import TASK_NAMES, get_task
from tf_nnrnn.optimizers import make_optimizer

__all__ = [
    "run",
    "make_task",
    "compile_model",
    "load_metrics",
    "free_parameters",
    "TrainingDiverged",
]

# Settings that may change between an interrupted run and its resumption.
_RESUME_FREE = ("verbose", "jit", "distribute")


def make_task(task: str, settings: Settings):
    """The task object of `task` configured from `settings`.

    Raises:
        ValueError: unknown task or bad task argument.
        FileNotFoundError: the data set is not available.

    Example:
        >>> make_task("copy", Settings(time_lag=5)).sequence_length
        25
    """
    s = settings
    if task == "copy":
        return get_task(
            "copy",
            time_lag=s.time_lag,
            one_hot=s.one_hot,
            test_size=s.test_size,
        )
    if task == "adding":
        return get_task("adding", length=s.length, test_size=s.test_size)
    if task == "psmnist":
        return get_task(
            "psmnist",
            permutation_seed=s.permutation_seed,
            data_dir=s.data_dir,
            train_examples=s.train_examples,
            split=s.mnist_split,
        )
    if task == "ptb":
        return get_task(
            "ptb",
            data_dir=s.data_dir,
            bptt=s.bptt,
            embedding_dim=s.embedding_dim,
        )
    raise SettingError(
        "task",
        "Received an invalid value for argument `task`, expected one of "
        f"{list(TASK_NAMES)}, got {task!r}.",
    )


def compile_model(
    model: keras.Model, task: Any, settings: Settings, cell: str | None = None
) -> None:
    """Compile with the two-learning-rate optimizer and the task's loss.

    The orthogonal weights are those of the registry entry of `cell`
    (None: the one in the model's name, `{task}_{cell}` as `build_model`
    names it; else the registry-wide pattern), with the entry's
    `orthogonal_wrapper` (e.g. a Riemannian RMSprop for
    `rnn_orth_riemannian`'s recurrent kernel, RMSprop for the rest).
    """
    s = settings
    if cell is None:
        named = model.name.removeprefix(f"{getattr(task, 'name', '')}_")
        cell = named if named in cell_names() else None
    routing = {}
    if cell is not None:
        entry = get_cell(cell)
        routing = dict(
            pattern=entry.pattern, orthogonal_wrapper=entry.orthogonal_wrapper
        )
    kwargs: dict[str, Any] = {"epsilon": s.epsilon_value}
    if s.optimizer == "rmsprop":
        kwargs["rho"] = s.rho
    else:
        kwargs.update(beta_1=s.beta_1, beta_2=s.beta_2)
    if s.clip_norm is not None:
        kwargs["global_clipnorm"] = s.clip_norm
    optimizer = make_optimizer(
        s.optimizer, s.lr, s.lr_orth_value, **routing, **kwargs
    )
    model.compile(
        optimizer=optimizer,
        loss=task.loss(),
        metrics=task.metrics(),
        jit_compile=s.jit,
    )


def _check(task: str, cell: str, settings: Settings, task_obj: Any) -> None:
    for name in ("seed", "permutation_seed"):
        if getattr(settings, name) >= 2**32:
            raise SettingError(
                name,
                f"Received an invalid value for argument `{name}`, expected "
                f"an integer in [0, 2**32), got {getattr(settings, name)}.",
            )
    if settings.kernel_init is not None:
        try:
            keras.initializers.get(settings.kernel_init)
        except (ValueError, TypeError):
            raise SettingError(
                "kernel_init",
                "Received an invalid value for argument `kernel_init`, "
                "expected a Keras initializer name such as 'glorot_normal', "
                f"'he_normal' or 'orthogonal', got {settings.kernel_init!r}.",
            ) from None
    if cell not in cell_names():
        raise SettingError(
            "cell",
            "Received an invalid value for argument `cell`, expected one of "
            f"{list(cell_names())}, got {cell!r}.",
        )
    if task_obj.uses_steps and settings.steps is None:
        raise SettingError(
            "steps",
            f"Received an invalid value for argument `steps`, the {task} "
            "task needs the number of updates, got None.",
        )
    if task_obj.uses_steps and settings.epochs is not None:
        raise SettingError(
            "epochs",
            f"Received an invalid value for argument `epochs`: the {task} "
            "task draws fresh data for every update, so its length is set "
            f"with `steps` (updates); got epochs={settings.epochs}.",
        )
    if not task_obj.uses_steps and settings.epochs is None:
        raise SettingError(
            "epochs",
            f"Received an invalid value for argument `epochs`, the {task} "
            "task needs a number of epochs, got None.",
        )
    if getattr(task_obj, "stateful", False) and settings.distribute != "none":
        raise SettingError(
            "distribute",
            "Received an invalid value for argument `distribute`: the PTB "
            "model carries its hidden state across segments in per-batch "
            "state variables, which MirroredStrategy cannot split; accepted "
            f"for ptb: ['none'], got {settings.distribute!r}.",
        )


def _schedule(task_obj: Any, settings: Settings) -> tuple[int, int | None]:
    """`(epochs, steps_per_epoch)` of `model.fit`."""
    if task_obj.uses_steps:
        log_every = min(settings.log_every, settings.steps)
        while settings.steps % log_every:  # largest divisor <= log_every
            log_every -= 1
        return settings.steps // log_every, log_every
    return settings.epochs, None


_MIRRORED: list = []


# Cell arguments whose setting has another name.
_CELL_ARGS = {
    "skew_initializer": "skew_init",
    "kernel_initializer": "kernel_init",
}


def _build(task_obj: Any, cell: str, settings: Settings) -> keras.Model:
    """`build_model`, with a cell's argument errors named as settings."""
    try:
        return build_model(task_obj, cell, settings)
    except (ValueError, TypeError) as error:
        match = re.search(r"argument[s]? `(\w+)`", str(error))
        name = match and _CELL_ARGS.get(match.group(1), match.group(1))
        if name in Settings.__dataclass_fields__:
            raise SettingError(name, str(error)) from error
        raise


def _strategy(settings: Settings):
    """The distribution strategy; one MirroredStrategy per process (two
    instances in one process mix up their collective-op keys)."""
    if settings.distribute == "mirrored":
        if not _MIRRORED:
            _MIRRORED.append(tf.distribute.MirroredStrategy())
        return _MIRRORED[0]
    return tf.distribute.get_strategy()


def run(
    task: str,
    cell: str,
    settings: Settings | None = None,
    out_dir: str | None = None,
    callbacks: list | tuple = (),
    overwrite: bool = False,
) -> dict:
    """Train `cell` on `task` with `settings`; write and return the result.

    Args:
        task: one of `tf_nnrnn.experiments.tasks.TASK_NAMES`.
        cell: a registered cell name (`tf_nnrnn.cells.registry`).
        settings: a `tf_nnrnn.experiments.presets.Settings` (default: its
        defaults).
        out_dir: folder for the result files (None: nothing is written and
            no checkpoint is kept).
        callbacks: extra Keras callbacks (run after the built-in ones).
        overwrite: replace the run in `out_dir` (only the files a run
            writes; see `tf_nnrnn.experiments.run_folder`). Without it a
            finished run with the same settings is not trained again: its
            stored result is returned with `"reused": True`, an
            interrupted one resumes, and a run with other settings is
            refused.

    Returns:
        The result dictionary (also `out_dir/result.json`).

    Raises:
        SettingError: a bad setting (its `name` is the setting).
        FileNotFoundError: the task's data are not available.
        TrainingDiverged: the loss became NaN or infinite.

    Example:
        >>> from tf_nnrnn.experiments.presets import Settings
        >>> result = run("copy", "lstm", Settings(
        ...     time_lag=5, units=8, steps=4, log_every=2, test_size=8,
        ...     verbose=0))
        >>> sorted(result)[:3]
        ['baseline', 'cell', 'description']
    """
    settings = settings or Settings()
    if not isinstance(settings, Settings):
        raise TypeError(
            "Received an invalid value for argument `settings`, expected a "
            "tf_nnrnn.experiments.presets.Settings, got "
            f"{type(settings).__name__}."
        )
    task_obj = make_task(task, settings)
    _check(task, cell, settings, task_obj)
    epochs, steps_per_epoch = _schedule(task_obj, settings)
    config = {
        "task": task,
        "cell": cell,
        "settings": settings.to_dict(),
        "task_config": task_obj.config(),
        "steps_per_epoch": steps_per_epoch,
        "epochs": epochs,
    }
    keras.utils.set_random_seed(settings.seed)
    strategy = _strategy(settings)
    with strategy.scope():
        model = _build(task_obj, cell, settings)
        compile_model(model, task_obj, settings, cell)
    evaluator = None  # PTB: validation and test of whole streams
    if getattr(task_obj, "stateful", False):  # (checks eval_batch_size)
        evaluator = StreamEvaluator.for_task(task_obj, cell, settings)
    parts = (task_obj, cell, settings, config, model, evaluator, callbacks)
    if out_dir is None:
        return _train(*parts)
    folder = RunFolder(out_dir)
    state, result = folder.open(
        config, overwrite, _RESUME_FREE, Settings().to_dict()
    )
    try:
        if state == "finished":
            folder.clear_backup()  # killed after its result was written
            return {**result, "reused": True}
        return _train(*parts, folder)
    finally:
        folder.release()


def _train(
    task_obj, cell, settings, config, model, evaluator, callbacks, folder=None
):
    """Fit (resuming from `folder`'s checkpoint), evaluate, write."""
    strategy = _strategy(settings)
    task, epochs = config["task"], config["epochs"]
    steps_per_epoch = config["steps_per_epoch"]
    initial_epoch, initial_step, initial_seconds = 0, 0, 0.0
    if folder is not None:
        if has_backup(folder.backup_dir):
            with strategy.scope():
                initial_epoch, initial_step, initial_seconds = resume(
                    model, folder, config, settings.verbose
                )
        if not initial_epoch:
            folder.clear()
        atomic_write_json(folder.file("config.json"), config)

    seed, batch = settings.seed, settings.batch_size
    if task_obj.uses_steps:
        train = task_obj.train_dataset(
            batch, seed, start_step=initial_epoch * steps_per_epoch
        )
    else:
        train = task_obj.train_dataset(batch, seed)
        if settings.steps is not None:  # at most `steps` updates per epoch
            train = train.take(settings.steps)
    validation = None  # PTB: `StreamValidation` adds the val_ metrics
    if evaluator is None:
        validation = task_obj.validation_dataset(batch, seed)

    metrics_cb = MetricsCSV(
        None if folder is None else folder.file("metrics.csv"),
        initial_epoch,
        initial_step=initial_step,
        initial_seconds=initial_seconds,
    )
    if metrics_cb.lost_epochs and settings.verbose:
        print(
            f"warning: metrics.csv lacked the rows of {metrics_cb.lost_epochs} "
            "finished epoch(s); they are missing from it and its plot (the "
            "step count comes from the checkpoint).",
            file=sys.stderr,
        )
    # Order matters: metrics and best weights are written before the
    # backup commits an epoch, so a resumed run never misses their rows.
    cbs: list = [NaNGuard()]
    if evaluator is not None:
        cbs += [ResetRNNState(), StreamValidation(evaluator)]
    if settings.plateau_factor is not None:  # after the val_ metrics
        seen = [r["val_loss"] for r in metrics_cb.rows if "val_loss" in r]
        cbs.append(PlateauDecay(settings.plateau_factor, history=seen))
    if settings.trivialization == "dynamic":  # before the metrics/backup
        cbs.append(DynamicTrivialization())
    cbs.append(metrics_cb)
    best_path = None
    if folder is not None:
        if validation is not None or evaluator is not None:
            best_path = folder.file("best.weights.h5")
            cbs.append(_best_weights(best_path, task_obj, metrics_cb))
        cbs.append(AtomicBackup(folder.backup_dir, metrics_cb.progress))
    verbose = settings.verbose
    if verbose == 1 and not _is_terminal():  # no progress-bar escapes
        cbs.append(PlainProgress(epochs, metrics_cb))
        verbose = 0
    cbs.extend(callbacks)
    try:
        model.fit(
            train,
            initial_epoch=initial_epoch,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            validation_data=validation,
            callbacks=cbs,
            verbose=verbose,
            shuffle=False,
        )
    except tf.errors.InvalidArgumentError as error:
        if "not finite" not in str(error):
            raise
        cause = next(
            line.strip()
            for line in str(error.message).splitlines()
            if "not finite" in line
        )
        raise TrainingDiverged(
            f"training stopped: {cause}; no results were written."
        ) from None
    if best_path is not None and os.path.exists(best_path):
        model.load_weights(best_path)
    if evaluator is not None:
        test_logs = evaluator.evaluate(model, "test")
    else:
        test = task_obj.test_dataset(batch, seed)
        test_logs = model.evaluate(test, return_dict=True, verbose=0)
    summary = task_obj.summarize(test_logs)
    rows = metrics_cb.rows
    last = rows[-1] if rows else {}
    result = {
        "task": task,
        "cell": cell,
        "units": settings.units,
        "parameters": int(model.count_params()),
        "free_parameters": free_parameters(model),
        "steps": metrics_cb.step_count,
        "epochs": metrics_cb.epoch_count,
        "seconds": round(metrics_cb.seconds, 3),
        "final_train_loss": last.get("loss"),
        "final_train_metrics": {
            k: v
            for k, v in last.items()
            if k not in ("epoch", "step", "seconds")
        },
        **summary,
        "description": task_obj.describe(summary),
        "resumed_from_epoch": initial_epoch,
        "replicas": int(strategy.num_replicas_in_sync),
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "python": platform.python_version(),
        },
    }
    if folder is not None:
        plot_learning_curve(
            folder.file("learning_curve.png"), rows, task_obj, cell,
            test=summary,
        )
        atomic_write_json(folder.file("result.json"), result)
        folder.clear_backup()  # the run is complete
    return result


def _is_terminal() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def _best_weights(path: str, task_obj: Any, metrics_cb: MetricsCSV):
    monitor = "val_" + task_obj.monitor_metric
    mode = "max" if "accuracy" in monitor else "min"
    seen = [r[monitor] for r in metrics_cb.rows if monitor in r]
    best = None
    if seen:  # resumed: only improve on what the first run saved
        best = max(seen) if mode == "max" else min(seen)
    return BestWeights(path, monitor, mode, best)


def load_metrics(out_dir: str) -> list[dict]:
    """The rows of `out_dir/metrics.csv`."""
    return read_metrics_csv(os.path.join(out_dir, "metrics.csv"))
