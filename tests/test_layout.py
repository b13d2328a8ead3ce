"""The package's shape: a lean core, the experiment side beside it.

`import tf_nnrnn` loads TensorFlow, Keras and NumPy and nothing optional;
no core module imports the experiment side or the analysis; the 0.1 import
paths still give the same objects.
"""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "tf_nnrnn")
OPTIONAL = (
    "keras_tuner",
    "sklearn",
    "scipy",
    "matplotlib",
    "tensorflow_datasets",
    "tensorboard",
    "tqdm",
)

# TensorFlow itself imports some optional packages when they are installed
# (scipy, matplotlib, sklearn through tf.keras and keras.wrappers), so the
# check is what `import tf_nnrnn` adds on top of its own dependencies.
_PROBE = """
import sys
import keras, numpy, tensorflow
before = set(sys.modules)
import tf_nnrnn
import tf_nnrnn.cells.registry
added = {m.split(".")[0] for m in set(sys.modules) - before}
print(",".join(sorted(added)))
"""


def test_import_loads_no_optional_package():
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    added = set(proc.stdout.strip().splitlines()[-1].split(","))
    assert not added & set(OPTIONAL), sorted(added & set(OPTIONAL))
    assert "tf_nnrnn" in added


def _core_modules():
    for folder, _dirs, files in os.walk(PACKAGE):
        rel = os.path.relpath(folder, PACKAGE)
        if rel.split(os.sep)[0] in ("experiments", "analysis"):
            continue
        for name in files:
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def _imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_core_never_imports_the_experiment_side_or_analysis():
    allowed = {"tensorflow", "keras", "numpy", "tf_nnrnn", "__future__"}
    offenders = []
    for path in _core_modules():
        for module in _imports(path):
            top = module.split(".")[0]
            if module.startswith(("tf_nnrnn.experiments", "tf_nnrnn.analysis")):
                offenders.append(f"{path}: {module}")
            elif top not in allowed and top not in sys.stdlib_module_names:
                # keras_tuner only inside the seam, imported on call.
                if not path.endswith("_keras_private.py"):
                    offenders.append(f"{path}: {module}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(
    "old, new, name",
    [
        ("tf_nnrnn.training", "tf_nnrnn.experiments.training", "run"),
        ("tf_nnrnn.presets", "tf_nnrnn.experiments.presets", "Settings"),
        ("tf_nnrnn.tasks.copy", "tf_nnrnn.experiments.tasks.copy", "CopyTask"),
        ("tf_nnrnn.tuning", "tf_nnrnn.experiments.tuning", "RNNHyperModel"),
        ("tf_nnrnn.models", "tf_nnrnn.experiments.models", "ModReLURNNCell"),
        ("tf_nnrnn.cli", "tf_nnrnn.experiments.cli", "main"),
    ],
)
def test_old_import_paths_are_the_same_modules(old, new, name):
    import importlib

    old_module = importlib.import_module(old)
    new_module = importlib.import_module(new)
    assert old_module is new_module
    assert getattr(old_module, name) is getattr(new_module, name)
    assert new_module.__spec__.name == new


def test_top_level_names_of_version_0_1():
    import tf_nnrnn
    from tf_nnrnn.experiments import Variant, run_grid

    assert tf_nnrnn.run is tf_nnrnn.experiments.training.run
    assert tf_nnrnn.Settings is tf_nnrnn.experiments.presets.Settings
    assert tf_nnrnn.RecallAccuracy is tf_nnrnn.metrics.RecallAccuracy
    assert tf_nnrnn.tasks.copy.RecallAccuracy is tf_nnrnn.RecallAccuracy
    assert tf_nnrnn.ModReLURNNCell is tf_nnrnn.cells.ModReLURNNCell
    assert tf_nnrnn.analysis.SpectralRadiusBound is (
        tf_nnrnn.SpectralRadiusBound
    )
    assert callable(run_grid) and Variant.__name__ == "Variant"
    with pytest.raises(AttributeError):
        tf_nnrnn.no_such_name  # noqa: B018
