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
]


def _atomic(path: str, write, binary: bool = False) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix="." + os.path.basename(path), suffix=".tmp"
    )
    try:
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


def plot_curves(
    path: str,
    curves: dict[str, tuple[Sequence[float], Sequence[float]]],
    ylabel: str,
    title: str,
    baseline: float | None = None,
    baseline_label: str = "baseline",
    xlabel: str = "updates",
    log_y: bool = False,
) -> None:
    """Plot named `(x, y)` curves (and a baseline line) to a PNG, atomically.

    Args:
        path: the PNG file.
        curves: `{label: (x, y)}`.
        ylabel, title, xlabel: axis texts.
        baseline: optional horizontal reference line.
        baseline_label: its legend entry.
        log_y: logarithmic y axis.

    Example:
        >>> import os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "curve.png")
        >>> plot_curves(path, {"a": ([1, 2], [1.0, 0.5])}, "loss", "example")
        >>> os.path.getsize(path) > 0
        True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, (x, y) in curves.items():
        ax.plot(list(x), list(y), label=label, linewidth=1.2)
    if baseline is not None:
        ax.axhline(baseline, color="k", linestyle="--", linewidth=1)
        ax.plot([], [], "k--", label=f"{baseline_label} {baseline:.4g}")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)


def plot_learning_curve(path: str, rows: list, task_obj, cell: str) -> None:
    """`learning_curve.png` of a run: its monitored metric per logged row
    (and validation), with the task's baseline.

    Example:
        >>> import os, tempfile
        >>> from tf_nnrnn.experiments.tasks.copy import CopyTask
        >>> rows = [{"step": 10, "cross_entropy": 1.0},
        ...         {"step": 20, "cross_entropy": 0.5}]
        >>> path = os.path.join(tempfile.mkdtemp(), "learning_curve.png")
        >>> plot_learning_curve(path, rows, CopyTask(), "x")
        >>> os.path.exists(path)
        True
    """
    metric = task_obj.monitor_metric
    steps = [r["step"] for r in rows]
    curves = {}
    for key, label in (
        (metric, f"train {metric}"),
        (f"val_{metric}", "validation"),
    ):
        if rows and key in rows[0]:
            curves[label] = (steps, [r[key] for r in rows])
    baseline_label = {"copy": "memoryless", "adding": "predict 1"}.get(
        task_obj.name, "baseline"
    )
    plot_curves(
        path,
        curves,
        ylabel=metric,
        title=f"{task_obj.name}, {cell}",
        baseline=task_obj.baseline,
        baseline_label=baseline_label,
    )
