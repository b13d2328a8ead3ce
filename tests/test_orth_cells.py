"""Issue 15, experiment side: the orthogonally constrained Keras cells of
the registry (`lstm_orth`, `gru_orth`, `rnn_orth_constraint`,
`rnn_orth_riemannian`) through the runner, and `--trivialization dynamic`
through the task scripts."""

import contextlib
import io

import keras
import numpy as np
import pytest

from tf_nnrnn.cells import registry
from tf_nnrnn.experiments import cli
from tf_nnrnn.experiments.presets import SettingError, Settings, resolve
from tf_nnrnn.experiments.training import run
from tf_nnrnn.manifolds import stiefel_error
from tf_nnrnn.riemannian import RiemannianOptimizer

TINY = dict(
    time_lag=3, units=8, steps=8, log_every=4, test_size=16, verbose=0
)
# Cell → column blocks of its recurrent kernel.
CONSTRAINED = {
    "lstm_orth": 4,
    "gru_orth": 3,
    "rnn_orth_constraint": 1,
    "rnn_orth_riemannian": 1,
}


class Snapshots(keras.callbacks.Callback):
    """Keeps the model and a copy of some weights after every update."""

    def __init__(self, names):
        super().__init__()
        self.names = names
        self.steps = []

    def _cell(self):
        return self.model.get_layer("rnn").cell

    def on_train_begin(self, logs=None):
        self.first = self._take()

    def _take(self):
        cell = self._cell()
        return {n: np.array(getattr(cell, n)) for n in self.names}

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append(self._take())


@pytest.mark.parametrize("cell", sorted(CONSTRAINED))
def test_constrained_cells_train_and_stay_orthogonal_per_block(cell):
    blocks = CONSTRAINED[cell]
    record = Snapshots(["recurrent_kernel"])
    settings = resolve("copy", cell, TINY)
    result = run("copy", cell, settings, callbacks=[record])
    assert np.isfinite(result["test_loss"])
    first = record.first["recurrent_kernel"]
    last = record.steps[-1]["recurrent_kernel"]
    assert len(record.steps) == 8
    assert float(stiefel_error(first, blocks)) < 1e-5  # initialised on it
    assert np.abs(last - first).max() > 1e-4  # it trained
    for snapshot in record.steps:  # after every update
        assert float(stiefel_error(snapshot["recurrent_kernel"], blocks)) < 1e-5


def test_unconstrained_baselines_leave_the_manifold():
    """What the constraint prevents: LSTM/GRU/RNN-orth trained the same
    way are not orthogonal per block."""
    for cell, blocks in (("lstm", 4), ("gru", 3), ("rnn_orth", 1)):
        record = Snapshots(["recurrent_kernel"])
        run("copy", cell, resolve("copy", cell, TINY), callbacks=[record])
        last = record.steps[-1]["recurrent_kernel"]
        assert float(stiefel_error(last, blocks)) > 1e-3, cell


def test_riemannian_cell_routes_its_recurrent_kernel_at_lr_orth():
    """Its recurrent kernel, and only it, goes to the Riemannian RMSprop
    at `lr_orth`; with a negligible `lr_orth` it stays put while the rest
    trains at `lr`."""
    record = Snapshots(["recurrent_kernel", "kernel"])
    settings = resolve(
        "copy", "rnn_orth_riemannian", {**TINY, "lr_orth": 1e-12}
    )
    run("copy", "rnn_orth_riemannian", settings, callbacks=[record])
    optimizer = record.model.optimizer
    riemannian, rest = optimizer.optimizers
    assert isinstance(riemannian, RiemannianOptimizer)
    assert isinstance(riemannian.inner_optimizer, keras.optimizers.RMSprop)
    assert float(riemannian.learning_rate) == pytest.approx(1e-12)
    assert isinstance(rest, keras.optimizers.RMSprop)
    last = record.steps[-1]
    np.testing.assert_allclose(
        last["recurrent_kernel"], record.first["recurrent_kernel"], atol=1e-6
    )
    assert np.abs(last["kernel"] - record.first["kernel"]).max() > 1e-4
    # Registry-wide routing (make_optimizer's default) is unchanged: an
    # LSTM's recurrent_kernel is not an orthogonal weight.
    assert registry.orthogonal_pattern() == ".*(?:skew_kernel)"
    assert registry.get_cell("lstm_orth").pattern == "(?!)"
    assert "lstm_orth" not in registry.orthogonal_cells()


class RebaseRecord(Snapshots):
    def __init__(self):
        super().__init__(["skew_kernel", "orthogonal_base"])


def _main(argv, callbacks=()):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(
        io.StringIO()
    ):
        try:
            code = cli.main("copy", argv, callbacks=callbacks)
        except SystemExit as exit:
            code = exit.code
    return code, stderr.getvalue()


@pytest.mark.parametrize("cell", ["exprnn", "nnrnn"])
def test_trivialization_dynamic_through_the_script_rebases(cell, tmp_path):
    record = RebaseRecord()
    argv = [
        "--cell", cell, "--trivialization", "dynamic", "--rebase-every", "3",
        "--time-lag", "3", "--units", "8", "--steps", "8", "--log-every",
        "4", "--test-size", "16", "--verbose", "0", "--lr-orth", "1e-2",
        "--out", str(tmp_path),
    ]
    code, err = _main(argv, [record])
    assert code == 0, err
    base = record.first["orthogonal_base"]
    np.testing.assert_array_equal(base, np.eye(8))
    for step, snapshot in enumerate(record.steps, start=1):
        x, new_base = snapshot["skew_kernel"], snapshot["orthogonal_base"]
        if step % 3 == 0:  # re-based: X back to 0, B moved
            np.testing.assert_array_equal(x, 0.0)
            assert np.abs(new_base - base).max() > 1e-5, step
            np.testing.assert_allclose(
                new_base.T @ new_base, np.eye(8), atol=1e-5
            )
        else:  # X trained, B untouched
            assert np.abs(x).max() > 0, step
            np.testing.assert_array_equal(new_base, base)
        base = new_base


def test_trivialization_static_is_the_default_and_never_rebases():
    record = Snapshots(["skew_kernel"])
    settings = resolve("copy", "exprnn", {**TINY, "rebase_every": 2})
    assert settings.trivialization == "static"
    run("copy", "exprnn", settings, callbacks=[record])
    cell = record.model.get_layer("rnn").cell
    assert not hasattr(cell, "orthogonal_base")
    assert all(np.abs(s["skew_kernel"]).max() > 0 for s in record.steps)


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("trivialization", "sometimes", "['static', 'dynamic']"),
        ("trivialization", None, "['static', 'dynamic']"),
        ("rebase_every", 0, "rebase_every"),
        ("rebase_every", 2.5, "rebase_every"),
    ],
)
def test_bad_trivialization_settings_are_named(name, value, expected):
    with pytest.raises(SettingError, match=f"`{name}`") as info:
        Settings(**{name: value})
    assert info.value.name == name
    assert expected in str(info.value) and repr(value) in str(info.value)


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--trivialization", "sometimes"], "--trivialization"),
        (["--rebase-every", "0"], "--rebase-every"),
    ],
)
def test_bad_trivialization_flags_exit_2_naming_the_flag(argv, flag, tmp_path):
    code, err = _main([*argv, "--out", str(tmp_path)])
    assert code == 2
    assert f"argument {flag}" in err and len(err.strip().splitlines()) == 1


def test_register_cell_checks_the_wrapper():
    with pytest.raises(TypeError, match="`orthogonal_wrapper`.*got 3"):
        registry.register_cell(
            "toy_w", keras.layers.SimpleRNNCell,
            orthogonal_weights=("recurrent_kernel",), orthogonal_wrapper=3,
        )
    with pytest.raises(ValueError, match="`orthogonal_wrapper`.*no"):
        registry.register_cell(
            "toy_w", keras.layers.SimpleRNNCell,
            orthogonal_wrapper=RiemannianOptimizer,
        )
    assert "toy_w" not in registry.cell_names()
