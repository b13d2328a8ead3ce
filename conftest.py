"""Doctests of `tf_nnrnn/` (collected by `--doctest-modules`, see
pyproject.toml), which `tests/conftest.py` does not reach.

The environment of `tests/conftest.py`, set before TensorFlow and NumPy are
imported (quiet TF logs, one OpenBLAS thread), and every example run from
the same seed in float32, so that its output does not depend on which
tests ran before it.
"""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402

PACKAGE = pathlib.Path(__file__).resolve().parent / "tf_nnrnn"


@pytest.fixture(autouse=True)
def _doctest_seed_and_policy(request):
    if PACKAGE not in pathlib.Path(request.node.path).resolve().parents:
        yield  # tests/conftest.py seeds the tests
        return
    import keras

    keras.utils.set_random_seed(1234)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")
