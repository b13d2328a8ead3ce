"""The cell registry: a cell registered in one place reaches every consumer.

A toy cell (defined and registered here, nowhere else) trains through the
runner, the examples' command line and the Keras Tuner search, and its
orthogonal weight is routed to the orthogonal learning rate.
"""

import importlib.util
import json
import os

import keras
import numpy as np
import pytest

import tf_nnrnn
from tf_nnrnn.cells import registry
from tf_nnrnn.experiments import cli
from tf_nnrnn.experiments.presets import resolve
from tf_nnrnn.experiments.training import run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@keras.saving.register_keras_serializable(package="tf_nnrnn_tests")
class ToyCayleyCell(keras.layers.Layer):
    """`h_t = tanh(x_t @ kernel + h_{t-1} @ cayley(skew(toy_skew)))`."""

    def __init__(self, units, kernel_initializer="glorot_uniform", **kw):
        super().__init__(**kw)
        self.units = units
        self.kernel_initializer = kernel_initializer
        self.state_size = units
        self.output_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], self.units),
            initializer=self.kernel_initializer,
        )
        self.toy_skew = self.add_weight(
            name="toy_skew",
            shape=(self.units, self.units),
            initializer=keras.initializers.RandomNormal(stddev=0.1),
        )

    def call(self, inputs, states):
        w = tf_nnrnn.cayley(tf_nnrnn.skew(self.toy_skew))
        h = keras.ops.tanh(inputs @ self.kernel + states[0] @ w)
        return h, [h]

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": self.kernel_initializer,
        }


@pytest.fixture
def toy():
    """The toy cell, registered for one test (one entry, nothing else)."""
    entry = registry.register_cell(
        "toy",
        ToyCayleyCell,
        orthogonal_weights=("toy_skew",),
        arguments=lambda s: {"kernel_initializer": s.kernel_init or "zeros"},
        reads=("kernel_init",),
    )
    yield entry
    registry.unregister_cell("toy")


class OptimizerSteps(keras.callbacks.Callback):
    """Records the updates of each sub-optimizer and the routed paths."""

    record: dict = {}

    def on_train_end(self, logs=None):
        orthogonal, default = self.model.optimizer.optimizers
        OptimizerSteps.record = {
            "orthogonal": int(orthogonal.iterations.numpy()),
            "default": int(default.iterations.numpy()),
            "lr_orth": float(orthogonal.learning_rate.numpy()),
        }


TINY = dict(time_lag=3, units=8, steps=8, log_every=4, test_size=16)


def test_registry_lists_the_builtin_cells():
    names = registry.cell_names()
    assert names[:7] == (
        "nnrnn",
        "exprnn",
        "scornn",
        "nru",
        "lstm",
        "rnn",
        "rnn_orth",
    )
    assert registry.orthogonal_cells() == (
        "nnrnn", "exprnn", "scornn", "rnn_orth_riemannian"
    )
    assert registry.get_cell("nnrnn").fused_layer is tf_nnrnn.NNRNN
    with pytest.raises(ValueError, match="argument `cell`.*'nnrnn'"):
        registry.get_cell("lstm2")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_cell("nnrnn", tf_nnrnn.NNRNNCell)
    with pytest.raises(ValueError, match="argument `name`"):
        registry.register_cell("Bad Name", tf_nnrnn.NNRNNCell)


def test_toy_cell_trains_through_the_runner(toy, tmp_path):
    assert "toy" in registry.orthogonal_cells()
    settings = resolve("copy", "toy", {**TINY, "lr_orth": 0.05})
    OptimizerSteps.record = {}
    result = run(
        "copy",
        "toy",
        settings,
        out_dir=str(tmp_path),
        callbacks=[OptimizerSteps()],
    )
    assert result["cell"] == "toy" and result["steps"] == 8
    assert np.isfinite(result["test_loss"])
    # The orthogonal weight took the orthogonal learning rate and stepped.
    assert OptimizerSteps.record == {
        "orthogonal": 8,
        "default": 8,
        "lr_orth": pytest.approx(0.05),
    }
    # The registry's arguments reached the cell: the copy task's quick
    # settings give orthogonal cells a Glorot-normal input kernel.
    built = registry.get_cell("toy").build(settings)
    assert built.kernel_initializer == "glorot_normal"


def test_toy_cell_runs_from_the_command_line(toy, tmp_path):
    argv = ["--cell", "toy", "--time-lag", "3", "--units", "8"]
    argv += ["--steps", "4", "--log-every", "2", "--test-size", "8"]
    argv += ["--verbose", "0", "--out", str(tmp_path)]
    assert cli.main("copy", argv) == 0
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["cell"] == "toy" and saved["steps"] == 4


def test_toy_cell_searches_with_the_tuner(toy, tmp_path, monkeypatch):
    for key in (
        "KERASTUNER_TUNER_ID",
        "KERASTUNER_ORACLE_IP",
        "KERASTUNER_ORACLE_PORT",
    ):
        monkeypatch.delenv(key, raising=False)
    path = os.path.join(ROOT, "examples", "tune.py")
    spec = importlib.util.spec_from_file_location("tune_toy", path)
    tune = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tune)
    argv = ["--task", "copy", "--cell", "toy", "--time-lag", "3"]
    argv += ["--units", "8", "--steps", "4", "--log-every", "4"]
    argv += ["--test-size", "8", "--batch-size", "8", "--verbose", "0"]
    argv += ["--tuner-seed", "1", "--max-trials", "1"]
    argv += ["--directory", str(tmp_path)]
    assert tune.main(argv) == 0
    with open(tmp_path / "copy_toy" / "best_hyperparameters.json") as f:
        best = json.load(f)
    # An orthogonal cell: the orthogonal learning rate is searched.
    assert set(best["hyperparameters"]) == {"lr", "lr_orth"}
    assert np.isfinite(best["score"])
