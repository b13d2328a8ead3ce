"""Installable package for tf_nnrnn.

`pip install tf_nnrnn` gives the core (the cells, fused layers,
parametrizations, initializers, constraints, regularizers, metrics and
optimizers): TensorFlow, Keras and NumPy only. The extras add the rest:

- `experiments`: the papers' tasks, runner, examples and tuning
  (tensorflow-datasets for psMNIST, matplotlib for the curves, keras-tuner,
  scikit-learn for its Bayesian search, TensorBoard, which keras-tuner
  imports in every TensorFlow trial);
- `analysis`: `tf_nnrnn.analysis` (SciPy, matplotlib);
- `all`: both; `test`: the test tools (pytest, ruff; SciPy for the oracles).

TensorFlow and Keras are pinned to the releases CI tests: the package
relies on private Keras/TF code in one module (`tf_nnrnn/_keras_private.py`)
that a new release may move.
"""

from setuptools import find_packages, setup

EXPERIMENTS = [
    "keras-tuner[bayesian]>=1.4,<1.5",
    "scikit-learn>=1.3",  # Bayesian search of keras-tuner
    "tensorboard>=2.16",  # keras-tuner imports it in every TF trial
    "tensorflow-datasets>=4.9,<5",
    "importlib_resources",  # tfds needs it to download MNIST
    "matplotlib>=3.7",
]
ANALYSIS = ["scipy>=1.10", "matplotlib>=3.7"]

setup(
    name="tf_nnrnn",
    version="0.2.0",
    description=(
        "Orthogonal and non-normal recurrent cells (nnRNN, expRNN, scoRNN, "
        "NRU) for Keras 3 / TensorFlow"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tf_nnrnn", "tf_nnrnn.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "keras>=3.15,<3.16",
        "numpy>=1.26",
    ],
    extras_require={
        "experiments": EXPERIMENTS,
        "analysis": ANALYSIS,
        "all": sorted(set(EXPERIMENTS + ANALYSIS)),
        "test": ["pytest>=7", "ruff>=0.5", "scipy>=1.10"],
    },
)
