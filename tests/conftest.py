"""Seeds and numerics in one place."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Small LAPACK calls are 20-100x slower with multi-threaded OpenBLAS on a
# loaded 2-core machine (measured in the analysis tests).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import keras  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(1234)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")
