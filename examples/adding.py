"""Adding problem (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

Two channels of length T: values in U(0, 1) and a marker with two ones; the
target is the sum of the two marked values. Predicting 1 always scores an
MSE of 0.167.

Quick run (a few minutes on a 2-core CPU)::

    python examples/adding.py

Longer sequences, another cell::

    python examples/adding.py --length 200 --cell exprnn --steps 5000
"""

import sys

TASK = "adding"


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
