"""Keras Tuner tuners of an `RNNHyperModel`, alone or chief/worker."""

from __future__ import annotations

import importlib.util
import json
import os

import keras_tuner as kt

from tf_nnrnn.experiments.results import atomic_write_json
from tf_nnrnn.experiments.tuning.hypermodel import RNNHyperModel
from tf_nnrnn.experiments.tuning.space import TUNERS
from tf_nnrnn.validation import check_int, invalid

__all__ = ["make_tuner", "search_role", "SEARCH_CONFIG"]

#: File of the project folder recording the search's settings.
SEARCH_CONFIG = "tf_nnrnn_search.json"


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
        >>> import tempfile
        >>> hm = RNNHyperModel("copy", "nnrnn", units=8)
        >>> t = make_tuner(hm, "random", 2, tempfile.mkdtemp())
        >>> t.oracle.max_trials
        2
    """
    if not isinstance(hypermodel, RNNHyperModel):
        raise TypeError(
            "Received an invalid value for argument `hypermodel`, expected "
            f"an RNNHyperModel, got {type(hypermodel).__name__}."
        )
    if tuner not in TUNERS:
        raise invalid("tuner", f"one of {list(TUNERS)}", tuner)
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
        check_int(name, value, low, error=ValueError)
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
