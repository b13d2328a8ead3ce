"""The start of every example script: flags first, TensorFlow after.

`check(build_parser)` loads `tf_nnrnn/experiments/flags.py` on its own
(by file path: it imports only the standard library, and loading it so
does not run `tf_nnrnn/__init__`, which imports TensorFlow), builds the
script's parser with it and parses the command line: `--help` and bad
flags are answered in about a second. `quiet_tensorflow()` then imports
TensorFlow with its start-up noise (absl's pre-init warning, "Could not
find cuda drivers", "failed call to cuInit" on a machine without a GPU)
filtered out of stderr; `--tf-log` shows it.

A script imports this module as `_start` (Python puts the script's folder
first on `sys.path`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ info lines

_NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub|cuda_platform|cuInit|cuda_dnn|"
    r"cuda_fft|cuda_blas|Unable to register cu|computation placer|"
    r"TF-TRT Warning|oneDNN custom operations|rebuild TensorFlow with|"
    r"This TensorFlow binary is optimized|cpu_feature_guard|"
    r"All log messages before"
)


def load_flags():
    """`tf_nnrnn.experiments.flags`, loaded without importing the package."""
    loaded = sys.modules.get("tf_nnrnn.experiments.flags")
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec("tf_nnrnn")  # finds, does not import
    if spec is None or not spec.submodule_search_locations:
        sys.exit("tf_nnrnn is not installed: pip install -e \".[all,test]\"")
    path = os.path.join(
        spec.submodule_search_locations[0], "experiments", "flags.py"
    )
    flags_spec = importlib.util.spec_from_file_location("_tf_nnrnn_flags", path)
    module = importlib.util.module_from_spec(flags_spec)
    flags_spec.loader.exec_module(module)
    return module


def check(build_parser, argv=None):
    """Parse `argv` with `build_parser(flags)`; exits on --help or a bad
    flag. Returns the parsed arguments."""
    return build_parser(load_flags()).parse_args(argv)


@contextlib.contextmanager
def _filtered_stderr():
    """Send fd 2 to a file, then replay what is not start-up noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode(errors="replace").splitlines():
                if not _NOISE.search(line):
                    print(line, file=sys.stderr)


def quiet_tensorflow(show: bool = False) -> None:
    """Import TensorFlow (and find its devices) without the start-up noise.

    Args:
        show: keep everything TensorFlow prints (`--tf-log`).
    """
    if show:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"
        return
    with _filtered_stderr():
        import keras  # noqa: F401
        import tensorflow as tf

        tf.config.list_physical_devices()


def start(build_parser, argv=None):
    """`check` the flags, then `quiet_tensorflow` (unless `--tf-log`)."""
    args = check(build_parser, argv)
    quiet_tensorflow(getattr(args, "tf_log", False))
    return args
