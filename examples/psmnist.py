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

import sys

TASK = "psmnist"


def build_parser(flags):
    """The flags of this script (`flags`: `tf_nnrnn.experiments.flags`)."""
    return flags.build_parser(TASK)


def main(argv=None, callbacks=()) -> int:
    """Run the task with the command-line flags `argv`."""
    from tf_nnrnn.experiments import cli

    return cli.main(TASK, argv, callbacks=callbacks)


if __name__ == "__main__":
    import _start

    _start.start(build_parser)
    sys.exit(main())
