"""Seeds and numerics in one place."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Small LAPACK calls are 20-100x slower with multi-threaded OpenBLAS on a
# loaded 2-core machine (measured in the analysis tests).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import gc  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402

# Python's cyclic garbage collector scans the live objects at each
# collection, and TensorFlow and Keras keep many alive (traced graphs,
# layers); the tests late in a full run were 1.4-3x slower than alone.
# Freeze what the imports made and collect less often: 6 % less CPU on a
# 179-test subset, 3 % on the full run (537 s against 555 s of CPU on the
# idle 2-core machine). The late tests are still slower than alone; the
# rest of the cause is not known.
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 20, 20)


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(1234)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")
