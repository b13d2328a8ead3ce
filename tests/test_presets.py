"""Tests of the run settings: resolution order, the papers' presets and
published tables (tf_nnrnn.experiments.presets, paper_tables)."""

import dataclasses
import math

import pytest

from tf_nnrnn.cells.nnrnn import NNRNNCell
from tf_nnrnn.cells.registry import orthogonal_cells
from tf_nnrnn.experiments.presets import (
    PAPER,
    PAPER_TABLES,
    QUICK,
    QUICK_ORTHOGONAL,
    SettingError,
    Settings,
    paper_plan,
    paper_settings,
    resolve,
)

DEFAULTS = Settings()


def test_resolution_order_defaults_quick_preset_overrides():
    # defaults < quick
    quick = resolve("adding", "nnrnn")
    assert quick.test_size == QUICK["adding"]["test_size"] == 1000
    assert quick.seed == DEFAULTS.seed
    # quick < preset: the paper is silent on the adding test size, so the
    # quick value stays; what the paper sets wins.
    paper = resolve("adding", "nnrnn", preset="paper")
    assert paper.test_size == 1000 != DEFAULTS.test_size
    assert (paper.length, paper.batch_size) == (20, 1)
    assert paper.units == PAPER["adding"]["nnrnn"]["units"] == 128
    # preset < overrides
    flagged = resolve("adding", "nnrnn", {"test_size": 7, "units": 6}, "paper")
    assert (flagged.test_size, flagged.units, flagged.length) == (7, 6, 20)
    # A preset puts back the full values of what the quick run shrinks.
    mnist = resolve("psmnist", "nnrnn", preset="paper")
    assert QUICK["psmnist"]["train_examples"] == 5000
    assert mnist.train_examples is None and mnist.epochs == 100
    ptb = resolve("ptb", "rnn", preset="paper")
    assert ptb.steps is None and ptb.bptt == 150
    assert resolve("ptb", "rnn").steps == QUICK["ptb"]["steps"]


@pytest.mark.parametrize(
    "task, cell", [(t, c) for t in PAPER for c in PAPER[t]]
)
def test_every_preset_sets_what_the_quick_run_sets(task, cell):
    quick = set(QUICK[task])
    if cell in orthogonal_cells() and task != "ptb":
        quick |= set(QUICK_ORTHOGONAL)
    if task == "adding":
        quick.discard("test_size")  # no paper gives one (see above)
    missing = quick - set(paper_settings(task, cell))
    assert not missing, f"{task}/{cell} inherits quick values {missing}"


# (task, cell, setting, value) from shared/design/anchors.md and the
# nnRNN README tables.
ANCHORS = [
    ("copy", "nnrnn", "lr_orth", 1e-6),
    ("copy", "exprnn", "skew_init", "henaff"),
    ("copy", "rnn", "rho", 0.9),
    ("copy", "rnn_orth", "lr", 2e-4),
    ("psmnist", "nnrnn", "delta", 0.15),
    ("psmnist", "nnrnn", "lr", 1.5e-4),
    ("psmnist", "exprnn", "lr_orth", 5e-5),
    ("psmnist", "lstm", "rho", 0.99),
    ("psmnist", "rnn", "lr", 1e-4),
    ("psmnist", "rnn_orth", "lr", 5e-5),
    ("psmnist", "scornn", "num_negative_ones", 17),
    ("psmnist", "nru", "clip_norm", 1.0),
    ("ptb", "nnrnn", "beta_1", 0.0),
    ("ptb", "nnrnn", "t_decay", 1e-5),
    ("ptb", "rnn", "lr", 1e-5),
    ("ptb", "rnn_orth", "lr", 1e-4),
    ("ptb", "exprnn", "units", 1024),
]


@pytest.mark.parametrize("task, cell, name, value", ANCHORS)
def test_presets_hold_the_published_settings(task, cell, name, value):
    assert getattr(resolve(task, cell, preset="paper"), name) == value


def test_paper_protocols_schedule_split_and_kernels():
    for cell in PAPER["ptb"]:
        s = resolve("ptb", cell, preset="paper")
        assert s.plateau_factor == 0.5 and s.kernel_init == "he_normal"
        assert (s.batch_size, s.epochs, s.embedding_dim) == (128, 100, 200)
    for cell in PAPER["psmnist"]:
        s = resolve("psmnist", cell, preset="paper")
        assert s.mnist_split == "reference" and s.plateau_factor is None
        assert (s.batch_size, s.permutation_seed) == (100, 1234)
    assert resolve("psmnist", "nnrnn").mnist_split == "tail"  # quick
    # scoRNN keeps its U(-0.01, 0.01) input kernel under the preset.
    assert resolve("copy", "scornn", preset="paper").kernel_init is None
    assert resolve("copy", "scornn").kernel_init == "glorot_normal"
    ptb300 = resolve("ptb", "nnrnn", {"bptt": 300}, preset="paper")
    assert (ptb300.clip_norm, ptb300.t_decay) == (5.0, 1e-6)


def test_cell_kernel_defaults_are_the_references():
    assert type(NNRNNCell(4).kernel_initializer).__name__ == "GlorotNormal"


@pytest.mark.parametrize(
    "name, value", [("plateau_factor", 1.0), ("mnist_split", "random")]
)
def test_new_settings_are_checked(name, value):
    with pytest.raises(SettingError, match=f"`{name}`") as info:
        Settings(**{name: value})
    assert info.value.name == name


def test_paper_tables_resolve_and_carry_their_sources():
    for table, runs in PAPER_TABLES.items():
        assert runs and paper_plan(table) == runs
        for run in runs:
            assert run.table == table and run.source
            settings = resolve(run.task, run.cell, run.settings, "paper")
            assert dataclasses.asdict(settings)  # every run resolves
            assert run.published is None or math.isfinite(run.published)
    published = {
        (r.table, r.cell): r for runs in PAPER_TABLES.values() for r in runs
    }
    nnrnn = published["ptb150_same_params", "nnrnn"]
    assert (nnrnn.published, nnrnn.metric) == (1.40, "test_bpc")
    assert nnrnn.other["test_accuracy"] == pytest.approx(0.6989)
    exprnn = published["ptb150_same_params", "exprnn"]
    assert exprnn.settings == {"bptt": 150, "units": 1386, "lr": 8e-3,
                               "lr_orth": 8e-4}  # fmt: skip
    assert published["ptb300_same_hidden", "exprnn"].published == 1.48
    assert published["copy_same_params", "exprnn"].settings == {"units": 176}
    assert published["copy_same_params", "lstm"].settings["units"] == 63
    assert published["psmnist_same_params", "lstm"].settings == {
        "units": 257,
        "rho": 0.9,
    }
    assert published["copy_same_hidden", "lstm"].published == 0.0945
    with pytest.raises(ValueError, match="`table`"):
        paper_plan("copy")
