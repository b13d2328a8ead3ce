"""Grids of runs (cells × seeds, ablation variants) with one table and plot.

Used by `examples/compare.py` and `examples/ablate_copy.py`. Each run goes
through `tf_nnrnn.experiments.training.run` into its own folder
`out/<label>/seed<k>`,
so an interrupted grid resumes run by run (finished runs are reused, an
interrupted one continues from its checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import textwrap
import time
from collections.abc import Sequence
from typing import Any

from tf_nnrnn.experiments.presets import Settings
from tf_nnrnn.experiments.results import (
    BASELINE_LABELS,
    MARKER_POINTS,
    METRIC_LABELS,
    atomic_write_json,
    atomic_write_text,
    readable_log_axis,
    save_figure,
)
from tf_nnrnn.experiments.training import load_metrics, make_task, run

__all__ = [
    "Variant",
    "GridProgress",
    "plot_grid_curves",
    "run_grid",
    "summarize",
    "write_report",
]


@dataclasses.dataclass
class Variant:
    """One line of a comparison: a label, a cell and its settings.

    Example:
        >>> Variant("small", "lstm", Settings(units=8)).cell
        'lstm'
    """

    label: str
    cell: str
    settings: Settings


def _finished(out: str, variant: Variant, task: str) -> dict | None:
    """The saved result of an identical finished run, else None."""
    try:
        with open(os.path.join(out, "result.json"), encoding="utf-8") as f:
            result = json.load(f)
        with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return None
    same = (
        config.get("task") == task
        and config.get("cell") == variant.cell
        and config.get("settings") == variant.settings.to_dict()
    )
    return result if same else None


def _duration(seconds: float) -> str:
    """A rounded duration: `42 s`, `3.5 min`, `2.1 h`, `1.5 d`.

    Example:
        >>> _duration(42.4), _duration(210), _duration(7560)
        ('42 s', '3.5 min', '2.1 h')
    """
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


class GridProgress:
    """Progress lines of a grid: `run k of N`, the time left, each result.

    The time left sums, over the runs not yet done, the mean wall time of
    the runs of the same label finished in this call, else `estimates`
    (seconds per run of a label, e.g. from timed steps), else the mean of
    all runs finished in this call. Reused runs cost nothing.

    Args:
        labels: the label of every run, in order.
        estimates: optional seconds per run, by label.

    Example:
        >>> p = GridProgress(["a", "a", "b"], estimates={"b": 30})
        >>> p.left(1)  # nothing timed yet: only b's estimate is known
        >>> p.times["a"] = [10.0]
        >>> p.left(1)
        40.0
    """

    def __init__(self, labels, estimates=None):
        self.labels = list(labels)
        self.estimates = dict(estimates or {})
        self.times: dict[str, list[float]] = {}

    def left(self, done: int) -> float | None:
        """Seconds left after the first `done` runs; None if unknown."""
        every = [t for ts in self.times.values() for t in ts]
        total = 0.0
        for label in self.labels[done:]:
            if self.times.get(label):
                total += sum(self.times[label]) / len(self.times[label])
            elif label in self.estimates:
                total += self.estimates[label]
            elif every:
                total += sum(every) / len(every)
            else:
                return None
        return total

    def _left_text(self, done: int) -> str:
        if done >= len(self.labels):
            return ""
        left = self.left(done)
        return "" if left is None else f"; about {_duration(left)} left"

    def start(self, k: int, variant: Variant, seed: int) -> str:
        """The line printed before run `k` (0-based) starts."""
        return (
            f"== run {k + 1} of {len(self.labels)}: {variant.label} "
            f"(cell {variant.cell}), seed {seed}{self._left_text(k)}"
        )

    def reused(self, k: int, variant: Variant, seed: int, result) -> str:
        """The line of a finished run that is reused."""
        return (
            f"== run {k + 1} of {len(self.labels)}: {variant.label}, seed "
            f"{seed}: finished, reused ({_outcome(result)})"
            f"{self._left_text(k + 1)}"
        )

    def done(self, k: int, variant: Variant, seed: int, result, seconds):
        """Record run `k`'s wall time; the line printed when it ends."""
        self.times.setdefault(variant.label, []).append(seconds)
        return (
            f"-- run {k + 1} of {len(self.labels)} done in "
            f"{_duration(seconds)}: {variant.label}, seed {seed}: "
            f"{_outcome(result)}{self._left_text(k + 1)}"
        )


def _outcome(result) -> str:
    if result is None:
        return "diverged"
    return result.get("description") or ""


def run_grid(
    task: str,
    variants: Sequence[Variant],
    seeds: Sequence[int],
    out_dir: str,
    estimates: dict[str, float] | None = None,
    keep_going: bool = False,
    overwrite: bool = False,
) -> list[dict]:
    """Run every variant for every seed (reusing finished runs).

    Before each run it prints `run k of N` and the time left, after each
    run its result (`GridProgress`).

    Args:
        task: the task name.
        variants: the lines of the grid.
        seeds: the seeds of every variant.
        out_dir: each run goes to `out_dir/<label>/seed<k>`.
        estimates: seconds per run by label, for the time left before
            any run has finished.
        keep_going: a run that diverges (`TrainingDiverged`) is recorded
            with `result` None and `diverged` (the message) and the grid
            goes on; by default the error propagates.
        overwrite: train every run again (`run(..., overwrite=True)`),
            finished or not.

    Returns:
        One record per run: `label`, `cell`, `seed`, `out`, `result`.

    Example:
        >>> import tempfile
        >>> s = Settings(time_lag=3, units=4, steps=2, log_every=1,
        ...              test_size=2, verbose=0)
        >>> records = run_grid("copy", [Variant("lstm", "lstm", s)], [0],
        ...                    tempfile.mkdtemp())
        == run 1 of 1: lstm (cell lstm), seed 0
        -- run 1 of 1 done in ... s: lstm, seed 0: copy T=3: test loss ...
        >>> rows = summarize("copy", records, last=2)
        >>> rows[0]["label"], len(rows[0]["train_tail_per_seed"])
        ('lstm', 1)
    """
    from tf_nnrnn.experiments.training import TrainingDiverged

    grid = [(variant, seed) for variant in variants for seed in seeds]
    progress = GridProgress([v.label for v, _ in grid], estimates)
    records = []
    for k, (variant, seed) in enumerate(grid):
        settings = dataclasses.replace(variant.settings, seed=seed)
        out = os.path.join(out_dir, variant.label, f"seed{seed}")
        v = Variant(variant.label, variant.cell, settings)
        record = {"label": variant.label, "cell": variant.cell}
        record.update(seed=seed, out=out)
        result = None if overwrite else _finished(out, v, task)
        if result is not None:
            print(progress.reused(k, variant, seed, result), flush=True)
        else:
            print(progress.start(k, variant, seed), flush=True)
            start = time.monotonic()
            try:
                result = run(
                    task, variant.cell, settings, out_dir=out,
                    overwrite=overwrite,
                )
            except TrainingDiverged as error:
                if not keep_going:
                    raise
                record["diverged"] = str(error)
            seconds = time.monotonic() - start
            print(progress.done(k, variant, seed, result, seconds), flush=True)
        record["result"] = result
        records.append(record)
    return records


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)
    return mean, math.sqrt(var)


def summarize(task: str, records: list[dict], last: int = 100) -> list[dict]:
    """Per label: the training metric averaged over the last `last` updates
    (mean ± std over seeds, and per seed), the test metrics and timings.
    Runs without a result (diverged, see `run_grid(keep_going=True)`) are
    left out."""
    by_label: dict[str, list[dict]] = {}
    for rec in records:
        if rec.get("result") is None:
            continue
        by_label.setdefault(rec["label"], []).append(rec)
    rows = []
    for label, recs in by_label.items():
        task_obj = _task_of(recs[0])
        metric = task_obj.monitor_metric
        tail, tail_acc = [], []
        for rec in recs:
            metrics = load_metrics(rec["out"])
            final = metrics[-1]["step"]
            window = [m for m in metrics if m["step"] > final - last]
            tail.append(sum(m[metric] for m in window) / len(window))
            if "recall_accuracy" in window[0]:
                accs = [m["recall_accuracy"] for m in window]
                tail_acc.append(sum(accs) / len(accs))
        results = [r["result"] for r in recs]
        test_key = task_obj.test_metric
        row = {
            "label": label,
            "cell": recs[0]["cell"],
            "units": results[0]["units"],
            "free_parameters": results[0].get("free_parameters"),
            "seeds": [r["seed"] for r in recs],
            "metric": metric,
            "last_updates": last,
            "train_tail": _mean_std(tail),
            "train_tail_per_seed": tail,
            "test_metric": test_key,
            "test": _mean_std([r[test_key] for r in results]),
            "seconds": _mean_std([r["seconds"] for r in results]),
            "baseline": results[0]["baseline"],
        }
        if tail_acc:
            row["train_tail_recall_accuracy"] = _mean_std(tail_acc)
        if "test_accuracy" in results[0] and test_key != "test_accuracy":
            row["test_accuracy"] = _mean_std(
                [r["test_accuracy"] for r in results]
            )
        rows.append(row)
    return rows


def _task_of(record: dict):
    with open(
        os.path.join(record["out"], "config.json"), encoding="utf-8"
    ) as f:
        config = json.load(f)
    return make_task(config["task"], Settings(**config["settings"]))


def _pm(pair: Sequence[float], digits: int = 4) -> str:
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def markdown_table(rows: list[dict]) -> str:
    """The summary as a Markdown table."""
    if not rows:
        return ""
    r0 = rows[0]
    has_acc = any("train_tail_recall_accuracy" in r for r in rows)
    has_test_acc = any("test_accuracy" in r for r in rows)
    head = [
        "variant",
        "cell",
        "N",
        "params",
        "seeds",
        f"train {r0['metric']}, last {r0['last_updates']} updates",
        "per seed",
    ]
    if has_acc:
        head.append("train recall acc., last updates")
    head.append(r0["test_metric"].replace("_", " "))
    if has_test_acc:
        head.append("test accuracy")
    head.append("s / run")
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in rows:
        cells = [
            r["label"],
            r["cell"],
            str(r["units"]),
            f"{r['free_parameters']:,}" if r["free_parameters"] else "",
            str(len(r["seeds"])),
            _pm(r["train_tail"]),
            ", ".join(f"{v:.4f}" for v in r["train_tail_per_seed"]),
        ]
        if has_acc:
            acc = r.get("train_tail_recall_accuracy")
            cells.append(_pm(acc, 3) if acc else "")
        cells.append(_pm(r["test"]))
        if has_test_acc:
            acc = r.get("test_accuracy")
            cells.append(_pm(acc, 3) if acc else "")
        cells.append(f"{r['seconds'][0]:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    baseline = r0["baseline"]
    lines.append("")
    lines.append(f"Baseline: {baseline:.4f}.")
    return "\n".join(lines) + "\n"


def plot_grid_curves(
    curves: dict[str, list[tuple[Sequence[float], Sequence[float]]]],
    metric: str,
    title: str,
    baseline: float | None = None,
    baseline_label: str = "baseline",
    log_y: bool = True,
):
    """The figure of a grid: per label, the mean over seeds of the logged
    training metric (thick) and each seed (thin, same colour and style).

    Each label has its own colour and line style (identical curves of two
    labels both stay visible); curves of at most `MARKER_POINTS` points
    mark them.

    Args:
        curves: `{label: [(steps, values) of each seed]}`.
        metric: the logged metric (y label).
        title: the axes title.
        baseline: optional horizontal reference line.
        baseline_label: its legend entry.
        log_y: logarithmic y axis. Defaults to True.

    Returns:
        The `matplotlib.figure.Figure`.

    Example:
        >>> figure = plot_grid_curves(
        ...     {"a": [([1, 2], [2.0, 1.0]), ([1, 2], [2.2, 0.8])]},
        ...     "cross_entropy", "a grid", baseline=0.5)
        >>> [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
        ['a (mean of 2 seeds)', 'one seed', 'baseline 0.5']
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    styles = ("-", "--", "-.", ":")
    several = False
    for i, (label, seeds) in enumerate(curves.items()):
        if not seeds:
            continue
        style = dict(color=f"C{i}", linestyle=styles[i % len(styles)])
        length = min(len(steps) for steps, _ in seeds)
        marker = "osD^v"[i % 5] if length <= MARKER_POINTS else None
        if len(seeds) > 1:
            several = True
            for steps, values in seeds:
                ax.plot(steps, values, alpha=0.3, linewidth=0.7, **style)
        mean = [
            sum(values[j] for _, values in seeds) / len(seeds)
            for j in range(length)
        ]
        if len(seeds) > 1:
            label = f"{label} (mean of {len(seeds)} seeds)"
        first = i % len(styles) == 0  # widest: a later equal curve on top
        ax.plot(  # of it leaves it visible around its dashes
            list(seeds[0][0][:length]),
            mean,
            linewidth=3.0 if first else 1.8,
            marker=marker,
            markersize=8 if first else 5,
            label=label,
            **style,
        )
    if several:  # a legend entry for the thin lines
        ax.plot([], [], color="0.4", alpha=0.5, lw=0.7, label="one seed")
    if baseline is not None:
        ax.axhline(
            baseline,
            color="k",
            linestyle="--",
            linewidth=1,
            label=f"{baseline_label} {baseline:.4g}",
        )
    if log_y:
        ax.set_yscale("log")
        readable_log_axis(ax.yaxis)
    ax.set_xlabel("updates")
    ax.set_ylabel(f"training {METRIC_LABELS.get(metric, metric)}")
    ax.set_title(textwrap.fill(title, 70))  # a long list of cells wraps
    ax.grid(alpha=0.3)
    if len(curves) > 4:  # many curves: the legend beside the axes
        fig.set_size_inches(9.5, 4.8)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    else:
        ax.legend(fontsize=8)
    return fig


def write_report(
    out_dir: str,
    records: list[dict],
    rows: list[dict],
    title: str,
    log_y: bool = True,
) -> tuple[str, str]:
    """Write `summary.md`, `summary.json` and `curves.png` into `out_dir`.

    The plot shows, per label, the mean over seeds of the logged training
    metric (thick) and each seed (thin).

    Returns:
        The paths of the Markdown summary and of the plot.
    """
    metric = rows[0]["metric"] if rows else "loss"
    curves = {
        row["label"]: [
            (
                [m["step"] for m in metrics],
                [m[metric] for m in metrics],
            )
            for metrics in (
                load_metrics(rec["out"])
                for rec in records
                if rec["label"] == row["label"]
            )
        ]
        for row in rows
    }
    task = next((r["result"]["task"] for r in records if r.get("result")), None)
    fig = plot_grid_curves(
        curves,
        metric,
        title,
        baseline=rows[0]["baseline"] if rows else None,
        baseline_label=BASELINE_LABELS.get(task, "baseline"),
        log_y=log_y,
    )
    plot_path = os.path.join(out_dir, "curves.png")
    save_figure(fig, plot_path)
    table = markdown_table(rows)
    md_path = os.path.join(out_dir, "summary.md")
    atomic_write_text(md_path, f"# {title}\n\n{table}\n![curves](curves.png)\n")
    atomic_write_json(
        os.path.join(out_dir, "summary.json"),
        {"rows": rows, "runs": [_strip(r) for r in records]},
    )
    return md_path, plot_path


def _strip(record: dict) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "result"}
