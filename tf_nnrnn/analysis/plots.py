"""Figures for the analyses (matplotlib, no pyplot: safe without a display).

Each `plot_*` function draws into a given `matplotlib.axes.Axes` or a new
`matplotlib.figure.Figure` and returns the figure; `save_figure` writes it
atomically (temporary file in the same directory, then `os.replace`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from tf_nnrnn.analysis.matrix import recurrent_matrix
from tf_nnrnn.analysis.normality import schur_form
from tf_nnrnn.analysis.pseudospectra import (
    Pseudospectrum,
    check_epsilons,
    pseudospectrum,
)
from tf_nnrnn.analysis.robustness import RobustnessCurve
from tf_nnrnn.analysis.transients import transient_summary

_CONTOUR_COLORS = colormaps["viridis"]


def _axes(ax: Any, figsize=(5.0, 4.0)):
    if ax is None:
        figure = Figure(figsize=figsize, layout="constrained")
        return figure, figure.add_subplot()
    return ax.figure, ax


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 120) -> str:
    """Saves a figure to `path` atomically (temp file, then `os.replace`).

    Args:
        figure: the matplotlib figure.
        path: destination file; its suffix picks the format (".png").
        dpi: resolution. Defaults to 120.

    Returns:
        The path written, as a string.

    Example:
        >>> import os, tempfile
        >>> figure = plot_schur([[0.5, 1.0], [0.0, 0.5]])
        >>> target = os.path.join(tempfile.mkdtemp(), "schur.png")
        >>> path = save_figure(figure, target)
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    suffix = os.path.splitext(path)[1] or ".png"
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=suffix)
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=dpi)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return path


# Line styles cycled with the colours, so that two curves that coincide
# (two orthogonal matrices: ‖h_t‖ = 1 throughout) both stay visible. The
# first style is the widest: a narrower dashed curve on top shows through.
_STYLES = (
    {"linestyle": "-", "linewidth": 3.0},
    {"linestyle": "--", "linewidth": 2.0},
    {"linestyle": ":", "linewidth": 2.2},
    {"linestyle": "-.", "linewidth": 1.6},
)


def _style(index: int) -> dict:
    style = {"color": f"C{index}", **_STYLES[index % len(_STYLES)]}
    if index >= len(_STYLES):  # drawn last: thin, not over the others
        style["linewidth"] = 1.4
    return style


def plot_transients(
    norms: Mapping[str, Any],
    ax: Any = None,
    log: bool = False,
    title: str | None = "transient norms after an impulse",
) -> Figure:
    """Mean `‖h_t‖` (line) and 10–90 % band for each ensemble of curves.

    Each curve has its own colour and line style; the legend names the
    curves and the band (10th to 90th percentile over the initial states).

    Args:
        norms: `{label: array (num_samples, steps + 1)}` from
            `transient_norms`.
        ax: axes to draw into. Defaults to a new figure.
        log: logarithmic y axis. Defaults to False.
        title: axes title. Defaults to "transient norms after an impulse".

    Returns:
        The figure.

    Example:
        >>> from tf_nnrnn.analysis.transients import chain_matrix
        >>> from tf_nnrnn.analysis.transients import transient_norms
        >>> figure = plot_transients(
        ...     {"α = 1": transient_norms(chain_matrix(10), steps=12)})
        >>> [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
        ['α = 1 (mean)', '10–90 % of the initial states']
    """
    figure, ax = _axes(ax)
    for index, (label, curves) in enumerate(norms.items()):
        summary = transient_summary(curves)
        steps = np.arange(summary["mean"].shape[0])
        ax.plot(
            steps, summary["mean"], label=f"{label} (mean)", **_style(index)
        )
        ax.fill_between(
            steps,
            summary["lower"],
            summary["upper"],
            color=f"C{index}",
            alpha=0.2,
            linewidth=0,
        )
    if norms:
        ax.add_patch(
            Rectangle(
                (0, 0),
                0,
                0,
                facecolor="0.5",
                alpha=0.3,
                label="10–90 % of the initial states",
            )
        )
    ax.set_xlabel("t (steps after the impulse)")
    ax.set_ylabel("‖h_t‖")
    if log:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return figure


def plot_fisher_memory(
    curves: Mapping[str, Any],
    ax: Any = None,
    log: bool = False,
    title: str | None = "Fisher memory curves",
) -> Figure:
    """Fisher memory curves `J(k)` against the lag k.

    Args:
        curves: `{label: array (steps,)}` from `fisher_memory_curve`.
        ax: axes to draw into. Defaults to a new figure.
        log: logarithmic y axis. Defaults to False.
        title: axes title. Defaults to "Fisher memory curves".

    Returns:
        The figure.

    Example:
        >>> import numpy as np
        >>> figure = plot_fisher_memory({"delay": 1 / np.arange(1, 11)})
    """
    figure, ax = _axes(ax)
    for index, (label, curve) in enumerate(curves.items()):
        curve = np.asarray(curve, dtype=np.float64)
        ax.plot(np.arange(curve.shape[0]), curve, label=label, **_style(index))
    ax.set_xlabel("k (lag)")
    ax.set_ylabel("J(k)")
    if log:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return figure


def plot_schur(
    source: Any,
    ax: Any = None,
    title: str | None = "|Schur form|",
    log: bool = False,
) -> Figure:
    """Magnitude `|S|` of the real Schur form: the "hidden chains" picture.

    Large entries above the diagonal blocks are feed-forward connections
    between Schur modes (non-normality). The colour bar is the legend.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.
        ax: axes to draw into. Defaults to a new figure.
        title: axes title. Defaults to "|Schur form|".
        log: logarithmic colour scale (down to 1e-4 of the largest entry),
            which shows weak chains next to the unit-size diagonal.
            Defaults to False.

    Returns:
        The figure.

    Example:
        >>> figure = plot_schur([[0.5, 1.0], [0.0, 0.5]])
    """
    figure, ax = _axes(ax)
    s, _ = schur_form(source)
    magnitude = np.abs(s)
    norm = None
    if log:
        top = max(float(magnitude.max()), 1e-300)
        norm = LogNorm(vmin=1e-4 * top, vmax=top)
        magnitude = np.maximum(magnitude, 1e-4 * top)
    image = ax.imshow(
        magnitude, cmap="magma", interpolation="nearest", norm=norm
    )
    figure.colorbar(image, ax=ax, label="|S_ij|")
    ax.set_xlabel("j (column)")
    ax.set_ylabel("i (row)")
    if title:
        ax.set_title(title)
    return figure


def covering_extent(
    source: Any, epsilon: float
) -> tuple[float, float, float, float]:
    """A square that holds the whole ε-pseudospectrum of `V`.

    `σ_min(zI − V) ≥ |z| − ‖V‖₂`, so `Λ_ε(V)` lies in the disc
    `|z| < ‖V‖₂ + ε`; the square is that disc's, widened by 5 %.

    Args:
        source: matrix `V` (column convention), cell, RNN layer or model.
        epsilon: the largest contour level.

    Returns:
        `(re_min, re_max, im_min, im_max)`.

    Example:
        >>> covering_extent([[0.0, 2.0], [0.0, 0.0]], 0.1)
        (-2.205, 2.205, -2.205, 2.205)
    """
    radius = 1.05 * (np.linalg.norm(recurrent_matrix(source), 2) + epsilon)
    radius = round(float(radius), 12)
    return (-radius, radius, -radius, radius)


def plot_pseudospectrum(
    source: Any,
    epsilons: Sequence[float] = (1e-3, 1e-2, 1e-1),
    ax: Any = None,
    title: str | None = "ε-pseudospectra",
    **grid_kwargs: Any,
) -> Figure:
    """Contours `σ_min(zI − V) = ε` for several ε, with the eigenvalues.

    The legend, beside the axes, names each contour's ε (by colour), the
    eigenvalues (dots) and the unit circle; a level that the grid is too
    coarse to draw (an ε-disc smaller than a grid cell) says so there.

    Args:
        source: a `Pseudospectrum`, or a matrix / cell / layer / model to
            compute one from (`grid_kwargs` go to `pseudospectrum`). With
            neither `extent` nor `margin` given, the grid covers the disc
            `|z| ≤ ‖V‖₂ + max ε` (`covering_extent`), which holds every
            contour.
        epsilons: contour levels ε > 0. Defaults to (1e-3, 1e-2, 1e-1).
        ax: axes to draw into. Defaults to a new figure.
        title: axes title. Defaults to "ε-pseudospectra".
        **grid_kwargs: `num_points`, `extent`, `margin`, `method`.

    Returns:
        The figure.

    Example:
        >>> import numpy as np
        >>> figure = plot_pseudospectrum(np.diag([0.5, -0.5]), num_points=20)
    """
    levels = check_epsilons(epsilons)
    if not isinstance(source, Pseudospectrum):
        if "extent" not in grid_kwargs and "margin" not in grid_kwargs:
            grid_kwargs["extent"] = covering_extent(source, max(levels))
        source = pseudospectrum(source, **grid_kwargs)
    figure, ax = _axes(ax)
    log_sigma = np.log10(np.maximum(source.sigma_min, 1e-300))
    colors = [_CONTOUR_COLORS(x) for x in np.linspace(0, 0.8, len(levels))]
    contours = ax.contour(
        source.real,
        source.imag,
        log_sigma,
        levels=np.log10(levels),
        colors=colors,
        linewidths=1.5,
    )
    ax.clabel(contours, fmt=lambda v: f"ε=1e{v:.0f}", fontsize=9)
    for level, color, segments in zip(levels, colors, contours.allsegs):
        drawn = any(len(segment) > 1 for segment in segments)
        ax.plot(
            [],
            [],
            color=color,
            lw=1.5,
            label=f"ε = {level:g}" + ("" if drawn else " (finer than grid)"),
        )
    ax.plot(
        source.eigenvalues.real,
        source.eigenvalues.imag,
        "k.",
        ms=4,
        label="eigenvalues of V",
    )
    circle = np.exp(1j * np.linspace(0, 2 * np.pi, 200))
    ax.plot(
        circle.real, circle.imag, color="0.6", lw=0.8, ls="--", label="|z| = 1"
    )
    # Equal scales by widening the data limits, not by shrinking the box:
    # the layout then leaves the legend beside the axes its room.
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("Re z")
    ax.set_ylabel("Im z")
    if title:
        ax.set_title(title)
    ax.legend(  # beside the axes: contours fill the square
        fontsize="x-small",
        loc="center left",
        bbox_to_anchor=(1.02, 0.5),
        title="σ_min(zI − V) = ε",
        title_fontsize="x-small",
    )
    return figure


def plot_robustness(
    curves: Mapping[str, RobustnessCurve],
    ax: Any = None,
    title: str | None = "metric under input perturbations",
) -> Figure:
    """Metric against perturbation size ε, one line per model and kind.

    Colour: the model; line style: the kind of perturbation; the first
    model's lines are wider, so an equal curve of another stays visible.

    Args:
        curves: `{model name: RobustnessCurve}`.
        ax: axes to draw into. Defaults to a new figure.
        title: axes title. Defaults to "metric under input perturbations".

    Returns:
        The figure.

    Example:
        >>> import numpy as np
        >>> from tf_nnrnn.analysis.robustness import RobustnessCurve
        >>> curve = RobustnessCurve(np.array([0.0, 0.1]),
        ...                         {"fgsm": np.array([1.0, 0.5])}, "accuracy")
        >>> figure = plot_robustness({"rnn": curve})
    """
    figure, ax = _axes(ax)
    styles = {"uniform": ":", "gaussian": "--", "fgsm": "-"}
    for index, (name, curve) in enumerate(curves.items()):
        color = f"C{index}"
        for kind, values in curve.values.items():
            ax.plot(
                curve.epsilons,
                values,
                ls=styles.get(kind, "-"),
                marker="o",
                ms=5 if index == 0 else 3,
                lw=2.6 if index == 0 else 1.4,
                color=color,
                label=f"{name}: {kind}",
            )
        ax.set_ylabel(curve.metric)
    ax.set_xlabel("ε (perturbation size)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small")
    return figure
