"""The search space of `RNNHyperModel`: parsing and checking user specs.

A search space entry is `True` (the default range), `None` (not searched:
the base setting), a number or name (fixed), `[min, max]` (log scale for
`lr`, `lr_orth`, `delta`, `t_decay`, linear for `rho`), a dict
`{"min", "max", "sampling", "default"}` or `{"choices": [...]}`, or a list
of names for `skew_init`; a `keras_tuner.HyperParameters` works too.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import keras_tuner as kt

from tf_nnrnn import initializers
from tf_nnrnn._keras_private import keras_tuner_hyperparameter_classes
from tf_nnrnn.cells.registry import cell_names, get_cell, orthogonal_cells
from tf_nnrnn.experiments.presets import (  # noqa: F401 (re-exported)
    ORTHOGONAL_CELLS,
    SettingError,
)
from tf_nnrnn.validation import invalid, is_number

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
_LOG_NAMES = ("lr", "lr_orth", "delta", "t_decay")
_SKEW_CHOICES = ["cayley", "henaff", "random_orthogonal"]


class SearchSpaceMixin:
    """Builds `self.hyperparameters` from a user's spec.

    Needs `self.cell`, `self.settings` and `self.paper` (the paper's
    settings for the task and cell, or None).
    """

    # The search space.

    def _relevant(self, name: str) -> str | None:
        """Why `name` does nothing for this cell, or None."""
        entry = get_cell(self.cell)
        if name == "lr_orth" and not entry.orthogonal:
            return f"only affects the cells {list(orthogonal_cells())}"
        if name in ("skew_init", "delta", "t_decay") and name not in (
            entry.reads
        ):
            users = [n for n in cell_names() if name in get_cell(n).reads]
            return f"only affects the cells {users}"
        if name == "rho" and self.settings.optimizer != "rmsprop":
            return "is RMSprop's smoothing, the optimizer is adam"
        return None

    def _defaults(self) -> dict:
        ref = self.paper or {}
        lr0 = ref.get("lr") or self.settings.lr
        orth0 = ref.get("lr_orth")  # None in a preset: lr / 10
        if orth0 is None:
            orth0 = lr0 / 10 if "lr" in ref else self.settings.lr_orth_value
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
        if get_cell(self.cell).orthogonal:
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
                raise invalid("search_space", f"keys among {SEARCHABLE}", name)
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
                raise invalid(key, "an initializer name", value)
            initializers.get(value)
            return
        if not is_number(value):
            raise invalid(key, "a finite number", value)
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
                raise invalid(
                    key,
                    "a dict with 'min', 'max' (and 'sampling', 'default')",
                    spec,
                )
            low, high = spec["min"], spec["max"]
            sampling = spec.get("sampling")
            default = spec.get("default")
        else:
            if len(spec) != 2:
                raise invalid(key, "[min, max]", spec)
            (low, high), sampling, default = spec, None, None
        sampling = sampling or ("log" if name in _LOG_NAMES else "linear")
        if sampling not in ("log", "linear"):
            raise invalid(f"{key}['sampling']", "'log' or 'linear'", sampling)
        for bound in (low, high):
            self._check_value(key, name, bound)
        if not low < high:
            raise ValueError(
                f"Received an invalid value for argument `{key}`, expected "
                f"min < max, got min={low!r}, max={high!r}."
            )
        if sampling == "log" and low <= 0:
            raise invalid(key, "min > 0 on a log scale", low)
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
            raise invalid(key, "{'choices': [...], 'default': ...}", spec)
        if len(values) < 1 or len(set(values)) != len(values):
            raise invalid(key, "a non-empty list of distinct choices", values)
        for value in values:
            self._check_value(key, name, value)
        default = spec.get("default")
        space.Choice(
            name,
            list(values),
            default=default if default in values else values[0],
        )


def _spec_of(p) -> Any:
    """A `keras_tuner` entry as a search space spec (checked like one)."""
    c = p.get_config()
    fixed, choice, floating = keras_tuner_hyperparameter_classes()
    if c.get("conditions"):
        raise invalid(f"search_space[{p.name!r}]", "an unconditional entry", p)
    if isinstance(p, fixed):
        return c["value"]
    if isinstance(p, choice):
        return {"choices": c["values"], "default": c["default"]}
    if isinstance(p, floating) and c["step"] is None:
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
    fixed, choice, _ = keras_tuner_hyperparameter_classes()
    if isinstance(p, fixed):
        return hp.Fixed(c["name"], c["value"])
    if isinstance(p, choice):
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
