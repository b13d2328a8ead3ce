"""The private-API seam: every private use is in `tf_nnrnn/_keras_private.py`
and still works with the installed Keras, TensorFlow and KerasTuner.

Each test names the private piece it pins, so an upgrade that moves one
fails here with that name (and `cells/base.py` silently recomputing `W`
per step, or checkpoints carrying the cache, cannot go unnoticed).
"""

import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_nnrnn
from tf_nnrnn import _keras_private as private

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRIVATE = re.compile(
    r"keras\.src|tensorflow\.python|_trackable_children|"
    r"keras_tuner\.engine|kt\.engine|global_state"
)


def test_no_private_api_outside_the_seam():
    offenders = []
    for folder, _, files in os.walk(os.path.join(ROOT, "tf_nnrnn")):
        for name in files:
            path = os.path.join(folder, name)
            if not name.endswith(".py") or name == "_keras_private.py":
                continue
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    code = line.split("#", 1)[0]
                    if PRIVATE.search(code) and "`" not in code:
                        offenders.append(f"{path}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_dropout_rnn_cell_mixin_is_keras_own():
    """1. `keras.src.layers.rnn.dropout_rnn_cell.DropoutRNNCell`."""
    from keras.src.layers.rnn import dropout_rnn_cell

    assert private.DropoutRNNCell is dropout_rnn_cell.DropoutRNNCell
    for method in ("get_dropout_mask", "reset_dropout_mask"):
        assert hasattr(private.DropoutRNNCell, method), method
    assert issubclass(tf_nnrnn.NNRNNCell, private.DropoutRNNCell)
    assert issubclass(tf_nnrnn.NRUCell, private.DropoutRNNCell)


def test_call_context_training_flag():
    """2. `keras.src.backend.common.global_state` `current_call_ctx`."""
    seen = []

    class Probe(keras.layers.Layer):
        def call(self, x, training=None):
            seen.append(private.keras_training_flag())
            return x

    model = keras.Sequential([keras.Input((2,)), Probe()])
    seen.clear()
    model(np.ones((1, 2)), training=True)
    model(np.ones((1, 2)), training=False)
    assert seen == [True, False]


def test_checkpoints_leave_the_matrix_cache_out(tmp_path):
    """3. TensorFlow's `_trackable_children(save_type=...)`."""
    cell = tf_nnrnn.ExpRNNCell(4)
    keras.layers.RNN(cell)(np.ones((1, 3, 2), "float32"))
    assert cell._matrix_cache is not None
    checkpoint_children = cell._trackable_children("checkpoint")
    saved_model_children = cell._trackable_children("savedmodel")
    assert "_matrix_cache" not in checkpoint_children
    assert "_matrix_cache" in saved_model_children
    path = tf.train.Checkpoint(cell=cell).write(str(tmp_path / "ckpt"))
    names = [name for name, _ in tf.train.list_variables(path)]
    assert any("skew_kernel" in n for n in names), names
    assert not any("matrix_cache" in n for n in names), names


def test_keras_tuner_hyperparameter_classes():
    """4. `keras_tuner.engine.hyperparameters.{Fixed, Choice, Float}`."""
    kt = pytest.importorskip("keras_tuner")
    fixed, choice, floating = private.keras_tuner_hyperparameter_classes()
    hp = kt.HyperParameters()
    hp.Fixed("a", 1)
    hp.Choice("b", [1, 2])
    hp.Float("c", 0.1, 1.0)
    kinds = [type(p) for p in hp.space]
    assert kinds == [fixed, choice, floating]
