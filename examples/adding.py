"""Adding problem (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

Two channels of length T: values in U(0, 1) and a marker with two ones; the
target is the sum of the two marked values. Predicting 1 always scores an
MSE of 0.167.

Quick run (a few minutes on a 2-core CPU)::

    python examples/adding.py

Longer sequences, another cell::

    python examples/adding.py --length 200 --cell exprnn --steps 5000
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ info lines

from tf_nnrnn.experiments import cli  # noqa: E402


def main(argv=None, callbacks=()) -> int:
    """Run the adding problem with the command-line flags `argv`."""
    return cli.main("adding", argv, callbacks=callbacks)


if __name__ == "__main__":
    sys.exit(main())
