"""Robustness to bounded input perturbations (Sengupta & Friston 2018)."""

import keras
import numpy as np
import pytest

from tf_nnrnn.analysis.robustness import (
    RobustnessCurve,
    accuracy,
    gradient_sign,
    perturbation_directions,
    robustness_curve,
    robustness_table,
)

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def sign_of_sum_data(n, seed):
    """Label 1 when the sequence's sum is positive: easily learned."""
    x = np.random.default_rng(seed).standard_normal((n, 10, 1))
    return x.astype("float32"), (x.sum(axis=(1, 2)) > 0).astype("int32")


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((10, 1)),
            keras.layers.SimpleRNN(16),
            keras.layers.Dense(2),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=LOSS)
    x, y = sign_of_sum_data(1024, seed=0)
    model.fit(x, y, batch_size=64, epochs=8, verbose=0)
    x_test, y_test = sign_of_sum_data(400, seed=1)
    return model, x_test, y_test


def test_model_learned_the_task(trained):
    model, x, y = trained
    assert accuracy(y, model.predict(x, verbose=0)) > 0.9


def test_zero_epsilon_leaves_accuracy_unchanged(trained):
    model, x, y = trained
    clean = accuracy(y, model.predict(x, verbose=0))
    curve = robustness_curve(model, x, y, epsilons=[0.0])
    for kind in ("uniform", "gaussian", "fgsm"):
        assert curve.values[kind][0] == clean


def test_perturbations_hurt_and_fgsm_hurts_most(trained):
    model, x, y = trained
    epsilons = [0.0, 0.1, 0.3, 0.6]
    curve = robustness_curve(model, x, y, epsilons=epsilons)
    clean = curve.values["fgsm"][0]
    assert curve.values["fgsm"][-1] < clean
    assert np.mean(curve.values["fgsm"]) <= np.mean(curve.values["uniform"])
    assert np.all(np.diff(curve.values["fgsm"]) <= 0)
    loss_curve = robustness_curve(
        model, x, y, epsilons=epsilons, kinds=["fgsm"], metric="loss"
    )
    assert np.all(np.diff(loss_curve.values["fgsm"]) > 0)


def test_directions_are_bounded(trained):
    model, x, y = trained
    uniform = perturbation_directions(model, x, y, "uniform", seed=1)
    assert np.abs(uniform).max() <= 1.0 and uniform.shape == x.shape
    signs = gradient_sign(model, x, y, batch_size=64)
    assert set(np.unique(signs)) <= {-1.0, 0.0, 1.0}
    assert np.mean(signs != 0) > 0.9
    # The model was compiled with LOSS: the same directions by default.
    np.testing.assert_array_equal(
        perturbation_directions(model, x, y, "fgsm", loss=LOSS), signs
    )


def test_callable_metric_and_clip(trained):
    model, x, y = trained

    def positive_rate(y_true, y_pred):
        return float(np.mean(np.argmax(y_pred, -1) == 1))

    curve = robustness_curve(
        model,
        x,
        y,
        epsilons=[0.0, 5.0],
        kinds=["uniform"],
        metric=positive_rate,
        clip=(-0.01, 0.01),
    )
    assert curve.metric == "positive_rate"
    assert curve.values["uniform"].shape == (2,)


def test_table_and_sequence_accuracy():
    curve = RobustnessCurve(
        np.array([0.0, 0.5]),
        {"uniform": np.array([1.0, 0.75]), "fgsm": np.array([1.0, 0.25])},
        "accuracy",
    )
    table = robustness_table({"rnn": curve, "nnrnn": curve})
    assert table.splitlines()[0] == "| model | perturbation | ε = 0 | ε = 0.5 |"
    assert "| nnrnn | fgsm | 1.000 | 0.250 |" in table
    y = np.array([[0, 1], [1, 1]])
    logits = np.array([[[1, 0], [0, 1]], [[0, 1], [1, 0]]], dtype=float)
    assert accuracy(y, logits) == 0.75
    assert accuracy(np.eye(2)[y], logits) == 0.75


def test_bad_arguments(trained):
    model, x, y = trained
    with pytest.raises(ValueError, match="`epsilons`"):
        robustness_curve(model, x, y, epsilons=[0.1, -0.1])
    with pytest.raises(ValueError, match="`epsilons`"):
        robustness_curve(model, x, y, epsilons=[])
    with pytest.raises(ValueError, match="`kinds`"):
        robustness_curve(model, x, y, kinds=["salt"])
    with pytest.raises(ValueError, match="`metric`"):
        robustness_curve(model, x, y, metric="f1")
    with pytest.raises(TypeError, match="`x`"):
        robustness_curve(model, x.astype("int32"), y)
    with pytest.raises(ValueError, match="`kind`"):
        perturbation_directions(model, x, y, "salt")
    uncompiled = keras.Sequential(
        [keras.Input((10, 1)), keras.layers.Flatten()]
    )
    with pytest.raises(ValueError, match="`loss`"):
        gradient_sign(uncompiled, x, y)
    with pytest.raises(ValueError, match="`curves`"):
        robustness_table({})
    with pytest.raises(ValueError, match="predictions"):
        accuracy([1, 0], np.ones((2, 1)))
