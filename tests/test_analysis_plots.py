"""Figures of the analyses, written atomically."""

import os

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from tf_nnrnn.analysis.plots import (
    plot_fisher_memory,
    plot_pseudospectrum,
    plot_robustness,
    plot_schur,
    plot_transients,
    save_figure,
)
from tf_nnrnn.analysis.pseudospectra import pseudospectrum
from tf_nnrnn.analysis.robustness import RobustnessCurve
from tf_nnrnn.analysis.transients import chain_matrix, transient_norms

EXTENT = (-1.4, 1.4, -1.4, 1.4)


def legend_entries(ax):
    legend = ax.get_legend()
    assert legend is not None, "no legend"
    return [text.get_text() for text in legend.get_texts()]


def assert_not_blank(path):
    """The PNG decodes to an image that is not one flat colour: its pixels
    vary, and some of them are not the background. (Measured: a figure
    with empty axes has std 0.08 and 1.9 % non-background pixels, the
    line plots here 0.1 and 3.7 %, an empty figure 0 and 0 %.)"""
    pixels = matplotlib.image.imread(path)[..., :3]
    assert pixels.ndim == 3 and min(pixels.shape[:2]) >= 100, pixels.shape
    assert pixels.std() > 0.05, (path, pixels.std())
    background = np.all(pixels == pixels[0, 0], axis=-1)
    assert 0.01 < 1.0 - background.mean() < 0.99, (path, background.mean())


def check_transients(figure, norms):
    (ax,) = figure.axes
    assert ax.get_title() == "transient norms after an impulse"
    assert ax.get_xlabel().startswith("t ") and ax.get_ylabel() == "‖h_t‖"
    assert ax.get_yscale() == "log"
    assert legend_entries(ax) == ["Θ (mean)", "10–90 % of the initial states"]
    (line,) = ax.get_lines()
    assert line.get_label() == "Θ (mean)"
    np.testing.assert_allclose(line.get_ydata(), norms.mean(axis=0))
    assert len(ax.collections) == 1  # the 10-90 % band


def check_memory(figure, curve):
    (ax,) = figure.axes
    assert ax.get_title() == "Fisher memory curves"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("k (lag)", "J(k)")
    assert legend_entries(ax) == ["delay"]
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_xdata(), np.arange(len(curve)))
    np.testing.assert_allclose(line.get_ydata(), curve)


def check_schur(figure, theta):
    ax, colorbar = figure.axes
    assert ax.get_title() == "Θ"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("j (column)", "i (row)")
    assert colorbar.get_ylabel() == "|S_ij|"
    (image,) = ax.get_images()
    magnitude = np.asarray(image.get_array())
    assert magnitude.shape == theta.shape
    # Θ is lower triangular: its Schur form has the same eigenvalues
    # (the diagonal 0.3) and Frobenius norm (clipped below at 1e-4 max).
    np.testing.assert_allclose(
        np.sqrt(np.sum(magnitude**2)), np.linalg.norm(theta), rtol=1e-6
    )


def check_pseudo(figure, title, levels):
    (ax,) = figure.axes
    assert ax.get_title() == title
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("Re z", "Im z")
    assert ax.get_aspect() == 1.0
    (contours,) = ax.collections
    np.testing.assert_allclose(contours.levels, np.log10(levels))
    # Every level is drawn, and labelled with its ε.
    assert all(len(segments) for segments in contours.allsegs)
    labels = {text.get_text() for text in contours.labelTexts}
    assert labels == {f"ε=1e{np.log10(e):.0f}" for e in levels}
    assert min(t.get_fontsize() for t in contours.labelTexts) >= 9
    # The legend names each level in its contour's colour, the dots and
    # the circle.
    assert legend_entries(ax) == [
        *(f"ε = {e:g}" for e in levels),
        "eigenvalues of V",
        "|z| = 1",
    ]
    *keys, eigen, circle = ax.get_lines()
    for key, color in zip(keys, contours.get_edgecolor()):
        np.testing.assert_allclose(
            matplotlib.colors.to_rgba(key.get_color()), color
        )
    np.testing.assert_allclose(eigen.get_xdata(), 0.3, atol=0.2)
    np.testing.assert_allclose(
        np.hypot(circle.get_xdata(), circle.get_ydata()), 1.0
    )


def check_robustness(figure, curve):
    (ax,) = figure.axes
    assert ax.get_title() == "metric under input perturbations"
    assert ax.get_xlabel().startswith("ε") and ax.get_ylabel() == "accuracy"
    assert legend_entries(ax) == ["rnn: uniform", "rnn: fgsm"]
    for line, kind in zip(ax.get_lines(), ("uniform", "fgsm")):
        np.testing.assert_allclose(line.get_xdata(), curve.epsilons)
        np.testing.assert_allclose(line.get_ydata(), curve.values[kind])


def test_every_plot_saves_a_png(tmp_path):
    """Each figure carries what a reader needs (title, axis labels, legend,
    the data it was given) and saves as a PNG that is not blank."""
    theta = chain_matrix(10, alpha=1.05, diagonal=0.3)
    curve = RobustnessCurve(
        np.array([0.0, 0.1]),
        {"uniform": np.array([1.0, 0.9]), "fgsm": np.array([1.0, 0.2])},
        "accuracy",
    )
    norms = transient_norms(theta, steps=12)
    memory = 1 / np.arange(1, 11)
    figures = {
        "transients": plot_transients({"Θ": norms}, log=True),
        "memory": plot_fisher_memory({"delay": memory}),
        "schur": plot_schur(theta, title="Θ", log=True),
        # The default grid (eigenvalues ± 25 %) lies inside Θ's
        # 1e-3-pseudospectrum: no contour would show; the example's extent.
        "pseudo": plot_pseudospectrum(
            theta, num_points=40, extent=EXTENT, title="pseudospectrum"
        ),
        "pseudo_grid": plot_pseudospectrum(
            pseudospectrum(theta, num_points=40, extent=EXTENT),
            epsilons=[0.1],
            title="g",
        ),
        "robustness": plot_robustness({"rnn": curve}),
    }
    check_transients(figures["transients"], norms)
    check_memory(figures["memory"], memory)
    check_schur(figures["schur"], theta)
    check_pseudo(figures["pseudo"], "pseudospectrum", (1e-3, 1e-2, 1e-1))
    check_pseudo(figures["pseudo_grid"], "g", (0.1,))
    check_robustness(figures["robustness"], curve)
    for name, figure in figures.items():
        assert isinstance(figure, Figure)
        path = save_figure(figure, tmp_path / "out" / f"{name}.png")
        with open(path, "rb") as file:
            assert file.read(8) == b"\x89PNG\r\n\x1a\n"
        assert_not_blank(path)
    assert sorted(os.listdir(tmp_path / "out")) == sorted(
        f"{name}.png" for name in figures
    )


def test_plot_into_given_axes():
    figure = Figure()
    ax = figure.add_subplot()
    assert plot_schur(np.eye(3), ax=ax) is figure


def test_failed_save_leaves_no_temporary_file(tmp_path):
    figure = plot_fisher_memory({"a": [1.0, 0.5]})
    with pytest.raises(ValueError):
        save_figure(figure, tmp_path / "figure.unknown_format")
    assert os.listdir(tmp_path) == []


def test_bad_pseudospectrum_levels():
    with pytest.raises(ValueError, match="`epsilons`"):
        plot_pseudospectrum(np.eye(2) * 0.5, epsilons=[0.0], num_points=5)
