"""Permuted sequential MNIST (nnRNN paper, section 5.2).

784 pixels fed one at a time in a fixed random order (its own seed,
`--permutation-seed`, 1234 as in the reference code); 10 classes read from
the last step. MNIST comes from `tensorflow_datasets` (downloaded once when
online, or prepared in `--data-dir`).

Quick run (5000 training images, one epoch)::

    python examples/psmnist.py

The paper's setting for nnRNN (N = 512, 100 epochs, batch 100)::

    python examples/psmnist.py --preset paper --cell nnrnn
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ info lines

from tf_nnrnn.experiments import cli  # noqa: E402


def main(argv=None, callbacks=()) -> int:
    """Run psMNIST with the command-line flags `argv`."""
    return cli.main("psmnist", argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(main())
