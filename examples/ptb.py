"""Penn Treebank character modelling (nnRNN paper, section 5.3).

Next-character prediction in bits per character, truncated
back-propagation over `--bptt` characters (150 or 300 in the paper) with
the hidden state carried from one segment to the next. The data are
`ptb.char.{train,valid,test}.txt` of Mikolov's simple-examples archive:
pass their folder with `--data-dir`, or leave it out to download the
archive (MD5-checked) when online.

Quick run (one epoch of at most 300 updates)::

    python examples/ptb.py --data-dir PATH/simple-examples/data

The paper's setting for nnRNN (N = 1024, Adam, TPTT 150)::

    python examples/ptb.py --data-dir PATH --preset paper --cell nnrnn
"""

import sys

TASK = "ptb"


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
