"""Argument checks shared by the whole package, with Keras-style messages.

Every message names the argument, what is accepted and what was received:
``Received an invalid value for argument `units`, expected a positive
integer, got 0.`` A wrong *type* raises `TypeError`, a value of the right
type out of range `ValueError` (both can be customised with `error=`, e.g.
the experiment side's `SettingError`).

Example:
    >>> check_int("units", 8)
    8
    >>> check_int("units", 0)
    Traceback (most recent call last):
    ...
    ValueError: Received an invalid value for argument `units`, expected a positive integer, got 0.
"""  # noqa: E501

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = [
    "invalid",
    "is_number",
    "check_int",
    "check_float",
    "check_bool",
    "check_choice",
    "check_rate",
    "check_units",
]


def invalid(
    name: str,
    expected: str,
    value: Any,
    error: Callable[[str], Exception] = ValueError,
) -> Exception:
    """The exception for argument `name`: expected `expected`, got `value`.

    Args:
        name: the argument's name.
        expected: what is accepted, e.g. `"a positive integer"`.
        value: what was received (shown with `repr`).
        error: the exception type (or a callable taking the message).

    Example:
        >>> str(invalid("rate", "a float in [0, 1)", 2.0))
        'Received an invalid value for argument `rate`, expected a float in [0, 1), got 2.0.'
    """  # noqa: E501
    return error(
        f"Received an invalid value for argument `{name}`, expected "
        f"{expected}, got {value!r}."
    )


def is_number(value: Any) -> bool:
    """True for a finite real number (bools excluded).

    Example:
        >>> is_number(1e-3), is_number(True), is_number(float("nan"))
        (True, False, False)
    """
    return _is_real(value) and math.isfinite(value)


def _is_real(value: Any) -> bool:
    return isinstance(
        value, (int, float, np.integer, np.floating)
    ) and not isinstance(value, (bool, np.bool_))


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def check_int(
    name: str,
    value: Any,
    minimum: int | None = 1,
    maximum: int | None = None,
    error: Callable[[str], Exception] | None = None,
) -> int:
    """`value` as an int in `[minimum, maximum]`, else an error naming it.

    Args:
        name: the argument's name.
        value: the value received.
        minimum: smallest accepted value (None: no bound). Defaults to 1.
        maximum: largest accepted value (None: no bound).
        error: the exception type for every failure (default: TypeError
            for a non-integer, ValueError out of range).

    Example:
        >>> check_int("num_negative_ones", 3, minimum=0, maximum=4)
        3
    """
    if maximum is not None and minimum is not None:
        expected = f"an integer in [{minimum}, {maximum}]"
    elif maximum is not None:
        expected = f"an integer <= {maximum}"
    elif minimum == 1:
        expected = "a positive integer"
    elif minimum is not None:
        expected = f"an integer >= {minimum}"
    else:
        expected = "an integer"
    if not _is_int(value):
        raise invalid(name, expected, value, error or TypeError)
    if (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        raise invalid(name, expected, value, error or ValueError)
    return int(value)


def check_float(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    low_closed: bool = False,
    high_closed: bool = True,
    error: Callable[[str], Exception] | None = None,
) -> float:
    """`value` as a finite float in the interval `(low, high]` (by default).

    Args:
        name: the argument's name.
        value: the value received.
        low, high: the bounds (None: unbounded).
        low_closed, high_closed: whether each bound is included.
        error: the exception type for every failure (default: TypeError
            for a non-number, ValueError out of range).

    Example:
        >>> check_float("dropout", 0.5, 0.0, 1.0, True, False)
        0.5
    """
    if low is None and high is None:
        expected = "a finite number"
    elif high is None:
        expected = f"a number {'>=' if low_closed else '>'} {low}"
    elif low is None:
        expected = f"a number {'<=' if high_closed else '<'} {high}"
    else:
        left = "[" if low_closed else "("
        right = "]" if high_closed else ")"
        expected = f"a number in {left}{low}, {high}{right}"
    if not _is_real(value):
        raise invalid(name, expected, value, error or TypeError)
    ok = math.isfinite(value)
    if low is not None:
        ok = ok and (value >= low if low_closed else value > low)
    if high is not None:
        ok = ok and (value <= high if high_closed else value < high)
    if not ok:
        raise invalid(name, expected, value, error or ValueError)
    return float(value)


def check_units(units: Any, even: bool = False) -> int:
    """`units`: a positive integer (even when `even`), else a ValueError.

    Example:
        >>> check_units(8, even=True)
        8
    """
    units = check_int("units", units, 1, error=ValueError)
    if even and units % 2:
        raise invalid(
            "units", "an even positive integer (Λ is made of 2×2 blocks)", units
        )
    return units


def check_rate(name: str, value: Any) -> float:
    """A dropout rate: a float in [0, 1).

    Example:
        >>> check_rate("dropout", 0)
        0.0
    """
    return check_float(name, value, 0.0, 1.0, True, False)


def check_bool(name: str, value: Any) -> bool:
    """`value` if it is a bool, else a TypeError naming `name`.

    Example:
        >>> check_bool("one_hot", True)
        True
    """
    if not isinstance(value, bool):
        raise invalid(name, "a bool", value, TypeError)
    return value


def check_choice(
    name: str,
    value: Any,
    choices: Iterable,
    error: Callable[[str], Exception] = ValueError,
) -> Any:
    """`value` if it is one of `choices`, else an error listing them.

    Example:
        >>> check_choice("triangular_mask", "block", ("block", "strict"))
        'block'
    """
    choices = list(choices)
    if value not in choices:
        raise invalid(name, f"one of {choices}", value, error)
    return value
