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
import os
import re
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
    "check_pattern",
    "check_float_dtype",
    "check_matrix_fits",
    "available_memory",
    "check_step_shapes",
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


def check_pattern(name: str, value: Any) -> str | None:
    """`value` if it is None or a valid regular expression, else an error.

    A TypeError for a non-string, a ValueError (with `re`'s reason) for a
    string that does not compile, so that a bad pattern fails where it is
    given, not inside the first `fit`.

    Example:
        >>> check_pattern("pattern", r".*skew_kernel")
        '.*skew_kernel'
        >>> check_pattern("pattern", "[")
        Traceback (most recent call last):
        ...
        ValueError: Received an invalid value for argument `pattern`, expected a valid regular expression (unterminated character set at position 0), got '['.
    """  # noqa: E501
    if value is None:
        return None
    if not isinstance(value, str):
        expected = "a regular expression string or None"
        raise invalid(name, expected, value, TypeError)
    try:
        re.compile(value)
    except re.error as err:
        raise invalid(
            name, f"a valid regular expression ({err})", value
        ) from None
    return value


#: Where a half-precision dtype is refused: the policies that work.
_MIXED_HINT = (
    'for half precision use a mixed precision policy, dtype="mixed_float16" '
    'or "mixed_bfloat16" (variables and the parametrization in float32, '
    "the steps in 16 bits)"
)


def check_float_dtype(owner: str, policy: Any, allowed: Iterable[str]) -> None:
    """Reject a dtype policy whose *variable* dtype is not in `allowed`.

    Cells call this on `self.dtype_policy` in `__init__`, so that
    `dtype="float16"` or `"int32"` fails at once with a message pointing to
    the mixed precision policies (which work), not deep inside TensorFlow
    (`MatrixSolve[T=DT_HALF]`, `Need minval < maxval`) at the first call.

    Args:
        owner: the class name, for the message.
        policy: a `keras.DTypePolicy` (or anything with `variable_dtype` and
            `name`).
        allowed: the variable dtypes that work.

    Example:
        >>> import keras
        >>> check_float_dtype("Cell", keras.DTypePolicy("mixed_float16"),
        ...                   ("float32", "float64"))
        >>> check_float_dtype("Cell", keras.DTypePolicy("float16"),
        ...                   ("float32", "float64"))
        Traceback (most recent call last):
        ...
        ValueError: Received an invalid value for argument `dtype`, expected a policy whose variables are float32 or float64 for Cell; for half precision use a mixed precision policy, dtype="mixed_float16" or "mixed_bfloat16" (variables and the parametrization in float32, the steps in 16 bits), got 'float16'.
    """  # noqa: E501
    allowed = tuple(allowed)
    if policy.variable_dtype in allowed:
        return
    names = ", ".join(allowed[:-1]) + " or " * (len(allowed) > 1)
    expected = (
        f"a policy whose variables are {names}{allowed[-1]} for {owner}; "
        + _MIXED_HINT
    )
    raise invalid("dtype", expected, policy.name)


def available_memory() -> int | None:
    """Bytes of memory available now (`MemAvailable`), or None if unknown.

    Read from `/proc/meminfo` (Linux), else from `os.sysconf` (available
    physical pages times the page size); None where neither exists.

    Example:
        >>> memory = available_memory()
        >>> memory is None or memory > 0
        True
    """
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    if pages <= 0 or size <= 0:
        return None
    return pages * size


def check_matrix_fits(
    name: str,
    value: int,
    rows: int,
    columns: int,
    itemsize: int,
    count: int = 1,
    what: str = "matrix",
) -> None:
    """A ValueError naming `name` when `count` `rows × columns` matrices
    cannot fit in the memory available now.

    A lower bound on what a cell needs (the weights it is about to create,
    not the temporaries of a forward pass), so that a size that cannot fit
    fails at once with the size, instead of allocating for tens of seconds
    and dying out of memory; sizes that fit are never refused. Nothing is
    checked where the available memory is unknown.

    Args:
        name: the argument that sets the size (e.g. `"units"`).
        value: its value, for the message.
        rows, columns: the matrix's shape.
        itemsize: bytes per entry.
        count: how many such matrices must exist at once.
        what: what the matrix is, for the message.

    Example:
        >>> check_matrix_fits("units", 4096, 4096, 4096, 4, count=2)
    """
    available = available_memory()
    size = rows * columns * itemsize
    if available is None or size * count <= available:
        return
    raise invalid(
        name,
        f"a size whose {what} fits in memory: {rows} × {columns} entries "
        f"of {itemsize} bytes take {_bytes(size)} each, at least {count} "
        f"are needed ({_bytes(size * count)}) and {_bytes(available)} are "
        "available",
        value,
    )


def _bytes(size: float) -> str:
    """`1.5 GiB`, `363.8 TiB`: a size in the largest unit below it."""
    units = ("KiB", "MiB", "GiB", "TiB", "PiB")
    for unit in units:
        size /= 1024.0
        if size < 1024.0 or unit == units[-1]:
            return f"{size:,.1f} {unit}"


def _shape(shape) -> str:
    """`(2, 5, 3)`, `(batch, 3)`: a shape as Python prints a tuple."""
    return str(tuple(shape)).replace("'", "")


def check_step_shapes(
    owner: str,
    features: int,
    inputs_shape,
    states=(),
    inputs: str = "inputs",
    state: str = "states",
) -> None:
    """Inputs with `features` features and states `(batch, size)`, else a
    ValueError naming the argument, the expected and the received shapes.

    Called by the cells' `call` and the fused layers before any matmul, so
    that features that changed after `build` or an `initial_state` of the
    wrong size do not end in TensorFlow's `Matrix size-incompatible`.
    Unknown dimensions are not checked.

    Args:
        owner: the class name, for the message.
        features: the input features the layer was built for.
        inputs_shape: `(batch, features)` (a step) or `(batch, time,
            features)` (a sequence).
        states: `(shape, size)` pairs, one per state.
        inputs, state: the arguments' names in the messages.

    Example:
        >>> check_step_shapes("Cell", 3, (2, 5, 4), inputs="sequences")
        Traceback (most recent call last):
        ...
        ValueError: Received an invalid value for argument `sequences`, expected shape (batch, time, 3) (Cell was built for 3 input features), got shape (2, 5, 4).
    """  # noqa: E501
    got = tuple(inputs_shape)
    if got and got[-1] is not None and got[-1] != features:
        want = ("batch", "time")[: max(len(got) - 1, 0)] + (features,)
        raise ValueError(
            f"Received an invalid value for argument `{inputs}`, expected "
            f"shape {_shape(want)} ({owner} was built for {features} input "
            f"features), got shape {_shape(got)}."
        )
    batch = got[0] if got else None
    for shape, size in states:
        shape = tuple(shape)
        bad = len(shape) != 2 or shape[-1] not in (None, size)
        if not bad and None not in (batch, shape[0]):
            bad = batch != shape[0]
        if bad:
            want = ("batch" if batch is None else batch, size)
            raise ValueError(
                f"Received an invalid value for argument `{state}`, "
                f"expected a state of shape {_shape(want)} for {owner}, got "
                f"shape {_shape(shape)}."
            )
