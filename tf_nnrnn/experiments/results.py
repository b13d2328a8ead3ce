"""Atomic result files and learning-curve plots.

Every file is written to a temporary file in the same folder and moved into
place with `os.replace`, so a reader never sees half a file and an
interrupted run never leaves a truncated one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence

__all__ = [
    "atomic_write_text",
    "atomic_write_json",
    "save_figure",
    "plot_curves",
    "plot_learning_curve",
    "readable_log_axis",
]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path: str, write, binary: bool = False) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix="." + os.path.basename(path), suffix=".tmp"
    )
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 → the user's
        mode = "wb" if binary else "w"
        kwargs = {} if binary else {"encoding": "utf-8"}
        with os.fdopen(fd, mode, **kwargs) as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    """Write `text` to `path` atomically.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
        >>> atomic_write_text(path, "hi")
        >>> open(path).read()
        'hi'
    """
    _atomic(path, lambda f: f.write(text))


def atomic_write_json(path: str, data: dict) -> None:
    """Write `data` as indented JSON to `path` atomically.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "result.json")
        >>> atomic_write_json(path, {"a": 1})
        >>> json.load(open(path))
        {'a': 1}
    """
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    atomic_write_text(path, text)


def save_figure(fig, path: str) -> None:
    """Save a matplotlib figure as PNG to `path` atomically."""
    _atomic(path, lambda f: fig.savefig(f, format="png"), binary=True)


def _tick(value: float) -> str:
    """`0.5`, `20`, and `3e-4` rather than `0.0003`.

    Example:
        >>> _tick(0.5), _tick(20.0), _tick(3e-3), _tick(1.5e-6)
        ('0.5', '20', '3e-3', '1.5e-6')
    """
    if value == 0 or 1e-2 <= abs(value) < 1e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def readable_log_axis(axis) -> None:
    """Label a logarithmic matplotlib axis with plain numbers, at 1, 2 and
    5 times each power of ten when it spans one to three decades, more
    under one, evenly spaced under half a decade (the default labels only
    the powers of ten: a narrow range then shows one label or none).

    Example:
        >>> from matplotlib.figure import Figure
        >>> ax = Figure().add_subplot()
        >>> _ = ax.semilogy([1, 2], [0.3, 0.9])
        >>> readable_log_axis(ax.yaxis)
        >>> ax.yaxis.get_major_formatter()(0.5, 0)
        '0.5'
    """
    import math

    from matplotlib.ticker import (
        FuncFormatter,
        LogLocator,
        MaxNLocator,
        NullFormatter,
        NullLocator,
        ScalarFormatter,
    )

    low, high = sorted(axis.get_view_interval())
    decades = math.log10(high / low) if low > 0 else math.inf
    if decades < 0.5:  # a log axis this narrow is a linear one
        axis.set_major_locator(MaxNLocator(nbins=6))
        axis.set_major_formatter(ScalarFormatter(useOffset=False))
        axis.set_minor_locator(NullLocator())
        axis.set_minor_formatter(NullFormatter())
        return
    subs = (1.0,)
    if decades < 1:
        subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    elif decades < 3:
        subs = (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: _tick(v)))
    axis.set_minor_formatter(NullFormatter())


# Curves with at most this many points also draw a marker at each point:
# a single logged row (a one-epoch run) is then a visible dot, not an
# invisible zero-length line.
MARKER_POINTS = 30


def plot_curves(
    path: str | None,
    curves: dict[str, tuple[Sequence[float], Sequence[float]]],
    ylabel: str,
    title: str,
    baseline: float | None = None,
    baseline_label: str = "baseline",
    xlabel: str = "updates",
    log_y: bool = False,
    points: dict[str, tuple[float, float]] | None = None,
):
    """Plot named `(x, y)` curves (and a baseline line) to a PNG, atomically.

    A curve of at most `MARKER_POINTS` points marks each point, so that a
    run with one logged row still shows it.

    Args:
        path: the PNG file, or None to only return the figure.
        curves: `{label: (x, y)}`.
        ylabel, title, xlabel: axis texts.
        baseline: optional horizontal reference line.
        baseline_label: its legend entry.
        log_y: logarithmic y axis.
        points: `{label: (x, y)}` single marked points (a final test
            score), each with its own legend entry.

    Returns:
        The `matplotlib.figure.Figure`.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "curve.png")
        >>> figure = plot_curves(
        ...     path, {"a": ([1, 2], [1.0, 0.5])}, "loss", "example")
        >>> os.path.getsize(path) > 0, figure.axes[0].get_title()
        (True, 'example')
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    for index, (label, (x, y)) in enumerate(curves.items()):
        x, y = list(x), list(y)
        marked = len(x) <= MARKER_POINTS
        ax.plot(
            x,
            y,
            label=label,
            linewidth=1.2,
            # Distinct shapes, the later ones open: coinciding points of
            # two curves (training and validation) both stay visible.
            marker="osD^v"[index % 5] if marked else None,
            markersize=4 if index == 0 else 7,
            markerfacecolor=None if index == 0 else "none",
        )
    for index, (label, (x, y)) in enumerate((points or {}).items()):
        ax.plot(
            [x],
            [y],
            zorder=1.9,  # under the curves' own markers
            linestyle="none",
            marker="*D^v"[index % 4],
            markersize=11,
            markeredgecolor="k",
            color=f"C{len(curves) + index}",
            label=label,
        )
    if baseline is not None:
        ax.axhline(
            baseline,
            color="k",
            linestyle="--",
            linewidth=1,
            label=f"{baseline_label} {baseline:.4g}",
        )
    xs = [v for x, _ in curves.values() for v in x]
    xs += [x for x, _ in (points or {}).values()]
    if xs and min(xs) >= 0 and max(xs) > 0:  # updates: from 0; a lone
        ax.set_xlim(0, 2 * max(xs) if min(xs) == max(xs) else None)  # mid
    if log_y:
        ax.set_yscale("log")
        readable_log_axis(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig


# What each task's baseline is, for legends.
BASELINE_LABELS = {
    "copy": "memoryless baseline",
    "adding": "predict-1 baseline",
    "psmnist": "chance",
    "ptb": "unigram baseline",
}
METRIC_LABELS = {
    "cross_entropy": "cross-entropy (nats)",
    "mse": "mean squared error",
    "bpc": "bits per character",
}


def plot_learning_curve(
    path: str, rows: list, task_obj, cell: str, test: dict | None = None
):
    """`learning_curve.png` of a run: its monitored metric per logged row
    (and validation), the final test score and the task's baseline.

    Losses use a logarithmic y axis (a first loss ten times the baseline
    would otherwise flatten the rest of the curve); accuracies a linear one.

    Args:
        path: the PNG file.
        rows: the `metrics.csv` rows (dicts with "step" and the metrics).
        task_obj: the task (its `name`, `monitor_metric`, `baseline`).
        cell: the cell's name, for the title.
        test: the task's `summarize(test_logs)`; its `task_obj.test_metric`
            entry is drawn as one marked point at the last update.

    Returns:
        The `matplotlib.figure.Figure`.

    Example:
        >>> import os, tempfile
        >>> from tf_nnrnn.experiments.tasks.copy import CopyTask
        >>> rows = [{"step": 10, "cross_entropy": 1.0},
        ...         {"step": 20, "cross_entropy": 0.5}]
        >>> path = os.path.join(tempfile.mkdtemp(), "learning_curve.png")
        >>> figure = plot_learning_curve(
        ...     path, rows, CopyTask(), "x", test={"test_loss": 0.4})
        >>> os.path.exists(path), figure.axes[0].get_yscale()
        (True, 'log')
    """
    metric = task_obj.monitor_metric
    steps = [r["step"] for r in rows]
    curves = {}
    for key, label in (
        (metric, f"training {metric}"),
        (f"val_{metric}", f"validation {metric}"),
    ):
        present = [(s, r[key]) for s, r in zip(steps, rows) if key in r]
        if present:
            curves[label] = tuple(zip(*present))
    points = {}
    test_key = getattr(task_obj, "test_metric", f"test_{metric}")
    if test and test.get(test_key) is not None:
        value = float(test[test_key])
        last = steps[-1] if steps else 0
        points[f"test {metric} {value:.4g}"] = (last, value)
    return plot_curves(
        path,
        curves,
        ylabel=METRIC_LABELS.get(metric, metric),
        title=f"{task_obj.name}, {cell}: learning curve",
        baseline=task_obj.baseline,
        baseline_label=BASELINE_LABELS.get(task_obj.name, "baseline"),
        log_y="accuracy" not in metric,
        points=points,
    )
