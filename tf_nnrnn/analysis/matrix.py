"""Recurrent matrices from arrays, cells, layers and models.

Every analysis works on the papers' column convention
`h_t = V h_{t-1} + ...`. Keras steps row vectors, `h_t = h_{t-1} @ W`, so a
cell's recurrent matrix `W` (our cells' `cell.recurrent_matrix()`, Keras'
`SimpleRNNCell.recurrent_kernel`) is returned transposed: `V = W^T`.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from tf_nnrnn.validation import check_float, check_int


def _invalid(name: str, expected: str, got: Any) -> ValueError:
    return ValueError(
        f"Received an invalid value for argument `{name}`, expected "
        f"{expected}, got {got}."
    )


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)}"
    return repr(value)


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(keras.ops.convert_to_numpy(value))
    except Exception:  # not a tensor: let NumPy try (and fail) below
        return np.asarray(value, dtype=object)


def as_matrix(matrix: Any, name: str = "matrix") -> np.ndarray:
    """Validates a real, finite, square matrix and returns it in float64.

    `M = np.asarray(matrix, dtype=float64)`, with `M.shape == (n, n)`.

    Args:
        matrix: array-like (NumPy array, tensor, Keras variable, nested list).
        name: the argument name used in error messages.

    Returns:
        A new `(n, n)` float64 NumPy array.

    Example:
        >>> as_matrix([[0.5, 1.0], [0.0, 0.5]]).dtype
        dtype('float64')
    """
    array = _to_numpy(matrix)
    if np.iscomplexobj(array):
        raise _invalid(name, "a real square matrix", "a complex array")
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise TypeError(
            f"Received an invalid value for argument `{name}`, expected a "
            f"real square matrix, got {_describe(matrix)} of dtype "
            f"{array.dtype}."
        )
    array = np.array(array, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != array.shape[1] or not array.size:
        raise _invalid(
            name,
            "a non-empty square matrix of shape (n, n)",
            f"shape {array.shape}",
        )
    if not np.all(np.isfinite(array)):
        raise _invalid(
            name, "a matrix with finite entries", "a matrix with NaN or inf"
        )
    return array


def as_vector(vector: Any, n: int, name: str = "v") -> np.ndarray:
    """Validates a real, finite vector of length `n` (float64 copy).

    Args:
        vector: array-like of shape `(n,)`.
        n: the required length.
        name: the argument name used in error messages.

    Returns:
        A new float64 NumPy array of shape `(n,)`.

    Example:
        >>> as_vector([1, 0, 0], 3)
        array([1., 0., 0.])
    """
    array = _to_numpy(vector)
    if np.iscomplexobj(array) or not np.issubdtype(array.dtype, np.number):
        raise TypeError(
            f"Received an invalid value for argument `{name}`, expected a "
            f"real vector of length {n}, got {_describe(vector)} of dtype "
            f"{array.dtype}."
        )
    array = np.array(array, dtype=np.float64)
    if array.shape != (n,):
        raise _invalid(name, f"a vector of shape ({n},)", f"{array.shape}")
    if not np.all(np.isfinite(array)):
        raise _invalid(name, "finite entries", "NaN or inf")
    return array


def positive_float(value: Any, name: str) -> float:
    """`value` as a finite float > 0 (`tf_nnrnn.validation.check_float`).

    Example:
        >>> positive_float(0.5, "noise")
        0.5
    """
    return check_float(name, value, 0.0)


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """`value` as an int >= `minimum` (`tf_nnrnn.validation.check_int`).

    Example:
        >>> positive_int(10, "steps")
        10
    """
    return check_int(name, value, minimum)


def _recurrent_layers(model: keras.Model) -> list[keras.layers.RNN]:
    """All `keras.layers.RNN` layers of a model, nested models included."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.RNN):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(_recurrent_layers(layer))
    return found


def _cell_matrix(cell: Any) -> np.ndarray:
    """`V = W^T` of one recurrent cell (ours or Keras' SimpleRNNCell)."""
    name = type(cell).__name__
    if isinstance(cell, keras.layers.Layer) and not cell.built:
        raise ValueError(
            f"Received an unbuilt cell {name} for argument `source`; build "
            "it (or call its layer / model once) before analysing it."
        )
    if hasattr(cell, "recurrent_matrix"):
        w = cell.recurrent_matrix()
    elif hasattr(cell, "recurrent_kernel"):
        w = cell.recurrent_kernel
    else:
        raise TypeError(
            f"Received an invalid value for argument `source`: the cell "
            f"{name} has neither `recurrent_matrix()` nor `recurrent_kernel`."
        )
    w = keras.ops.convert_to_numpy(w)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(
            f"Received an invalid value for argument `source`: the cell "
            f"{name} has a recurrent kernel of shape {tuple(w.shape)}, not "
            "one square matrix (gated cells such as LSTM or GRU stack "
            "several)."
        )
    return as_matrix(np.transpose(w), name="source")


def recurrent_matrix(source: Any, layer: int | str | None = None) -> np.ndarray:
    """The recurrent matrix `V` (column convention) of a matrix or model.

    `V = W^T` for a cell stepping `h_t = φ(x_t @ U + h_{t-1} @ W)`; a plain
    matrix is taken as `V` already and only validated.

    Args:
        source: a square matrix (NumPy array, tensor, variable), a recurrent
            cell (with `recurrent_matrix()` like `tf_nnrnn.NNRNNCell`, or
            `recurrent_kernel` like `keras.layers.SimpleRNNCell`), a
            `keras.layers.RNN` layer (`SimpleRNN` included) or a
            `keras.Model` containing one.
        layer: for a model with several recurrent layers, which one: its
            position among the model's recurrent layers or its name.
            Defaults to the first.

    Returns:
        The `(n, n)` float64 NumPy matrix `V`.

    Example:
        >>> import keras
        >>> cell = keras.layers.SimpleRNNCell(4)
        >>> cell.build((None, 2))
        >>> recurrent_matrix(cell).shape
        (4, 4)
    """
    if isinstance(source, keras.Model):
        layers = _recurrent_layers(source)
        if not layers:
            raise ValueError(
                f"Received a model without a recurrent layer for argument "
                f"`source`: model '{source.name}' has no keras.layers.RNN "
                "layer (SimpleRNN or RNN(cell)) to take a matrix from."
            )
        if layer is None:
            source = layers[0]
        elif isinstance(layer, str):
            named = [rnn for rnn in layers if rnn.name == layer]
            if not named:
                raise _invalid(
                    "layer",
                    f"one of {[rnn.name for rnn in layers]}",
                    repr(layer),
                )
            source = named[0]
        elif isinstance(layer, int) and -len(layers) <= layer < len(layers):
            source = layers[layer]
        else:
            raise _invalid(
                "layer",
                f"an index below {len(layers)} or a recurrent layer's name",
                repr(layer),
            )
    elif layer is not None:
        raise _invalid("layer", "None unless `source` is a model", repr(layer))
    if isinstance(source, keras.layers.RNN):
        return _cell_matrix(source.cell)
    if isinstance(source, keras.layers.Layer) or hasattr(
        source, "recurrent_matrix"
    ):
        return _cell_matrix(source)
    return as_matrix(source, name="source")
