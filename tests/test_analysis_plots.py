"""Figures of the analyses, written atomically."""

import os

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


def test_every_plot_saves_a_png(tmp_path):
    theta = chain_matrix(10, alpha=1.05, diagonal=0.3)
    curve = RobustnessCurve(
        np.array([0.0, 0.1]),
        {"uniform": np.array([1.0, 0.9]), "fgsm": np.array([1.0, 0.2])},
        "accuracy",
    )
    figures = {
        "transients": plot_transients(
            {"Θ": transient_norms(theta, steps=12)}, log=True
        ),
        "memory": plot_fisher_memory({"delay": 1 / np.arange(1, 11)}),
        "schur": plot_schur(theta, title="Θ", log=True),
        "pseudo": plot_pseudospectrum(theta, num_points=20),
        "pseudo_grid": plot_pseudospectrum(
            pseudospectrum(theta, num_points=20), epsilons=[0.1]
        ),
        "robustness": plot_robustness({"rnn": curve}),
    }
    for name, figure in figures.items():
        assert isinstance(figure, Figure)
        path = save_figure(figure, tmp_path / "out" / f"{name}.png")
        with open(path, "rb") as file:
            assert file.read(8) == b"\x89PNG\r\n\x1a\n"
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
