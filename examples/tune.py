"""Search the two learning rates of a recurrent cell with Keras Tuner.

The nnRNN, expRNN and scoRNN papers picked the learning rate and the
orthogonal learning rate by hand for every cell and task. This script
searches them (log scales, ranges around the papers' values; optionally
δ, T decay, RMSprop's ρ and the skew initializer) with Keras Tuner's random
search, Bayesian optimization or Hyperband. Every trial is one run of the
task's runner (`tf_nnrnn.experiments.training.run`, as `examples/<task>.py`),
scored by
the task's objective (copy: held-out loss, adding: held-out MSE, psMNIST:
validation accuracy, PTB: validation BPC).

A quick search (copy task with its quick defaults, T = 50 and 1000
updates per trial, as `examples/copy_task.py`)::

    python examples/tune.py --task copy --cell nnrnn --tuner bayesian \\
        --max-trials 10 --directory runs/tune

Wider spaces: `--search-also delta rho`, `--lr-range 1e-5 1e-2`, or a JSON
space, e.g. `--search-space '{"lr_orth": [1e-8, 1e-4], "skew_init": true}'`
(a file name works too). A setting given as a flag (`--lr 1e-3`) is fixed.

It writes into DIRECTORY/PROJECT (PROJECT = TASK_CELL): Keras Tuner's
files (`oracle.json`, `trial_*/trial.json`), each trial's run in
`trial_*/run/`, `best_hyperparameters.json`, `search.png` (objective
against the two learning rates) and, with `--retrain-best`, the full run of
the best configuration in `best_run/` (or `--out`).

Re-running the same command continues an interrupted search (finished
trials are kept, the interrupted one resumes); `--overwrite` starts over.

Distributed search, Keras Tuner's chief/worker mode: run the same command
once per process with its own `KERASTUNER_TUNER_ID` ("chief" for the
oracle, any other name for a worker) and a shared port; the oracle listens
on `KERASTUNER_ORACLE_IP` (default 127.0.0.1, loopback)::

    export KERASTUNER_ORACLE_PORT=8000
    KERASTUNER_TUNER_ID=chief  python examples/tune.py ARGS &
    KERASTUNER_TUNER_ID=tuner0 python examples/tune.py ARGS &
    KERASTUNER_TUNER_ID=tuner1 python examples/tune.py ARGS &

(`--tuner-id`, `--oracle-ip`, `--oracle-port` set the same variables.)
The chief prints the summary and writes the files; a worker killed
mid-trial and restarted with its ID resumes its trial.
"""

import argparse
import contextlib
import glob
import json
import os
import re
import sys

_ENV = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")
_OPTIONAL = ("delta", "t_decay", "rho", "skew_init")
#: `tf_nnrnn.experiments.tuning.TUNERS` (tests/test_tuning.py checks).
TUNERS = ("random", "bayesian", "hyperband")


def _task(argv) -> str:
    """The `--task` of `argv` (the other flags depend on it)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task", default="copy")
    return pre.parse_known_args(argv)[0].task


def build_parser(flags, argv=None):
    """The flags of one task's example plus the search's own (`flags`:
    `tf_nnrnn.experiments.flags`)."""
    task = _task(sys.argv[1:] if argv is None else argv)
    parser = flags.build_parser(
        task if task in flags.TASK_NAMES else "copy",
        description=__doc__.split("\n")[0],
        prog="tune.py",
    )
    add = parser.add_argument
    add("--task", choices=flags.TASK_NAMES, default="copy",
        help="the task (its own flags follow it) (default: copy)")
    add("--tuner", choices=TUNERS, default="random",
        help="Keras Tuner's search (default: random)")
    add("--max-trials", type=flags.positive_int, default=10,
        help="number of trials (default: 10)")
    add("--directory", default=os.path.join("runs", "tune"),
        help="the search goes to DIRECTORY/PROJECT (default: runs/tune)")
    add("--project-name", default=None,
        help="PROJECT (default: TASK_CELL, e.g. copy_nnrnn)")
    add(
        "--retrain-best",
        action="store_true",
        help="run the best configuration in full (into --out; default "
        "DIRECTORY/PROJECT/best_run)",
    )
    add("--search-space", default=None,
        help="the space as a JSON object or a JSON file, e.g. "
        "'{\"lr_orth\": [1e-8, 1e-4], \"skew_init\": true}'")
    add("--search-also", nargs="+", choices=_OPTIONAL, default=[],
        help="also search these settings (default: only lr and lr_orth)")
    add("--lr-range", nargs=2, type=float, metavar=("MIN", "MAX"),
        help="log range of lr (default: around the paper's value)")
    add("--lr-orth-range", nargs=2, type=float, metavar=("MIN", "MAX"),
        help="log range of lr_orth (default: around the paper's value)")
    add("--tuner-seed", type=int, default=None,
        help="the oracle's seed (default: random)")
    add("--max-epochs", type=int, default=None,
        help="Hyperband budget in epochs (default: the task's)")
    add("--factor", type=int, default=3,
        help="Hyperband reduction factor (default: 3)")
    add("--tuner-id", default=None, help="sets KERASTUNER_TUNER_ID")
    add("--oracle-ip", default=None, help="sets KERASTUNER_ORACLE_IP")
    add("--oracle-port", default=None, help="sets KERASTUNER_ORACLE_PORT")
    return parser


def _check_directory(args, parser) -> None:
    """A usable --directory whose earlier search, if any, is readable."""
    path = args.directory
    parent = os.path.abspath(path)
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        parser.error(
            f"argument --directory: {parent!r} is a file, not a folder; "
            "choose another --directory."
        )
    project = os.path.join(
        path, args.project_name or f"{args.task}_{args.cell}"
    )
    if args.overwrite or not os.path.isdir(project):
        return
    files = [os.path.join(project, "oracle.json")]
    files += glob.glob(os.path.join(project, "trial_*", "trial.json"))
    for name in files:
        if not os.path.exists(name):
            continue
        try:
            with open(name, encoding="utf-8") as f:
                json.load(f)
        except (OSError, ValueError):
            parser.error(
                f"argument --directory: {name} of the earlier search is "
                "damaged (not JSON); pass --overwrite to start the search "
                "over, or choose another --directory."
            )


def _flag(error: Exception, fallback: str) -> str:
    """The flag of the argument an error message names."""
    from tf_nnrnn.experiments.cli import flag_of

    match = re.search(r"argument `([a-z_]+)", str(error))
    if not match:
        return fallback
    return {"search_space": "--search-space"}.get(
        match.group(1), flag_of(match.group(1))
    )


def _search_space(args, explicit: dict, parser) -> dict:
    space = {}
    if args.search_space:
        text = args.search_space
        if os.path.isfile(text):
            with open(text, encoding="utf-8") as f:
                text = f.read()
        try:
            space = json.loads(text)
        except ValueError as error:
            parser.error(f"argument --search-space: not valid JSON ({error})")
        if not isinstance(space, dict):
            parser.error("argument --search-space: expected a JSON object")
    extra = {name: True for name in args.search_also}
    extra.update(lr=args.lr_range, lr_orth=args.lr_orth_range)
    for name, value in extra.items():
        if value is not None:
            if name in space:
                parser.error(f"argument --search-space: {name!r} given twice")
            space[name] = list(value) if value is not True else True
    for name in explicit:  # a setting given as a flag is not searched
        if name in ("lr", "lr_orth", *_OPTIONAL):
            if name in space:
                parser.error(
                    f"argument --{name.replace('_', '-')}: {name!r} is also "
                    "in the "
                    "search space; fix it or search it, not both."
                )
            space[name] = None
    return space


@contextlib.contextmanager
def _distributed(args, parser):
    """Keras Tuner's variables for this process (restored afterwards)."""
    saved = {k: os.environ.get(k) for k in _ENV}
    given = (args.tuner_id, args.oracle_ip, args.oracle_port)
    for key, value in zip(_ENV, given):
        if value is not None:
            os.environ[key] = value
    env = os.environ
    try:
        if not env.get(_ENV[0]):
            if env.get(_ENV[1]) or env.get(_ENV[2]):
                parser.error(
                    "argument --tuner-id: KERASTUNER_ORACLE_IP/PORT are set "
                    "but KERASTUNER_TUNER_ID is not; expected 'chief' or a "
                    "worker name."
                )
        else:
            env[_ENV[1]] = env.get(_ENV[1]) or "127.0.0.1"
            port = env.get(_ENV[2], "")
            if not port.isdigit() or not 0 < int(port) < 65536:
                parser.error(
                    "argument --oracle-port: a distributed search "
                    f"(KERASTUNER_TUNER_ID={env[_ENV[0]]}) needs "
                    "KERASTUNER_ORACLE_PORT, expected a port in 1..65535, "
                    f"got {port!r}."
                )
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def best_record(tuner, hypermodel, tuner_name: str) -> dict:
    """The best trial, the paper's values and every trial, as a dict."""
    from tf_nnrnn.experiments.tuning import SEARCHABLE

    oracle = tuner.oracle
    trials = [oracle.trials[k] for k in sorted(oracle.trials)]
    done = [t for t in trials if t.status == "COMPLETED"]
    if not done:
        raise RuntimeError("no trial completed; see the trials' messages.")
    best = oracle.get_best_trials(1)[0]
    paper = hypermodel.paper or {}
    return {
        "task": hypermodel.task,
        "cell": hypermodel.cell,
        "tuner": tuner_name,
        "objective": {
            "name": oracle.objective.name,
            "direction": oracle.objective.direction,
        },
        "best_trial_id": best.trial_id,
        "score": best.score,
        "hyperparameters": {
            k: v
            for k, v in best.hyperparameters.values.items()
            if k in SEARCHABLE
        },
        "settings": hypermodel.trial_settings(best.hyperparameters).to_dict(),
        "paper": {k: paper[k] for k in SEARCHABLE if k in paper} or None,
        "completed_trials": len(done),
        "trials": [
            {
                "trial_id": t.trial_id,
                "status": t.status,
                "score": t.score,
                "hyperparameters": dict(t.hyperparameters.values),
            }
            for t in trials
        ],
    }


def _outliers(scores: list, direction: str) -> list:
    """Which finite scores lie past the quartiles' 1.5 × IQR fence on the
    bad side (a nearly diverged trial): kept off the colour scale, so that
    it does not flatten the others into one colour."""
    import numpy as np

    if len(scores) < 4:
        return [False] * len(scores)
    q1, q3 = np.percentile(scores, [25, 75])
    fence = 1.5 * (q3 - q1)
    if direction == "max":
        return [s < q1 - fence for s in scores]
    return [s > q3 + fence for s in scores]


def plot_search(record: dict, path: str | None = None):
    """Objective against lr and lr_orth (log axes), atomically to a PNG.

    Each completed trial is a dot coloured by its objective; a trial whose
    score lies far on the bad side (see `_outliers`) is a triangle in the
    colour bar's end colour, and a failed (diverged) trial a grey cross, so
    one bad trial no longer paints the others in one colour.

    Returns:
        The `matplotlib.figure.Figure` (written to `path` unless None).
    """
    import math

    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    from tf_nnrnn.experiments.results import readable_log_axis, save_figure

    name = record["objective"]["name"]
    direction = record["objective"].get("direction", "min")
    trials = record["trials"]
    good = [
        t
        for t in trials
        if t["status"] == "COMPLETED"
        and t["score"] is not None
        and math.isfinite(t["score"])
    ]
    failed = [t for t in trials if t not in good]
    best = record["hyperparameters"]
    paper = record["paper"] or {}
    two = all("lr_orth" in t["hyperparameters"] for t in good + failed)
    score = [t["score"] for t in good]
    far = _outliers(score, direction)
    kept = [s for s, f in zip(score, far) if not f] or score
    norm = Normalize(min(kept), max(kept))

    def where(group, fallback):
        x = [t["hyperparameters"]["lr"] for t in group]
        if two:
            return x, [t["hyperparameters"]["lr_orth"] for t in group]
        return x, [fallback(t) for t in group]

    fig = Figure(figsize=(6.5, 4.8), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    x, y = where(good, lambda t: t["score"])
    inside = [i for i, f in enumerate(far) if not f]
    outside = [i for i, f in enumerate(far) if f]
    dots = ax.scatter(
        [x[i] for i in inside],
        [y[i] for i in inside],
        c=[score[i] for i in inside],
        cmap="viridis",
        norm=norm,
        s=40,
        edgecolors="k",
        label=f"trial (colour: {name})",
    )
    extend = "neither"
    if outside:
        extend = "min" if direction == "max" else "max"
        ax.scatter(
            [x[i] for i in outside],
            [y[i] for i in outside],
            c=[score[i] for i in outside],
            cmap="viridis",
            norm=norm,
            marker="^",
            s=60,
            edgecolors="k",
            label=f"trial with {name} past the colour bar",
        )
    if failed:
        top = max(score) if score else 1.0
        fx, fy = where(failed, lambda t: top)
        ax.scatter(
            fx, fy, marker="X", s=60, c="0.6", label="failed (diverged) trial"
        )
    fig.colorbar(dots, ax=ax, label=name, extend=extend)
    by = best.get("lr_orth") if two else record["score"]
    ax.scatter(
        [best["lr"]],
        [by],
        marker="*",
        s=300,
        c="none",
        edgecolors="r",
        label="best",
    )
    if "lr" in paper and (not two or "lr_orth" in paper):
        py = paper["lr_orth"] if two else min(score)
        ax.scatter(
            [paper["lr"]], [py], marker="x", s=80, c="r", label="paper's values"
        )
    ax.set_xscale("log")
    readable_log_axis(ax.xaxis)
    if two:
        ax.set_yscale("log")
        readable_log_axis(ax.yaxis)
    ax.set_xlabel("lr (learning rate)")
    ax.set_ylabel("lr_orth (orthogonal learning rate)" if two else name)
    ax.set_title(
        f"{record['task']}, {record['cell']}: {record['tuner']} search, "
        f"{len(good)} trials" + (f", {len(failed)} failed" if failed else "")
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    if path is not None:
        save_figure(fig, path)
    return fig


def main(argv=None, callbacks=()) -> int:
    """Run (or continue, or serve) the search; returns the exit code."""
    import dataclasses

    from tf_nnrnn.experiments import flags
    from tf_nnrnn.experiments.cli import flag_of
    from tf_nnrnn.experiments.presets import SettingError, Settings, resolve

    parser = build_parser(flags, argv)
    args = parser.parse_args(argv)
    fields = {f.name for f in dataclasses.fields(Settings)}
    explicit = {k: v for k, v in vars(args).items() if k in fields}
    try:
        settings = resolve(args.task, args.cell, explicit, preset=args.preset)
    except SettingError as error:
        parser.error(f"argument {flag_of(error.name)}: {error}")
    _check_directory(args, parser)
    space = _search_space(args, explicit, parser)
    with _distributed(args, parser):
        return _search(args, settings, space, parser, callbacks)


def _search(args, settings, space, parser, callbacks) -> int:
    from tf_nnrnn.experiments.cli import flag_of
    from tf_nnrnn.experiments.presets import SettingError, Settings
    from tf_nnrnn.experiments.results import atomic_write_json
    from tf_nnrnn.experiments.training import TrainingDiverged, run
    from tf_nnrnn.experiments.tuning import (
        RNNHyperModel,
        make_tuner,
        search_role,
    )

    try:
        hypermodel = RNNHyperModel(
            args.task, args.cell, search_space=space, settings=settings
        )
        tuner = make_tuner(
            hypermodel,
            args.tuner,
            args.max_trials,
            args.directory,
            args.project_name,
            args.overwrite,
            args.tuner_seed,
            args.max_epochs,
            args.factor,
        )
    except FileNotFoundError as error:
        parser.error(f"argument --data-dir: {error}")
    except ImportError as error:  # a tuner's optional dependency
        parser.error(f"argument --tuner: {error}")
    except (ValueError, TypeError) as error:
        parser.error(f"argument {_flag(error, '--search-space')}: {error}")
    role = search_role()
    best_file = os.path.join(tuner.project_dir, "best_hyperparameters.json")
    # (a worker's oracle is a client: it has no trials to read)
    trials = [] if role == "worker" else list(tuner.oracle.trials.values())
    ended = ("COMPLETED", "INVALID", "FAILED", "STOPPED")
    if (
        trials
        and tuner.oracle.max_trials
        and len(trials) >= tuner.oracle.max_trials
        and all(t.status in ended for t in trials)
        and os.path.exists(best_file)
    ):
        with open(best_file, encoding="utf-8") as f:
            record = json.load(f)
        print(
            f"{tuner.project_dir}: finished ({len(trials)} trials); results "
            "in it — pass --overwrite to search again."
        )
        print(
            f"best {record['objective']['name']} {record['score']:.5g} with "
            f"{record['hyperparameters']}"
        )
        return 0
    if role != "worker" and settings.verbose:
        tuner.search_space_summary()
    tuner.search(callbacks=list(callbacks), verbose=settings.verbose)
    if role == "worker":
        print(f"tune.py: worker {os.environ[_ENV[0]]} finished.")
        return 0
    tuner.results_summary()
    try:
        record = best_record(tuner, hypermodel, args.tuner)
    except RuntimeError as error:
        print(f"tune.py: {error}", file=sys.stderr)
        return 1
    folder = tuner.project_dir
    atomic_write_json(os.path.join(folder, "best_hyperparameters.json"), record)
    plot_search(record, os.path.join(folder, "search.png"))
    print(
        f"best {record['objective']['name']} {record['score']:.5g} with "
        f"{record['hyperparameters']} (paper: {record['paper']})"
    )
    print(f"results in {folder}")
    if args.retrain_best:
        out = args.out or os.path.join(folder, "best_run")
        try:
            result = run(
                args.task,
                args.cell,
                Settings(**record["settings"]),
                out_dir=out,
            )
        except SettingError as error:
            parser.error(f"argument {flag_of(error.name)}: {error}")
        except TrainingDiverged as error:
            print(f"tune.py: {error}", file=sys.stderr)
            return 1
        if result.get("reused"):
            print(f"{out}: finished; pass --overwrite to train again.")
        print(f"retrained best: {result['description']} (in {out})")
    return 0


if __name__ == "__main__":
    import _start

    _start.start(build_parser)
    sys.exit(main())
