"""Every bad argument of the core fails where it is given, in one line.

Each row: a call, the documented exception type (ValueError for a value
out of range, TypeError for a wrong type), and the argument its message
must name. Nothing may be written (no file, nothing printed) on the way.
NumPy scalars, which Keras accepts, are accepted too.
"""

import json
import math

import keras
import numpy as np
import pytest

import tf_nnrnn
from tf_nnrnn import layers
from tf_nnrnn.optimizers import make_optimizer, orthogonal_multi_optimizer

INF, NAN = math.inf, math.nan
X = np.ones((2, 5, 3), "float32")
HUGE = 10**7  # units: a 10⁷ × 10⁷ float32 matrix is 364 TiB


def sgd():
    return keras.optimizers.SGD()


def call_after_build(layer, x, **kwargs):
    """Build `layer` on `X`, then call it on `x`."""
    layer(X)
    return layer(x, **kwargs)


def rnn(cell):
    return keras.layers.RNN(cell)


# (id, call, exception type, argument named in the message)
CASES = [
    # Regularizer and constraint values that poison every weight.
    ("gamma_inf", lambda: tf_nnrnn.GammaRegularizer(INF), ValueError, "delta"),
    ("gamma_nan", lambda: tf_nnrnn.GammaRegularizer(NAN), ValueError, "delta"),
    ("gamma_neg", lambda: tf_nnrnn.GammaRegularizer(-1.0), ValueError, "delta"),
    ("gamma_str", lambda: tf_nnrnn.GammaRegularizer("1"), TypeError, "delta"),
    ("gamma_norm", lambda: tf_nnrnn.GammaRegularizer(1.0, "l3"), ValueError,
     "norm"),
    ("clip_nan", lambda: tf_nnrnn.ClipRange(NAN), ValueError, "min_value"),
    ("clip_max_nan", lambda: tf_nnrnn.ClipRange(0.0, NAN), ValueError,
     "max_value"),
    ("clip_max_inf", lambda: tf_nnrnn.ClipRange(0.0, INF), ValueError,
     "max_value"),
    ("clip_str", lambda: tf_nnrnn.ClipRange("0"), TypeError, "min_value"),
    # Optimizer values Keras would take and ignore, or fail on in fit.
    ("lr_inf", lambda: make_optimizer(learning_rate=INF), ValueError,
     "learning_rate"),
    ("lr_nan", lambda: make_optimizer(learning_rate=NAN), ValueError,
     "learning_rate"),
    ("lr_str", lambda: make_optimizer(learning_rate="1e-3"), TypeError,
     "learning_rate"),
    ("orth_lr_inf", lambda: make_optimizer(orthogonal_learning_rate=INF),
     ValueError, "orthogonal_learning_rate"),
    ("clipnorm_nan", lambda: make_optimizer(clipnorm=NAN), ValueError,
     "clipnorm"),
    ("clipnorm_neg", lambda: make_optimizer(clipnorm=-1), ValueError,
     "clipnorm"),
    ("clipvalue_nan", lambda: make_optimizer(clipvalue=NAN), ValueError,
     "clipvalue"),
    ("template_clipnorm", lambda: make_optimizer(
        keras.optimizers.SGD(clipnorm=-1.0)), ValueError, "clipnorm"),
    ("global_clip_str", lambda: make_optimizer(global_clipnorm="1"),
     TypeError, "global_clipnorm"),
    ("global_clip_inf", lambda: make_optimizer(global_clipnorm=INF),
     ValueError, "global_clipnorm"),
    ("global_clip_neg", lambda: make_optimizer(global_clipnorm=-1.0),
     ValueError, "global_clipnorm"),
    ("multi_global_clip_str", lambda: orthogonal_multi_optimizer(
        sgd(), sgd(), global_clipnorm="1"), TypeError, "global_clipnorm"),
    ("pattern_regex", lambda: make_optimizer(pattern="["), ValueError,
     "pattern"),
    ("pattern_type", lambda: make_optimizer(pattern=3), TypeError, "pattern"),
    ("multi_pattern", lambda: orthogonal_multi_optimizer(
        sgd(), sgd(), pattern="("), ValueError, "pattern"),
    # Dtypes the parametrizations cannot run in (mixed policies can).
    *[
        (f"{cls.__name__}_{dtype}", lambda c=cls, d=dtype: c(4, dtype=d),
         ValueError, "dtype")
        for cls in (tf_nnrnn.NNRNNCell, tf_nnrnn.ExpRNNCell,
                    tf_nnrnn.ScoRNNCell, layers.NNRNN, layers.ExpRNN,
                    layers.ScoRNN)
        for dtype in ("float16", "bfloat16", "int32")
    ],
    ("NRUCell_int32", lambda: tf_nnrnn.NRUCell(4, 4, 1, dtype="int32"),
     ValueError, "dtype"),
    ("ModReLURNNCell_int32", lambda: tf_nnrnn.ModReLURNNCell(
        4, dtype="int32"), ValueError, "dtype"),
    ("ModReLURNNCell_bfloat16", lambda: tf_nnrnn.ModReLURNNCell(
        4, dtype="bfloat16"), ValueError, "dtype"),
    # Sizes whose matrices cannot fit: refused before any allocation.
    ("huge_fused", lambda: layers.ExpRNN(HUGE)(X), ValueError, "units"),
    ("huge_cell", lambda: rnn(tf_nnrnn.NNRNNCell(HUGE))(X), ValueError,
     "units"),
    ("huge_nru", lambda: rnn(tf_nnrnn.NRUCell(HUGE, 4, 1))(X), ValueError,
     "units"),
    ("huge_modrelu", lambda: rnn(tf_nnrnn.ModReLURNNCell(HUGE))(X),
     ValueError, "units"),
    # Shapes that differ from the built ones: named, not a matmul error.
    ("features_fused", lambda: call_after_build(
        layers.ExpRNN(4), np.ones((2, 5, 4), "float32")), ValueError,
     "sequences"),
    ("features_cell", lambda: call_after_build(
        rnn(tf_nnrnn.ExpRNNCell(4)), np.ones((2, 5, 4), "float32")),
     ValueError, "inputs"),
    ("features_nru", lambda: call_after_build(
        rnn(tf_nnrnn.NRUCell(4, 4, 1)), np.ones((2, 5, 4), "float32")),
     ValueError, "inputs"),
    ("features_modrelu", lambda: call_after_build(
        rnn(tf_nnrnn.ModReLURNNCell(4)), np.ones((2, 5, 4), "float32")),
     ValueError, "inputs"),
    ("state_fused", lambda: layers.NNRNN(4)(
        X, initial_state=np.zeros((2, 6), "float32")), ValueError,
     "initial_state"),
    ("state_batch_fused", lambda: layers.ScoRNN(4)(
        X, initial_state=[np.zeros((3, 4), "float32")]), ValueError,
     "initial_state"),
    ("state_cell", lambda: rnn(tf_nnrnn.NNRNNCell(4))(
        X, initial_state=np.zeros((2, 6), "float32")), ValueError, "states"),
    ("state_nru", lambda: rnn(tf_nnrnn.NRUCell(4, 4, 1))(
        X, initial_state=[np.zeros((2, 4), "float32"),
                          np.zeros((2, 5), "float32")]), ValueError,
     "states"),
    ("state_modrelu", lambda: rnn(tf_nnrnn.ModReLURNNCell(4))(
        X, initial_state=np.zeros((2, 6), "float32")), ValueError, "states"),
    # Masks that do not match the sequences (T = 5, batch 2).
    ("mask_short", lambda: layers.ExpRNN(4)(X, mask=np.ones((2, 4), bool)),
     ValueError, "mask"),
    ("mask_long", lambda: layers.ExpRNN(4)(X, mask=np.ones((2, 7), bool)),
     ValueError, "mask"),
    ("mask_batch", lambda: layers.ExpRNN(4)(
        X[:1], mask=np.ones((2, 5), bool)), ValueError, "mask"),
    ("mask_features", lambda: layers.ExpRNN(4)(
        X, mask=np.ones((2, 5, 3), bool)), ValueError, "mask"),
]  # fmt: skip


@pytest.mark.parametrize(
    "call, error, name", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_argument_raises_naming_it(
    call, error, name, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error  # not a subclass (e.g. a TF error)
    message = str(info.value)
    assert f"`{name}`" in message, message
    assert "Received an invalid value" in message, message
    assert list(tmp_path.iterdir()) == []
    out, err = capsys.readouterr()
    assert out == "" and err == ""


def test_half_precision_message_points_to_mixed_policies():
    with pytest.raises(ValueError, match="mixed_float16") as info:
        tf_nnrnn.ExpRNNCell(4, dtype="float16")
    assert "'float16'" in str(info.value)
    # ... and the mixed policies it points to do work.
    for policy in ("mixed_float16", "mixed_bfloat16"):
        out = layers.ExpRNN(4, dtype=policy)(X)
        assert out.shape == (2, 4)


def test_huge_units_message_gives_the_sizes():
    with pytest.raises(ValueError) as info:
        layers.NNRNN(HUGE)(X)
    message = str(info.value)
    assert "10000000 × 10000000" in message
    assert "363.8 TiB each" in message  # 10¹⁴ float32 entries
    assert "727.6 TiB)" in message  # the weight and W
    assert "iB are available" in message


def test_memory_bound_refuses_only_what_cannot_fit(monkeypatch):
    # Never refused at normal sizes with the memory this machine has.
    from tf_nnrnn import validation

    validation.check_matrix_fits("units", 4096, 4096, 4096, 8, count=2)
    # With 1 MiB available, 512² float32 (1 MiB, twice) cannot fit...
    monkeypatch.setattr(validation, "available_memory", lambda: 2**20)
    with pytest.raises(ValueError, match="`units`") as info:
        keras.layers.RNN(tf_nnrnn.ExpRNNCell(512))(X)
    assert "1.0 MiB each" in str(info.value)
    assert "(2.0 MiB) and 1.0 MiB are available" in str(info.value)
    # ... 64² fits, and an unknown amount of memory refuses nothing.
    assert keras.layers.RNN(tf_nnrnn.ExpRNNCell(64))(X).shape == (2, 64)
    monkeypatch.setattr(validation, "available_memory", lambda: None)
    validation.check_matrix_fits("units", HUGE, HUGE, HUGE, 4)


def test_available_memory_reads_the_system():
    from tf_nnrnn.validation import available_memory

    memory = available_memory()
    assert memory is None or 2**20 < memory < 2**50


def test_numpy_scalars_are_accepted():
    opt = make_optimizer(
        "rmsprop",
        np.float32(1e-3),
        np.float64(1e-4),
        global_clipnorm=np.float32(1.0),
        clipnorm=np.float32(2.0),
    )
    rest_lr = float(keras.ops.convert_to_numpy(opt.optimizers[1].learning_rate))
    assert rest_lr == pytest.approx(1e-3)
    assert opt.joint_clipnorm == 1.0
    assert type(opt.joint_clipnorm) is float
    assert opt.optimizers[0].clipnorm == 2.0
    json.dumps(opt.get_config(), default=str)
    units = np.int64(4)
    for cell in (
        tf_nnrnn.NNRNNCell(units, dropout=np.float32(0.1)),
        tf_nnrnn.ExpRNNCell(units),
        tf_nnrnn.ScoRNNCell(units, np.int64(1)),
        tf_nnrnn.NRUCell(units, np.int64(4), np.int64(1)),
        tf_nnrnn.ModReLURNNCell(units),
    ):
        assert keras.layers.RNN(cell)(X).shape == (2, 4)
        assert type(cell.units) is int
        json.dumps(cell.get_config())
    assert layers.ExpRNN(units)(X).shape == (2, 4)
    reg = tf_nnrnn.GammaRegularizer(np.float32(0.5))
    assert type(reg.delta) is float and reg.delta == 0.5
    clip = tf_nnrnn.ClipRange(np.float32(0.0), np.float64(2.0))
    assert clip.get_config() == {"min_value": 0.0, "max_value": 2.0}
