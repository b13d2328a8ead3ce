"""One registry of cells: name → cell class, fused layer, orthogonal weights.

Everything that offers a choice of cells reads this table: the runner's
models (`tf_nnrnn.experiments.models`), the presets, the examples' `--cell`
flag, the tuning space, the optimizer routing (`orthogonal_pattern()`),
the benchmarks and the parametrized tests. Adding a cell is one module
with the cell plus one `register_cell` call (see `CONTRIBUTING.md`).

An entry says:

- `cell_class`: called as `cell_class(units, **arguments(settings))`;
- `fused_layer`: the fused sequence layer (a `keras.layers.RNN` subclass
  in `tf_nnrnn.layers`), or None;
- `orthogonal_weights`: names of the weights trained with the orthogonal
  learning rate (`make_optimizer` routes every variable whose path ends
  with one of them);
- `arguments`: `settings → dict` of cell arguments, where `settings` is
  any object with the run's settings as attributes (the experiment side's
  `Settings`); it reads only what it needs, with `getattr`;
- `reads`: the settings `arguments` reads beyond `units` (the tuner skips
  searching a setting the cell ignores);
- `orthogonal_wrapper`: None, or `optimizer → optimizer` applied to the
  optimizer of the cell's orthogonal weights (`make_optimizer(...,
  orthogonal_wrapper=)`), e.g. a `RiemannianOptimizer` keeping them on
  the manifold. Such a cell's weights are routed by the runner with the
  entry's own `pattern`, and left out of the registry-wide
  `orthogonal_pattern()`: their names (`recurrent_kernel`) are shared
  with cells that train them at the plain learning rate.

Besides the package's cells, Keras' own cells are registered as the
papers' baselines and as orthogonally *constrained* variants: `lstm`,
`gru`, `rnn`, `rnn_orth` (unconstrained), `lstm_orth`, `gru_orth`,
`rnn_orth_constraint` (recurrent kernel projected back onto the
orthogonal group per gate block after every update, `manifolds.
Orthogonal`) and `rnn_orth_riemannian` (moved along the group by a
Cayley retraction, `riemannian.RiemannianOptimizer` around RMSprop/Adam
at `lr_orth`).

Example:
    >>> entry = get_cell("exprnn")
    >>> entry.cell_class.__name__, entry.fused_layer.__name__
    ('ExpRNNCell', 'ExpRNN')
    >>> entry.orthogonal
    True
    >>> "lstm" in cell_names()
    True
    >>> get_cell("rnn_orth_riemannian").pattern
    '.*(?:recurrent_kernel)'
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import keras

from tf_nnrnn.cells.exprnn import ExpRNNCell
from tf_nnrnn.cells.modrelu_rnn import ModReLURNNCell
from tf_nnrnn.cells.nnrnn import NNRNNCell
from tf_nnrnn.cells.nru import NRUCell
from tf_nnrnn.cells.scornn import ScoRNNCell
from tf_nnrnn.layers import NNRNN, ExpRNN, ScoRNN
from tf_nnrnn.manifolds import BlockOrthogonal, Orthogonal
from tf_nnrnn.regularizers import GammaRegularizer
from tf_nnrnn.riemannian import RiemannianOptimizer
from tf_nnrnn.validation import invalid

__all__ = [
    "CellEntry",
    "register_cell",
    "unregister_cell",
    "get_cell",
    "cell_names",
    "orthogonal_cells",
    "orthogonal_pattern",
]


def _no_arguments(settings: Any) -> dict:
    return {}


@dataclasses.dataclass(frozen=True)
class CellEntry:
    """One registered cell (see the module docstring for the fields)."""

    name: str
    cell_class: Callable[..., Any]
    fused_layer: type | None = None
    orthogonal_weights: tuple[str, ...] = ()
    arguments: Callable[[Any], dict] = _no_arguments
    reads: tuple[str, ...] = ()
    description: str = ""
    orthogonal_wrapper: Callable[[Any], Any] | None = None

    @property
    def orthogonal(self) -> bool:
        """Whether some weight takes the orthogonal learning rate."""
        return bool(self.orthogonal_weights)

    @property
    def pattern(self) -> str:
        """Regex on `variable.path` matching this cell's orthogonal
        weights (one that matches nothing when it has none)."""
        return _pattern(self.orthogonal_weights)

    def build(self, settings: Any):
        """The cell configured from `settings` (reads `settings.units`)."""
        return self.cell_class(settings.units, **self.arguments(settings))


_REGISTRY: dict[str, CellEntry] = {}


def register_cell(
    name: str,
    cell_class: Callable[..., Any],
    *,
    fused_layer: type | None = None,
    orthogonal_weights: tuple[str, ...] = (),
    arguments: Callable[[Any], dict] | None = None,
    reads: tuple[str, ...] = (),
    description: str = "",
    orthogonal_wrapper: Callable[[Any], Any] | None = None,
    overwrite: bool = False,
) -> CellEntry:
    """Register a cell under `name` (a lower-case identifier).

    Args:
        name: the name used by `--cell`, `Settings` and the tuner.
        cell_class: callable `(units, **kwargs) -> cell`.
        fused_layer: its fused sequence layer, if any.
        orthogonal_weights: weight names given the orthogonal learning
            rate (e.g. `("skew_kernel",)`).
        arguments: `settings -> dict` of cell arguments (default: none).
        reads: settings that `arguments` reads besides `units`.
        description: one line for listings.
        orthogonal_wrapper: None, or a callable wrapping the optimizer of
            the orthogonal weights (e.g. `RiemannianOptimizer`); see the
            module docstring.
        overwrite: replace an existing entry of that name.

    Returns:
        The new `CellEntry`.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise invalid("name", "a lower-case identifier", name)
    if name in _REGISTRY and not overwrite:
        raise ValueError(
            f"A cell named {name!r} is already registered; pass "
            "`overwrite=True` to replace it."
        )
    if not callable(cell_class):
        raise invalid("cell_class", "a callable", cell_class, TypeError)
    for weight in orthogonal_weights:
        if not isinstance(weight, str) or not re.fullmatch(r"\w+", weight):
            raise invalid("orthogonal_weights", "weight names", weight)
    if orthogonal_wrapper is not None and not callable(orthogonal_wrapper):
        raise invalid(
            "orthogonal_wrapper", "None or a callable", orthogonal_wrapper,
            TypeError,
        )
    if orthogonal_wrapper is not None and not orthogonal_weights:
        raise ValueError(
            "Received an invalid value for argument `orthogonal_wrapper`: "
            f"the cell {name!r} has no `orthogonal_weights` for it to wrap."
        )
    entry = CellEntry(
        name=name,
        cell_class=cell_class,
        fused_layer=fused_layer,
        orthogonal_weights=tuple(orthogonal_weights),
        arguments=arguments or _no_arguments,
        reads=tuple(reads),
        description=description,
        orthogonal_wrapper=orthogonal_wrapper,
    )
    _REGISTRY[name] = entry
    return entry


def unregister_cell(name: str) -> None:
    """Remove the entry `name` (KeyError if absent)."""
    del _REGISTRY[name]


def get_cell(name: str) -> CellEntry:
    """The entry registered as `name`; a ValueError lists the names."""
    if name not in _REGISTRY:
        raise invalid("cell", f"one of {list(_REGISTRY)}", name)
    return _REGISTRY[name]


def cell_names() -> tuple[str, ...]:
    """Registered names, in registration order."""
    return tuple(_REGISTRY)


def orthogonal_cells() -> tuple[str, ...]:
    """Names of the cells that have orthogonal weights."""
    return tuple(n for n, e in _REGISTRY.items() if e.orthogonal)


def _pattern(names) -> str:
    names = sorted(set(names))
    return ".*(?:" + "|".join(names) + ")" if names else r"(?!)"


def orthogonal_pattern() -> str:
    """Regex on `variable.path` matching every registered orthogonal weight
    (`make_optimizer`'s default routing), except those of cells with an
    `orthogonal_wrapper`, which the runner routes per cell
    (`CellEntry.pattern`).

    Example:
        >>> orthogonal_pattern()
        '.*(?:skew_kernel)'
    """
    return _pattern(
        w
        for e in _REGISTRY.values()
        if e.orthogonal_wrapper is None
        for w in e.orthogonal_weights
    )


# --- the built-in cells ------------------------------------------------


def _given(**optional: Any) -> dict:
    """The `optional` entries that are set (not None)."""
    return {k: v for k, v in optional.items() if v is not None}


def _skew_and_kernel(settings: Any) -> dict:
    return _given(
        skew_initializer=getattr(settings, "skew_init", None),
        kernel_initializer=getattr(settings, "kernel_init", None),
    )


def _expm_arguments(settings: Any) -> dict:
    """expRNN/nnRNN: the initializers and the trivialization."""
    return {
        **_skew_and_kernel(settings),
        **_given(
            trivialization=getattr(settings, "trivialization", None),
            rebase_every=getattr(settings, "rebase_every", None),
        ),
    }


def _nnrnn_arguments(settings: Any) -> dict:
    kwargs = _expm_arguments(settings)
    kwargs["triangular_mask"] = getattr(settings, "triangular_mask", "block")
    delta = getattr(settings, "delta", None)
    if delta:
        kwargs["gamma_regularizer"] = GammaRegularizer(
            delta, getattr(settings, "gamma_penalty", "l2")
        )
    t_decay = getattr(settings, "t_decay", None)
    if t_decay:
        # PyTorch weight_decay=wd adds wd·T to the gradient: (wd/2)‖T‖².
        kwargs["triangular_regularizer"] = keras.regularizers.L2(t_decay / 2)
    return kwargs


def _scornn_arguments(settings: Any) -> dict:
    return {
        **_skew_and_kernel(settings),
        **_given(
            num_negative_ones=getattr(settings, "num_negative_ones", None)
        ),
    }


def _nru_arguments(settings: Any) -> dict:
    return {
        "memory_size": settings.memory_size,
        "num_heads": settings.num_heads,
        **_given(kernel_initializer=getattr(settings, "kernel_init", None)),
    }


def _glorot_kernel(settings: Any) -> str:
    return getattr(settings, "kernel_init", None) or "glorot_normal"


_SKEW = ("skew_init", "kernel_init")
_TRIVIALIZATION = ("trivialization", "rebase_every")

register_cell(
    "nnrnn",
    NNRNNCell,
    fused_layer=NNRNN,
    orthogonal_weights=("skew_kernel",),
    arguments=_nnrnn_arguments,
    reads=(
        *_SKEW,
        "triangular_mask",
        "delta",
        "gamma_penalty",
        "t_decay",
        *_TRIVIALIZATION,
    ),
    description="non-normal RNN, V = P (Λ + T) Pᵀ (Kerg et al. 2019)",
)
register_cell(
    "exprnn",
    ExpRNNCell,
    fused_layer=ExpRNN,
    orthogonal_weights=("skew_kernel",),
    arguments=_expm_arguments,
    reads=(*_SKEW, *_TRIVIALIZATION),
    description="orthogonal RNN, V = expm(A) (Lezcano-Casado 2019)",
)
register_cell(
    "scornn",
    ScoRNNCell,
    fused_layer=ScoRNN,
    orthogonal_weights=("skew_kernel",),
    arguments=_scornn_arguments,
    reads=(*_SKEW, "num_negative_ones"),
    description="orthogonal RNN, scaled Cayley (Helfrich et al. 2018)",
)
register_cell(
    "nru",
    NRUCell,
    arguments=_nru_arguments,
    reads=("kernel_init", "memory_size", "num_heads"),
    description="non-saturating recurrent unit (Chandar et al. 2019)",
)
register_cell(
    "lstm",
    keras.layers.LSTMCell,
    # The reference code's xavier_normal_ for both kernels.
    arguments=lambda s: {
        "kernel_initializer": _glorot_kernel(s),
        "recurrent_initializer": "glorot_normal",
    },
    reads=("kernel_init",),
    description="LSTM (keras.layers.LSTMCell), Glorot-normal kernels",
)
register_cell(
    "rnn",
    keras.layers.SimpleRNNCell,
    arguments=lambda s: {
        "activation": "tanh",
        "kernel_initializer": _glorot_kernel(s),
        "recurrent_initializer": "glorot_normal",
    },
    reads=("kernel_init",),
    description="vanilla tanh RNN (keras.layers.SimpleRNNCell)",
)
register_cell(
    "rnn_orth",
    ModReLURNNCell,
    arguments=lambda s: {"kernel_initializer": _glorot_kernel(s)},
    reads=("kernel_init",),
    description="RNN-orth: modReLU RNN initialised orthogonal, unconstrained",
)


# Orthogonally constrained Keras cells. The constraint is a projection
# after each ordinary update (polar factor per gate block), so the
# constrained kernels train at `lr` like the papers' LSTM: `lr_orth`
# exists to slow a parametrization's raw weight (the skew `X`), which
# these cells do not have. The Riemannian RNN's kernel is moved by the
# Cayley retraction of an RMSprop/Adam step at `lr_orth` instead.
register_cell(
    "gru",
    keras.layers.GRUCell,
    arguments=lambda s: {
        "kernel_initializer": _glorot_kernel(s),
        "recurrent_initializer": "glorot_normal",
    },
    reads=("kernel_init",),
    description="GRU (keras.layers.GRUCell), Glorot-normal kernels",
)
register_cell(
    "lstm_orth",
    keras.layers.LSTMCell,
    arguments=lambda s: {
        "kernel_initializer": _glorot_kernel(s),
        "recurrent_initializer": BlockOrthogonal(blocks=4),
        "recurrent_constraint": Orthogonal(blocks=4),
    },
    reads=("kernel_init",),
    description="LSTM, each gate's recurrent block kept orthogonal "
    "(Orthogonal(blocks=4) projection after every update, trained at lr)",
)
register_cell(
    "gru_orth",
    keras.layers.GRUCell,
    arguments=lambda s: {
        "kernel_initializer": _glorot_kernel(s),
        "recurrent_initializer": BlockOrthogonal(blocks=3),
        "recurrent_constraint": Orthogonal(blocks=3),
    },
    reads=("kernel_init",),
    description="GRU, each gate's recurrent block kept orthogonal "
    "(Orthogonal(blocks=3) projection after every update, trained at lr)",
)
register_cell(
    "rnn_orth_constraint",
    ModReLURNNCell,
    arguments=lambda s: {
        "kernel_initializer": _glorot_kernel(s),
        "recurrent_initializer": BlockOrthogonal(),
        "recurrent_constraint": Orthogonal(),
    },
    reads=("kernel_init",),
    description="RNN-orth with its recurrent kernel projected back onto "
    "the orthogonal group after every update (trained at lr)",
)
register_cell(
    "rnn_orth_riemannian",
    ModReLURNNCell,
    orthogonal_weights=("recurrent_kernel",),
    orthogonal_wrapper=RiemannianOptimizer,
    arguments=lambda s: {
        "kernel_initializer": _glorot_kernel(s),
        "recurrent_initializer": BlockOrthogonal(),
    },
    reads=("kernel_init",),
    description="RNN-orth whose recurrent kernel moves on the orthogonal "
    "group: Cayley retraction of the optimizer's step at lr_orth",
)
