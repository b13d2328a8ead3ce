"""Installable package for tf_nnrnn."""

from setuptools import find_packages, setup

setup(
    name="tf_nnrnn",
    version="0.1.0",
    description=(
        "Orthogonal and non-normal recurrent cells (nnRNN, expRNN, scoRNN, "
        "NRU) for Keras 3 / TensorFlow"
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tf_nnrnn", "tf_nnrnn.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "keras>=3.15,<4",
        "keras-tuner[bayesian]>=1.4,<1.5",
        "scikit-learn>=1.3",  # Bayesian search of keras-tuner
        "tensorboard>=2.16",  # keras-tuner imports it in every TF trial
        "tensorflow-datasets>=4.9,<5",
        "importlib_resources",  # tfds needs it to download MNIST
        "numpy>=1.26",
        "scipy>=1.10",
        "matplotlib>=3.7",
        "tqdm>=4.60",
    ],
    extras_require={
        "test": ["pytest>=7", "ruff>=0.5"],
    },
)
