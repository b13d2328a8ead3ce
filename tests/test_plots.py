"""Every figure the examples write reads at a glance: a title, labelled
axes, a legend naming each mark, and visible points for one-epoch runs.

The plotting functions are called directly on small synthetic inputs (no
training); `assert_readable` is the reader's checklist."""

import argparse
import importlib.util
import os

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.figure import Figure

from tf_nnrnn.analysis.plots import (
    covering_extent,
    plot_fisher_memory,
    plot_pseudospectrum,
    plot_robustness,
    plot_schur,
    plot_transients,
)
from tf_nnrnn.analysis.robustness import RobustnessCurve
from tf_nnrnn.analysis.transients import chain_matrix, transient_norms
from tf_nnrnn.experiments.grids import plot_grid_curves
from tf_nnrnn.experiments.results import plot_curves, plot_learning_curve
from tf_nnrnn.experiments.tasks.adding import AddingTask
from tf_nnrnn.experiments.tasks.copy import CopyTask

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_example(name):
    spec = importlib.util.spec_from_file_location(
        f"plots_example_{name}", os.path.join(ROOT, "examples", f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_colorbar(ax) -> bool:
    return ax.get_label() == "<colorbar>"


def _visible_marks(ax) -> int:
    """Marks a reader sees: points of lines drawn with a marker, and the
    points of scatter collections."""
    count = 0
    for line in ax.get_lines():
        if line.get_visible() and line.get_marker() not in (None, "", "None"):
            count += len(line.get_xdata())
    for collection in ax.collections:
        if isinstance(collection, Collection) and collection.get_visible():
            count += len(collection.get_offsets())
    return count


def assert_readable(figure, points: bool = False):
    """Each plotting axes has a title (or the figure a suptitle), x and y
    labels and a legend whose entries are non-empty; an image's colour bar
    has a label and stands for its legend. `points`: some mark is drawn
    as a marker (a single-row run must not be empty axes)."""
    assert isinstance(figure, Figure)
    suptitle = figure._suptitle.get_text() if figure._suptitle else ""
    colorbars = [ax for ax in figure.axes if _is_colorbar(ax)]
    plots = [ax for ax in figure.axes if not _is_colorbar(ax)]
    assert plots, "no axes"
    for ax in plots:
        where = f"axes {ax.get_title()!r}"
        assert ax.get_title().strip() or suptitle.strip(), "no title"
        assert ax.get_xlabel().strip(), f"{where}: no x label"
        assert ax.get_ylabel().strip(), f"{where}: no y label"
        if ax.get_images():
            assert colorbars, f"{where}: an image without a colour bar"
            continue
        legend = ax.get_legend()
        assert legend is not None, f"{where}: no legend"
        texts = [t.get_text().strip() for t in legend.get_texts()]
        assert texts and all(texts), f"{where}: legend entries {texts}"
        # Every labelled artist is in the legend.
        labelled = [
            a.get_label()
            for a in (*ax.get_lines(), *ax.collections, *ax.patches)
            if a.get_label() and not a.get_label().startswith("_")
        ]
        assert set(labelled) <= set(texts), (labelled, texts)
    for cax in colorbars:
        assert cax.get_ylabel().strip() or cax.get_xlabel().strip()
    # Drawn, no legend or title leaves the figure (cut off in the PNG).
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    box = figure.bbox
    others = {ax: ax.get_tightbbox(renderer) for ax in plots}
    for ax in plots:
        legend = ax.get_legend()
        if legend is not None:  # nor covers another panel's labels
            extent = legend.get_window_extent(renderer)
            for other, tight in others.items():
                assert other is ax or not extent.overlaps(tight), (
                    f"{ax.get_title()!r}: legend over {other.get_title()!r}"
                )
        for artist in (legend, ax.title):
            if artist is None or not artist.get_visible():
                continue
            extent = artist.get_window_extent(renderer)
            assert (
                extent.x0 >= box.x0 - 1
                and extent.x1 <= box.x1 + 1
                and extent.y0 >= box.y0 - 1
                and extent.y1 <= box.y1 + 1
            ), f"{ax.get_title()!r}: {type(artist).__name__} cut: {extent}"
    if points:
        assert sum(_visible_marks(ax) for ax in plots) >= 1, "no marker"


def visible_tick_labels(axis) -> list[str]:
    low, high = sorted(axis.get_view_interval())
    locs = [v for v in axis.get_major_locator()() if low <= v <= high]
    labels = axis.get_major_formatter().format_ticks(locs)
    return [label for label in labels if label.strip()]


# --- learning curves (experiments/results.py) --------------------------------
ONE_ROW = [{"step": 3, "cross_entropy": 2.3, "val_cross_entropy": 2.25}]


def test_one_epoch_learning_curve_draws_points_and_the_test_score(tmp_path):
    path = str(tmp_path / "learning_curve.png")
    figure = plot_learning_curve(
        path, ONE_ROW, CopyTask(10), "nnrnn", test={"test_loss": 2.31}
    )
    assert_readable(figure, points=True)
    assert os.path.getsize(path) > 1000
    (ax,) = figure.axes
    marked = {
        line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
        for line in ax.get_lines()
        if line.get_marker() not in (None, "", "None")
    }
    assert marked["training cross_entropy"] == ([3], [2.3])
    assert marked["validation cross_entropy"] == ([3], [2.25])
    assert marked["test cross_entropy 2.31"] == ([3], [2.31])
    # Updates count from 0; the lone update is inside, not on the edge.
    low, high = ax.get_xlim()
    assert low == 0 and high - 3 > 0.2 * high


def test_learning_curve_of_a_loss_is_logarithmic_and_labelled():
    rows = [
        {"step": 10 * i, "mse": v}
        for i, v in enumerate([1.9, 0.4, 0.3, 0.25], 1)
    ]
    figure = plot_learning_curve(
        None, rows, AddingTask(20), "nnrnn", test={"test_mse": 0.2}
    )
    assert_readable(figure, points=True)
    (ax,) = figure.axes
    assert ax.get_yscale() == "log"
    # Under one decade the default log axis labels at most one power of
    # ten; 1-2-5 (and finer) ticks label several values.
    assert len(visible_tick_labels(ax.yaxis)) >= 3
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "training mse",
        "test mse 0.2",
        "predict-1 baseline 0.1667",
    ]


def test_accuracy_curve_stays_linear():
    task = argparse.Namespace(
        name="psmnist", monitor_metric="accuracy", baseline=0.1
    )
    figure = plot_learning_curve(
        None,
        [{"step": 2, "accuracy": 0.0, "val_accuracy": 0.0}],
        task,
        "nnrnn",
    )
    assert_readable(figure, points=True)
    assert figure.axes[0].get_yscale() == "linear"
    assert "chance 0.1" in [
        t.get_text() for t in figure.axes[0].get_legend().get_texts()
    ]


def test_long_curves_are_lines_without_markers(tmp_path):
    x = list(range(100))
    figure = plot_curves(None, {"a": (x, [1.0] * 100)}, "loss", "t")
    (line,) = figure.axes[0].get_lines()
    assert line.get_marker() in (None, "", "None")


# --- grids (experiments/grids.py) --------------------------------------------
def test_grid_curves_name_every_mark_and_keep_equal_curves_visible():
    same = [([2, 4], [2.0, 1.5]), ([2, 4], [2.2, 1.3])]
    figure = plot_grid_curves(
        {"base": same, "l1_penalty": same, "one": [([2], [1.0])]},
        "cross_entropy",
        "ablations",
        baseline=0.9,
        baseline_label="memoryless baseline",
    )
    assert_readable(figure, points=True)
    (ax,) = figure.axes
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "base (mean of 2 seeds)",
        "l1_penalty (mean of 2 seeds)",
        "one",
        "one seed",
        "memoryless baseline 0.9",
    ]
    means = {
        line.get_label(): line
        for line in ax.get_lines()
        if line.get_label() in labels
    }
    # Identical curves: different line styles, so both show.
    base, l1 = (
        means["base (mean of 2 seeds)"],
        means["l1_penalty (mean of 2 seeds)"],
    )
    assert base.get_linestyle() != l1.get_linestyle()
    assert base.get_linewidth() > l1.get_linewidth()  # l1 drawn on top
    np.testing.assert_allclose(
        means["base (mean of 2 seeds)"].get_ydata(), [2.1, 1.4]
    )
    assert len(visible_tick_labels(ax.yaxis)) >= 3


# --- analysis (analysis/plots.py, examples/analysis.py) ----------------------
def robustness_curve():
    return RobustnessCurve(
        np.array([0.0, 0.1]),
        {"uniform": np.array([1.0, 0.9]), "fgsm": np.array([1.0, 0.2])},
        "accuracy",
    )


def test_analysis_plots_are_readable():
    theta = chain_matrix(10, alpha=1.05, diagonal=0.3)
    figures = [
        plot_transients({"Θ": transient_norms(theta, steps=12)}),
        plot_fisher_memory({"delay": 1 / np.arange(1, 11)}),
        plot_schur(theta, log=True),
        plot_pseudospectrum(theta, num_points=30),
        plot_robustness({"rnn": robustness_curve()}),
    ]
    for figure in figures:
        assert_readable(figure)


def test_equal_transients_have_distinct_line_styles():
    """Two orthogonal matrices: both curves flat at 1, both visible."""
    norms = transient_norms(np.eye(4), steps=5)
    figure = plot_transients({"a": norms, "b": norms}, log=True)
    a, b = figure.axes[0].get_lines()
    np.testing.assert_allclose(a.get_ydata(), b.get_ydata())
    assert a.get_linestyle() != b.get_linestyle()
    assert a.get_linewidth() > b.get_linewidth()  # b drawn on top of a
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels[-1] == "10–90 % of the initial states"


def test_default_pseudospectrum_grid_holds_every_contour():
    """Θ's pseudospectra reach far past its eigenvalues (all 0.3): the
    eigenvalues' own square would hide them; the covering extent does
    not (σ_min(zI − V) ≥ |z| − ‖V‖₂)."""
    theta = chain_matrix(10, alpha=1.05, diagonal=0.3)
    extent = covering_extent(theta, 0.1)
    assert extent[1] == pytest.approx(1.05 * (np.linalg.norm(theta, 2) + 0.1))
    figure = plot_pseudospectrum(theta, num_points=40)
    (contours,) = figure.axes[0].collections
    assert all(len(segments) for segments in contours.allsegs)
    cell = (extent[1] - extent[0]) / 39
    for segments in contours.allsegs:  # none reaches the frame
        for segment in segments:
            assert np.abs(segment).max() < extent[1] - cell


def test_pseudospectrum_legend_says_when_a_level_is_too_fine():
    """A normal matrix: its 1e-3 contours are discs far smaller than a
    cell of a 15-point grid; the legend says they are not drawn."""
    figure = plot_pseudospectrum(
        np.diag([0.5, -0.5]), epsilons=(1e-3, 0.2), num_points=15
    )
    labels = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert labels[:2] == ["ε = 0.001 (finer than grid)", "ε = 0.2"]


def test_analysis_example_figures_are_readable():
    example = load_example("analysis")
    n = 12
    curves = {
        d: {"α = 1": np.linspace(1.0, 0.1, 20), "α = 0.95": np.ones(20)}
        for d in (0.0, 0.2)
    }
    assert_readable(example.figure1(curves, n))
    rng = np.random.default_rng(0)
    orthogonal = np.linalg.qr(rng.standard_normal((8, 8)))[0]
    results = {
        cell: {
            "before": orthogonal,
            "after": orthogonal + 0.05 * np.triu(np.ones((8, 8)), 1),
            "robustness": robustness_curve(),
        }
        for cell in example.CELLS
    }
    args = argparse.Namespace(grid=40, time_lag=5)
    figures = example.part2_figures(results, args)
    assert sorted(figures) == [
        "pseudospectra.png",
        "robustness.png",
        "schur.png",
        "transients.png",
    ]
    for figure in figures.values():
        assert_readable(figure)


# --- tuning (examples/tune.py) -----------------------------------------------
def search_record(scores, failed=0):
    lrs = np.geomspace(2e-4, 9e-4, len(scores) + failed)
    trials = [
        {
            "trial_id": str(i),
            "status": "COMPLETED" if i < len(scores) else "FAILED",
            "score": scores[i] if i < len(scores) else None,
            "hyperparameters": {"lr": float(lr), "lr_orth": 1e-6 * (i + 1)},
        }
        for i, lr in enumerate(lrs)
    ]
    best = min(range(len(scores)), key=lambda i: scores[i])
    return {
        "task": "copy",
        "cell": "nnrnn",
        "tuner": "random",
        "objective": {"name": "test_loss", "direction": "min"},
        "score": scores[best],
        "hyperparameters": trials[best]["hyperparameters"],
        "paper": {"lr": 5e-4, "lr_orth": 1e-6},
        "trials": trials,
    }


def test_search_plot_is_readable_with_several_lr_labels(tmp_path):
    tune = load_example("tune")
    path = str(tmp_path / "search.png")
    figure = tune.plot_search(search_record([2.3, 2.2, 2.25, 2.4]), path)
    assert os.path.getsize(path) > 1000
    assert_readable(figure, points=True)
    ax = figure.axes[0]
    # lr spans less than a decade: still several labels on its axis.
    assert len(visible_tick_labels(ax.xaxis)) >= 3
    assert len(visible_tick_labels(ax.yaxis)) >= 2
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["trial (colour: test_loss)", "best", "paper's values"]


def test_search_plot_keeps_colours_when_a_trial_diverges():
    """One trial far worse (nearly diverged) and one failed: the others
    still span the colour map, the outlier and the failure are marked."""
    tune = load_example("tune")
    figure = tune.plot_search(
        search_record([2.3, 2.2, 2.25, 2.4, 2.35, 5e3], failed=1)
    )
    assert_readable(figure, points=True)
    ax = figure.axes[0]
    dots = ax.collections[0]
    assert len(dots.get_offsets()) == 5
    shades = dots.norm(dots.get_array())  # 0 .. 1 along the colour map
    assert shades.min() == 0 and shades.max() == 1
    assert len(np.unique(np.round(shades, 3))) == 5
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "trial with test_loss past the colour bar" in labels
    assert "failed (diverged) trial" in labels


def test_a_narrow_log_axis_has_distinct_tick_labels():
    """Two PTB rows within 0.03 bits: labels are distinct numbers."""
    figure = plot_curves(
        None, {"bpc": ([1, 2], [2.309, 2.305])}, "bpc", "t", log_y=True,
        baseline=2.281,
    )  # fmt: skip
    labels = visible_tick_labels(figure.axes[0].yaxis)
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels


def test_a_fifth_curve_is_thin_not_drawn_over_the_others():
    figure = plot_fisher_memory({f"c{i}": np.ones(5) for i in range(5)})
    widths = [line.get_linewidth() for line in figure.axes[0].get_lines()]
    assert widths[4] < min(widths[:4])


def test_equal_robustness_curves_of_two_models_both_show():
    figure = plot_robustness({"a": robustness_curve(), "b": robustness_curve()})
    lines = figure.axes[0].get_lines()
    a_lines, b_lines = lines[:2], lines[2:]
    assert min(x.get_linewidth() for x in a_lines) > max(
        x.get_linewidth() for x in b_lines
    )
