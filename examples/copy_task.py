"""Copy task of the nnRNN paper (Kerg et al., NeurIPS 2019, section 5.1).

Remember ten symbols over a delay of T steps, recall them after a cue. The
loss is averaged over all T + 20 steps; a memoryless strategy scores
10 ln 8 / (T + 20) (0.0945 at T = 200).

Quick run (a few minutes on a 2-core CPU)::

    python examples/copy_task.py

The paper's setting (T = 200, one-hot, batch 10, 1500 updates)::

    python examples/copy_task.py --preset paper --cell nnrnn \\
        --out runs/copy_nnrnn

A finished run in `--out` is reported, not trained again (`--overwrite`
trains again); an interrupted one resumes when the same command is run
again.
"""

import sys

TASK = "copy"


def build_parser(flags):
    """The flags of this script (`flags`: `tf_nnrnn.experiments.flags`)."""
    return flags.build_parser(TASK)


def main(argv=None, callbacks=()) -> int:
    """Run the copy task with the command-line flags `argv`."""
    from tf_nnrnn.experiments import cli

    return cli.main(TASK, argv, callbacks=callbacks)


if __name__ == "__main__":
    import _start

    _start.start(build_parser)
    sys.exit(main())
