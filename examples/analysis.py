"""Memory, non-normality, pseudospectra and robustness of recurrent networks.

Reproduces the analysis of Kerg et al., "Non-normal Recurrent Neural Network
(nnRNN): learning long time dependencies while improving expressivity with
transient dynamics" (NeurIPS 2019) and applies the measurements of Sengupta
& Friston, "How robust are deep neural networks?" (2018):

1. Figure 1-style panels (no training): `‖h_t‖` after an impulse through
   `Θ = d·I + α·(sub-diagonal) + β·(below)`, N = 100, for α ∈ {0.95, 1,
   1.05}, β ∈ {0, 0.005}, d ∈ {0, 0.2}, and their Fisher memory curves;
   the total Fisher memory next to the supplement's Table 6, for both
   conventions (α or √α on the sub-diagonal; v = e_1, ε = 1).
2. Trains an orthogonally initialised RNN (Keras SimpleRNNCell with an
   orthogonal recurrent kernel and modReLU, the papers' RNN-orth) and an
   nnRNN briefly on the copy task with the papers' optimiser settings, and
   reports the non-normality of their recurrent matrices before and after
   training, their Schur forms, ε-pseudospectra, transients and accuracy
   under uniform, Gaussian and FGSM input perturbations.

Writes `figure1.png`, `schur.png`, `pseudospectra.png`, `transients.png`,
`robustness.png` and `results.md` (all tables) into `--out`.

Commands:
    python examples/analysis.py --out runs/analysis           # ~3 min, 2 CPUs
    python examples/analysis.py --quick --out /tmp/analysis    # smoke test
"""

from __future__ import annotations

import argparse
import os
import tempfile

ALPHAS = (0.95, 1.0, 1.05)
CELLS = {"rnn_orth": "RNN-orth", "nnrnn": "nnRNN"}
FULL = dict(
    steps=600, units=128, time_lag=200, batch_size=10, grid=60, test_size=200
)
QUICK = dict(steps=3, units=8, time_lag=5, batch_size=4, grid=15, test_size=16)
#: What this script writes into --out.
FILES = (
    "config.json",
    "result.json",
    "results.md",
    "figure1.png",
    "schur.png",
    "pseudospectra.png",
    "transients.png",
    "robustness.png",
)


def build_parser(flags) -> argparse.ArgumentParser:
    """The flags of this script (`flags`: `tf_nnrnn.experiments.flags`)."""
    parser = flags.Parser(
        prog="analysis.py", description=__doc__.split("\n")[0]
    )
    add = parser.add_argument

    def full(name):
        return f" (default: {FULL[name]}; --quick: {QUICK[name]})"

    add("--out", default="runs/analysis",
        help="output folder (default: runs/analysis); a finished analysis "
        "there is reported, not run again")
    add("--overwrite", action="store_true",
        help="run again even if --out holds a finished analysis or one with "
        "other settings (only files this script writes are replaced)")
    add("--quick", action="store_true", help="tiny settings (smoke test)")
    add("--steps", type=flags.positive_int, default=None,
        help="training updates per model" + full("steps"))
    add("--units", type=flags.positive_int, default=None,
        help="hidden units, even (nnRNN's 2x2 blocks)" + full("units"))
    add("--time-lag", type=flags.positive_int, default=None,
        help="copy task delay T" + full("time_lag"))
    add("--batch-size", type=flags.positive_int, default=None,
        help="sequences per update" + full("batch_size"))
    add("--grid", type=flags.positive_int, default=None,
        help="pseudospectrum grid points per axis" + full("grid"))
    add("--test-size", type=flags.positive_int, default=None,
        help="robustness test sequences" + full("test_size"))
    add("--seed", type=int, default=0, help="random seed (default: 0)")
    add("--verbose", type=int, default=1, choices=(0, 1, 2),
        help="Keras progress (default: 1)")
    add("--tf-log", action="store_true",
        help="show TensorFlow's start-up messages (hidden by default)")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    """The flags of `argv` with the defaults filled in (exit 2 if bad)."""
    from tf_nnrnn.experiments import flags

    parser = build_parser(flags)
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.units % 2:
        parser.error(
            "argument --units: expected an even number (nnRNN's Λ is made "
            f"of 2x2 blocks), got {args.units}"
        )
    if not 0 <= args.seed < 2**32:
        parser.error(f"argument --seed: expected [0, 2**32), got {args.seed}")
    args.parser = parser
    return args


if __name__ == "__main__":  # --help and bad flags before TensorFlow loads
    import _start

    _start.start(build_parser)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tf_nnrnn import analysis  # noqa: E402
from tf_nnrnn.experiments.models import build_model  # noqa: E402
from tf_nnrnn.experiments.presets import resolve  # noqa: E402
from tf_nnrnn.experiments.training import compile_model, make_task  # noqa: E402


def write_text(path: str, text: str) -> None:
    """Writes `text` atomically: a temporary file, then `os.replace`."""
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path))
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        file.write(text)
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(temporary, 0o666 & ~mask)  # mkstemp makes it 0600
    os.replace(temporary, path)


# --- part 1: Θ chains, no training ------------------------------------------
def chain_configs():
    """The supplement's (α, β, d) rows, in its order."""
    return list(analysis.SUPPLEMENT_TOTAL_MEMORY)


def sqrt_convention_total(alpha: float, beta: float, d: float) -> float:
    """Total memory with √α on the sub-diagonal (the supplement's text)."""
    theta = analysis.chain_matrix(100, np.sqrt(alpha), beta, d)
    return analysis.total_fisher_memory(theta)


def figure1(memory_curves: dict, n: int = 100) -> Figure:
    """The Figure 1-style panels: transients of Θ and its Fisher memory
    curves (`memory_curves`: `{d: {label: J(k)}}` for d = 0 and 0.2)."""
    figure = Figure(figsize=(11, 8), layout="constrained")
    axes = figure.subplots(2, 2)
    analysis.plot_transients(
        {
            f"α = {a}": analysis.transient_norms(
                analysis.chain_matrix(n, a), steps=n + 10
            )
            for a in ALPHAS
        },
        ax=axes[0, 0],
        title="(a) impulse through Θ, β = d = 0",
    )
    analysis.plot_transients(
        {
            f"α = 1, β = {b}": analysis.transient_norms(
                analysis.chain_matrix(n, 1.0, b), steps=n + 10
            )
            for b in (0.0, 0.005)
        },
        ax=axes[0, 1],
        title="(b) the shape follows β (α = 1, d = 0)",
    )
    analysis.plot_fisher_memory(
        memory_curves[0.0],
        ax=axes[1, 0],
        title="(c) Fisher memory J(k), d = 0",
    )
    analysis.plot_fisher_memory(
        memory_curves[0.2],
        ax=axes[1, 1],
        log=True,
        title="(d) Fisher memory J(k), d = 0.2",
    )
    figure.suptitle(
        f"Θ = d·I + α·(sub-diagonal) + β·(below the sub-diagonal), N = {n}; "
        "‖h_t‖ from random unit h_0"
    )
    return figure


def part1(out: str, n: int = 100, memory_steps: int = 130) -> str:
    """Figure 1-style panels and the total-memory table; returns markdown."""
    rows, curves = [], {0.0: {}, 0.2: {}}
    for alpha, beta, d in chain_configs():
        memory = analysis.fisher_memory(
            analysis.chain_matrix(n, alpha, beta, d), steps=memory_steps
        )
        curves[d][f"α = {alpha}, β = {beta}"] = memory.curve
        published = analysis.SUPPLEMENT_TOTAL_MEMORY[(alpha, beta, d)]
        rows.append(
            f"| {alpha} | {beta} | {d} | {memory.total:.4f} | "
            f"{sqrt_convention_total(alpha, beta, d):.4f} | {published} | "
            f"{100 * (memory.total / published - 1):+.2f} % |"
        )
    figure = figure1(curves, n)
    analysis.save_figure(figure, os.path.join(out, "figure1.png"))
    header = (
        "## Total Fisher memory of Θ (N = 100, v = e_1, ε = 1)\n\n"
        "Exact totals (square-root Lyapunov solves) with α on the first "
        "sub-diagonal and with √α there, next to Kerg et al.'s supplement "
        "(Table 6); the last column compares the α convention.\n\n"
        "| α | β | d | ours, α | ours, √α | supplement | ours α vs supp. |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n"
    )
    return header + "\n".join(rows) + "\n"


# --- part 2: brief training on the copy task ---------------------------------
def copy_settings(cell: str, args: argparse.Namespace):
    return resolve(
        "copy",
        cell,
        {
            "units": args.units,
            "time_lag": args.time_lag,
            "batch_size": args.batch_size,
            "steps": args.steps,
            "test_size": args.test_size,
            "seed": args.seed,
            "verbose": args.verbose,
        },
        preset="paper",
    )


def test_arrays(task, settings) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for x, y in task.test_dataset(settings.batch_size, seed=settings.seed):
        xs.append(x.numpy())
        ys.append(y.numpy())
    return np.concatenate(xs), np.concatenate(ys)


def recall_metric(copy_length: int):
    def recall_accuracy(y_true, y_pred):
        hits = (
            np.argmax(y_pred[:, -copy_length:], -1) == y_true[:, -copy_length:]
        )
        return float(np.mean(hits))

    return recall_accuracy


def train_one(cell: str, args: argparse.Namespace) -> dict:
    """Trains `cell` briefly; returns matrices, curves and scores."""
    settings = copy_settings(cell, args)
    task = make_task("copy", settings)
    keras.utils.set_random_seed(settings.seed)
    model = build_model(task, cell, settings)
    compile_model(model, task, settings)
    before = analysis.recurrent_matrix(model)
    dataset = task.train_dataset(
        settings.batch_size, seed=settings.seed, steps=settings.steps
    )
    model.fit(dataset, epochs=1, shuffle=False, verbose=settings.verbose)
    after = analysis.recurrent_matrix(model)
    x, y = test_arrays(task, settings)
    logits = model.predict(x, verbose=0)
    loss = task.loss()
    epsilons = [0.0, 0.05, 0.1, 0.2, 0.5]
    curve = analysis.robustness_curve(
        model,
        x,
        y,
        epsilons=epsilons,
        metric=recall_metric(task.copy_length),
        loss=loss,
        seed=settings.seed,
    )
    return {
        "before": before,
        "after": after,
        "test_loss": float(loss(y, logits)),
        "baseline": task.baseline,
        "robustness": curve,
    }


def non_normality_table(results: dict) -> str:
    lines = [
        "## Non-normality of the recurrent matrix V = W^T, before and after "
        "training\n",
        "| model | stage | ‖V‖_F | spectral radius | Henrici departure | "
        "relative Henrici | Schur off-block share | ε=0.1 pseudospectral "
        "radius |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cell, result in results.items():
        for stage in ("before", "after"):
            record = analysis.non_normality(result[stage]).as_dict()
            radius = result[f"pseudo_{stage}"].radius(0.1)
            lines.append(
                f"| {CELLS[cell]} | {stage} | {record['frobenius_norm']:.4f}"
                f" | {record['spectral_radius']:.4f} | "
                f"{record['henrici']:.4g} | "
                f"{record['relative_henrici']:.4g} | "
                f"{record['triangular_share']:.4g} | {radius:.4f} |"
            )
    return "\n".join(lines) + "\n"


def part2_figures(results: dict, args: argparse.Namespace) -> dict:
    """`{file name: Figure}` of the trained models (`results`: per cell,
    the matrices "before" and "after" and the "robustness" curve); adds
    each grid as `results[cell]["pseudo_<stage>"]` for the table."""
    figures = {}
    figure = Figure(figsize=(10, 8), layout="constrained")
    for row, (cell, result) in enumerate(results.items()):
        for col, stage in enumerate(("before", "after")):
            analysis.plot_schur(
                result[stage],
                ax=figure.add_subplot(2, 2, 2 * row + col + 1),
                title=f"{CELLS[cell]} |Schur form| {stage} training",
                log=True,
            )
    figures["schur.png"] = figure
    figure = Figure(figsize=(12, 9), layout="constrained")
    # One square for the four panels, ±1.4 unless a trained matrix needs
    # more to hold its whole 0.1-pseudospectrum.
    half = max(
        1.4,
        *(
            analysis.plots.covering_extent(result[stage], 0.1)[1]
            for result in results.values()
            for stage in ("before", "after")
        ),
    )
    for row, (cell, result) in enumerate(results.items()):
        for col, stage in enumerate(("before", "after")):
            grid = analysis.pseudospectrum(
                result[stage], num_points=args.grid, extent=(-half, half) * 2
            )
            result[f"pseudo_{stage}"] = grid
            analysis.plot_pseudospectrum(
                grid,
                epsilons=(1e-3, 1e-2, 1e-1),
                ax=figure.add_subplot(2, 2, 2 * row + col + 1),
                title=f"{CELLS[cell]} ε-pseudospectra, {stage}",
            )
    figures["pseudospectra.png"] = figure
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    analysis.plot_transients(
        {
            f"{CELLS[cell]} {stage}": analysis.transient_norms(
                result[stage], steps=2 * args.time_lag
            )
            for cell, result in results.items()
            for stage in ("before", "after")
        },
        ax=figure.add_subplot(),
        log=True,
        title="‖h_t‖ of h_t = V h_(t−1) from random unit h_0,\n"
        "V before and after training on the copy task",
    )
    figures["transients.png"] = figure
    figures["robustness.png"] = analysis.plot_robustness(
        {CELLS[c]: r["robustness"] for c, r in results.items()},
        title=f"Copy task (T = {args.time_lag}): recall accuracy\nunder "
        "input perturbations",
    )
    return figures


def part2(out: str, args: argparse.Namespace) -> str:
    results = {}
    for cell in CELLS:
        print(f"Training {CELLS[cell]} on the copy task ...", flush=True)
        results[cell] = train_one(cell, args)
    for name, figure in part2_figures(results, args).items():
        analysis.save_figure(figure, os.path.join(out, name))
    curves = {CELLS[c]: r["robustness"] for c, r in results.items()}
    scores = "\n".join(
        f"| {CELLS[c]} | {r['test_loss']:.4f} | {r['baseline']:.4f} |"
        for c, r in results.items()
    )
    return (
        f"## Copy task, T = {args.time_lag}, N = {args.units}, "
        f"{args.steps} updates of batch {args.batch_size} (papers' "
        "optimiser settings)\n\n"
        "| model | test cross-entropy | memoryless baseline |\n"
        "| --- | --- | --- |\n"
        f"{scores}\n\n"
        + non_normality_table(results)
        + "\n## Recall accuracy (last 10 steps) under input perturbations "
        "of size ε (one-hot inputs)\n\n"
        + analysis.robustness_table(curves)
        + "\n"
    )


def main(argv=None) -> str:
    """Run the analysis of `argv`'s flags; returns the `results.md` path."""
    from tf_nnrnn.experiments.cli import flag_of
    from tf_nnrnn.experiments.presets import SettingError
    from tf_nnrnn.experiments.results import atomic_write_json
    from tf_nnrnn.experiments.run_folder import RunFolder

    args = parse_args(argv)
    parser = args.parser
    for cell in CELLS:  # every bad value is named before anything is written
        try:
            copy_settings(cell, args)
        except SettingError as error:
            parser.error(f"argument {flag_of(error.name)}: {error}")
    settings = {
        k: v
        for k, v in vars(args).items()
        if k not in ("out", "overwrite", "verbose", "tf_log", "parser")
    }
    config = {"task": "analysis", "cell": ",".join(CELLS), "settings": settings}
    folder = RunFolder(args.out, owned=FILES)
    path = os.path.join(args.out, "results.md")
    try:
        state, _ = folder.open(config, args.overwrite)
    except SettingError as error:
        parser.error(f"argument --out: {error}")
    try:
        if state == "finished" and os.path.exists(path):
            print(
                f"{args.out}: finished; results in {path} — pass --overwrite "
                "to run it again."
            )
            return path
        atomic_write_json(folder.file("config.json"), config)
        text = "# Analysis (examples/analysis.py)\n\n" + part1(args.out)
        text += "\n" + part2(args.out, args)
        write_text(path, text)
        atomic_write_json(folder.file("result.json"), {"results": "results.md"})
    finally:
        folder.release()
    print(text)
    print(f"Wrote {path} and the PNGs in {args.out}")
    return path


if __name__ == "__main__":
    main()
