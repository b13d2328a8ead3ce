"""Shared test helpers (Keras' own `run_layer_test` is private)."""

import keras
import numpy as np


def assert_config_roundtrip(obj):
    """`from_config(get_config())` gives an object with the same config."""
    config = obj.get_config()
    clone = type(obj).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(obj)
    again = keras.saving.deserialize_keras_object(serialized)
    assert type(again) is type(obj)
    assert again.get_config() == config
    return clone


def assert_saved_model_identical(model, x, tmp_path, name="m.keras"):
    """A model saved to `.keras` and loaded gives identical outputs."""
    path = str(tmp_path / name)
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(model(x)),
        keras.ops.convert_to_numpy(loaded(x)),
    )
    return loaded
