"""Regenerate the tables of docs/results.md from runs.

One command per section rebuilds a table of docs/results.md from the runs
it needs; each table is written between the markers
`<!-- results:SECTION -->` and `<!-- /results:SECTION -->` (the prose
around them stays hand-written), under one line with the commit, the
TensorFlow / Keras / Python versions, the date and the command.

Sections:

- `copy`: the nnRNN paper's copy task (T = 200, batch 10, 1500 updates,
  `--preset paper`) for nnRNN, expRNN, scoRNN, LSTM and RNN-orth, seeds
  0, 1, 2; the table and `results_copy_curves.png` next to the document.
- `checks`: the two nnRNN variants (`--epsilon 1e-7`, `--triangular-mask
  block`), seeds 0, 1, 2.
- `tuning`: the Keras Tuner search of nnRNN's two learning rates (Bayesian,
  16 trials of 1000 updates, oracle seed 1), every trial, the paper's pair
  at the same budget, and full runs of the best and the paper's pair
  (seeds 0, 1); `results_tuning_search.png`.
- `analysis`: the tables of `examples/analysis.py` (its figures go to
  `analysis/` next to the document).

Runs go to `--runs` (one folder per run, as `examples/compare.py`); a run
that finished with the same settings is reused, so an interrupted
regeneration resumes where it stopped.

Commands::

    # everything (about 20 minutes on a 2-core CPU; 21 copy runs, a
    # 16-trial search, 3 more runs and the analysis)
    python examples/results.py --runs runs/results
    # one section
    python examples/results.py --sections copy --runs runs/results
    # CI-sized smoke run of every section (about a minute in all), into
    # runs/quick/results_quick.md
    python examples/results.py --quick --runs runs/quick
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # no C++ info lines
# Small LAPACK calls are much slower with multi-threaded OpenBLAS on a
# loaded 2-core machine (the analysis section).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DOCS = os.path.join(ROOT, "docs")
DEFAULT_DOC = os.path.join(DOCS, "results.md")
DEFAULT_RUNS = os.path.join("runs", "results")
SECTIONS = ("copy", "checks", "tuning", "analysis")
COPY_CELLS = ("nnrnn", "exprnn", "scornn", "lstm", "rnn_orth")
NAMES = {
    "nnrnn": "nnRNN",
    "exprnn": "expRNN",
    "scornn": "scoRNN",
    "lstm": "LSTM",
    "rnn_orth": "RNN-orth",
}
#: "Solved": the training loss of a logged block below this.
SOLVED = 0.02
#: "Learning": a block below this fraction of the memoryless baseline.
LEARNING = 0.9
COPY_PNG = "results_copy_curves.png"
SEARCH_PNG = "results_tuning_search.png"
ANALYSIS_DIR = "analysis"
#: The figures of examples/analysis.py and the title each gets in the
#: document (two of them have none, and the panels do not say what the
#: contours and bands are).
ANALYSIS_PNGS = {
    "figure1.png": "Θ chains, N = 100: impulse transients (mean and "
    "10–90 % band over random unit h_0) and Fisher memory J(k)",
    "schur.png": "|Schur form| of V = Wᵀ before and after training on the "
    "copy task (log colour scale)",
    "pseudospectra.png": "ε-pseudospectra of V = Wᵀ: contours ε = 1e-3 "
    "(purple), 1e-2 (teal), 1e-1 (yellow); dots: eigenvalues; dashed: the "
    "unit circle",
    "transients.png": "‖h_t‖ of h_t = V h_(t−1) from random unit h_0 (mean "
    "and 10–90 % band), before and after training on the copy task; both "
    "'before' curves are 1 (orthogonal V)",
    "robustness.png": "Copy task: recall accuracy under input "
    "perturbations of size ε (uniform, Gaussian, FGSM)",
}


@dataclasses.dataclass(frozen=True)
class Profile:
    """Sizes of a regeneration: the paper's (full) or CI-sized (quick)."""

    name: str
    copy: dict  # overrides of --preset paper for the copy-task runs
    seeds: tuple
    last: int  # updates in the final average
    verbose: int
    search: tuple  # tune.py flags (besides --directory, --verbose)
    search_seeds: tuple  # seeds of the full runs of the tuning section
    analysis: tuple  # examples/analysis.py flags (besides --out, --verbose)


FULL = Profile(
    name="full",
    copy={},
    seeds=(0, 1, 2),
    last=100,
    verbose=2,
    search=(
        "--time-lag", "200", "--steps", "1000", "--log-every", "100",
        "--tuner", "bayesian", "--max-trials", "16", "--tuner-seed", "1",
    ),
    search_seeds=(0, 1),
    analysis=(),
)  # fmt: skip
QUICK = Profile(
    name="quick",
    copy=dict(time_lag=5, units=8, steps=20, log_every=5, test_size=10),
    seeds=(0,),
    last=100,
    verbose=0,
    search=(
        "--time-lag", "5", "--units", "8", "--steps", "8", "--log-every",
        "4", "--test-size", "10", "--tuner", "bayesian", "--max-trials",
        "3", "--tuner-seed", "1",
    ),
    search_seeds=(0,),
    analysis=("--quick",),
)  # fmt: skip


class _Parser(argparse.ArgumentParser):
    """Errors in one line (no usage block), exit code 2."""

    def error(self, message: str):
        if message.startswith("unrecognized arguments"):
            message += " (python examples/results.py --help lists the flags)"
        self.exit(2, f"{self.prog}: error: {message}\n")


def _sections(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in SECTIONS]
    if bad or not names or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated subset of {','.join(SECTIONS)} "
            f"(each once), got {text!r}"
        )
    return [s for s in SECTIONS if s in names]  # in the document's order


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="results.py", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sections",
        type=_sections,
        default=list(SECTIONS),
        help=f"comma-separated, of {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--runs",
        default=None,
        help=f"folder of the runs (default {DEFAULT_RUNS}); finished runs "
        "are reused",
    )
    parser.add_argument(
        "--doc",
        default=None,
        help="the Markdown file to update (default docs/results.md; with "
        "--quick RUNS/results_quick.md)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI-sized: tiny settings, one seed, a few updates",
    )
    return parser


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def parse_args(argv=None) -> argparse.Namespace:
    """The flags; a bad one exits 2 with one line naming it and the fix."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.explicit_runs = args.runs is not None
    args.explicit_doc = args.doc is not None
    args.runs = args.runs or DEFAULT_RUNS
    if os.path.exists(args.runs) and not os.path.isdir(args.runs):
        parser.error(
            f"argument --runs: {args.runs!r} is a file; expected a folder "
            "for the runs (it is created if missing)"
        )
    if args.doc is None:
        args.doc = (
            os.path.join(args.runs, "results_quick.md")
            if args.quick
            else DEFAULT_DOC
        )
    if os.path.isdir(args.doc):
        parser.error(
            f"argument --doc: {args.doc!r} is a folder; expected a Markdown "
            "file, e.g. docs/results.md"
        )
    if args.quick and _inside(args.doc, DOCS):
        parser.error(
            f"argument --doc: --quick writes smoke-test numbers, never into "
            f"docs/ (got {args.doc!r}); drop --doc (default "
            "RUNS/results_quick.md) or give a file outside docs/"
        )
    if args.quick and _inside(args.runs, DOCS):
        parser.error(
            f"argument --runs: run outputs do not belong in docs/ (got "
            f"{args.runs!r}); give a folder such as runs/quick"
        )
    return args


# --- provenance and the document ------------------------------------------
def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def commit() -> str:
    """`git rev-parse --short HEAD`, plus " + local changes" if the tree
    differs from it outside `docs/` (which this script itself writes)."""
    head = _git("rev-parse", "--short", "HEAD")
    if head is None:
        return "unknown (not a git checkout)"
    dirty = _git("status", "--porcelain", "--", ".", ":(exclude)docs")
    return head + (" + local changes" if dirty else "")


def command(args: argparse.Namespace, section: str) -> str:
    """The command that regenerates one section's table."""
    parts = ["python", "examples/results.py", "--sections", section]
    if args.explicit_runs:
        parts += ["--runs", args.runs]
    if args.explicit_doc:
        parts += ["--doc", args.doc]
    if args.quick:
        parts.append("--quick")
    return " ".join(shlex.quote(p) for p in parts)


def provenance(args: argparse.Namespace, section: str) -> str:
    """One line: commit, versions, date and the command."""
    import keras
    import tensorflow as tf

    today = datetime.date.today().isoformat()
    return (
        f"Generated at commit {commit()} with TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}, Python {platform.python_version()} on "
        f"{today} by `{command(args, section)}`."
    )


def markers(section: str) -> tuple[str, str]:
    return f"<!-- results:{section} -->", f"<!-- /results:{section} -->"


def replace_block(text: str, section: str, block: str) -> str:
    """`text` with the content between the section's markers replaced
    (markers appended at the end when absent)."""
    begin, end = markers(section)
    body = f"{begin}\n{block.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: body, text, count=1)
    return text.rstrip("\n") + f"\n\n{body}\n"


def write_block(doc: str, section: str, block: str) -> None:
    from tf_nnrnn.experiments.results import atomic_write_text

    text = "# Results\n"
    if os.path.exists(doc):
        with open(doc, encoding="utf-8") as f:
            text = f.read()
    atomic_write_text(doc, replace_block(text, section, block))


def _titled(source: str, title: str):
    """The image of `source` under a band holding `title` (wrapped)."""
    import io
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from PIL import Image

    image = plt.imread(source)
    height, width = image.shape[:2]
    lines = textwrap.wrap(title, width=max(20, int(width / 9)))
    band = 18 * len(lines) + 16
    total = height + band
    fig = Figure(figsize=(width / 100, total / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, height / total))
    ax.imshow(image, interpolation="none")
    ax.set_axis_off()
    fig.text(
        0.5, 1 - 8 / total, "\n".join(lines), ha="center", va="top",
        fontsize=11,
    )  # fmt: skip
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    buffer.seek(0)
    return Image.open(buffer)


def copy_png(
    source: str, target: str, title: str | None = None, colors: int = 64
) -> None:
    """Copy a plot (with a title band when `title` is given) reduced to a
    `colors`-colour palette (small files), atomically."""
    from PIL import Image

    folder = os.path.dirname(os.path.abspath(target))
    os.makedirs(folder, exist_ok=True)
    with _titled(source, title) if title else Image.open(source) as image:
        small = image.convert("RGB").quantize(colors)
    handle, temporary = tempfile.mkstemp(dir=folder, suffix=".png.tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            small.save(f, format="PNG", optimize=True)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


# --- formatting -------------------------------------------------------------
def mean_std(values) -> tuple[float, float]:
    values = list(values)
    mean = sum(values) / len(values)
    var = sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)
    return mean, math.sqrt(var)


def pm(values, digits: int = 4) -> str:
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def sci(x: float) -> str:
    """3 significant digits, short exponent: 6.38e-4."""
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _load(name: str):
    """An example script of this folder as a module."""
    spec = importlib.util.spec_from_file_location(
        f"tf_nnrnn_results_{name}", os.path.join(HERE, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# --- the copy task ----------------------------------------------------------
def copy_settings(cell: str, profile: Profile, **extra):
    """`--preset paper` for `cell`, with the profile's and `extra`
    overrides."""
    from tf_nnrnn.experiments.presets import resolve

    overrides = dict(profile.copy, verbose=profile.verbose, **extra)
    if cell == "scornn" and "units" in overrides:
        overrides.setdefault("num_negative_ones", overrides["units"] // 2)
    return resolve("copy", cell, overrides, preset="paper")


def run_summary(record: dict, last: int) -> dict:
    """The numbers of one finished copy-task run."""
    from tf_nnrnn.experiments.training import load_metrics

    metrics = load_metrics(record["out"])
    result = record["result"]
    final = metrics[-1]["step"]
    window = [m for m in metrics if m["step"] > final - last]
    baseline = result["baseline"]
    solved = [m["step"] for m in metrics if m["cross_entropy"] < SOLVED]
    learning = [
        m["step"] for m in metrics if m["cross_entropy"] < LEARNING * baseline
    ]
    recall = [m["recall_accuracy"] for m in window]
    return {
        "seed": record["seed"],
        "out": record["out"],
        "train_loss": mean_std(m["cross_entropy"] for m in window)[0],
        "train_recall_accuracy": mean_std(recall)[0],
        "test_loss": result["test_loss"],
        "test_recall_accuracy": result["test_accuracy"],
        "solved_at": int(solved[0]) if solved else None,
        "learning_at": int(learning[0]) if learning else None,
        "seconds": result["seconds"],
        "free_parameters": result["free_parameters"],
        "units": result["units"],
        "baseline": baseline,
        "steps": int(final),
        "last": int(min(last, final)),
    }


def summarize_runs(records: list[dict], last: int) -> dict[str, list[dict]]:
    """Per label, the summaries of its runs (in seed order)."""
    rows: dict[str, list[dict]] = {}
    for record in records:
        rows.setdefault(record["label"], []).append(run_summary(record, last))
    return rows


def first_updates(runs: list[dict]) -> str:
    """Per seed, e.g. `240, never (below 0.9 × baseline at –, 650)`."""
    solved = [r["solved_at"] for r in runs]
    text = ", ".join("never" if s is None else str(s) for s in solved)
    if None in solved:
        learning = [r["learning_at"] for r in runs]
        if any(x is not None for x in learning):
            text += (
                f" (below {LEARNING} × baseline at "
                + ", ".join("–" if x is None else str(x) for x in learning)
                + ")"
            )
    return text


def plot_copy_curves(path: str, records: list[dict], title: str) -> None:
    """Training loss per logged block: thin per seed, thick the mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tf_nnrnn.experiments.results import save_figure
    from tf_nnrnn.experiments.training import load_metrics

    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = list(dict.fromkeys(r["label"] for r in records))
    baseline = records[0]["result"]["baseline"]
    for i, label in enumerate(labels):
        color = colors[i % len(colors)]
        curves = [
            load_metrics(r["out"]) for r in records if r["label"] == label
        ]
        for metrics in curves:
            ax.plot(
                [m["step"] for m in metrics],
                [m["cross_entropy"] for m in metrics],
                color=color,
                alpha=0.25,
                linewidth=0.7,
            )
        length = min(len(c) for c in curves)
        ax.plot(
            [curves[0][j]["step"] for j in range(length)],
            [
                sum(c[j]["cross_entropy"] for c in curves) / len(curves)
                for j in range(length)
            ],
            color=color,
            linewidth=1.8,
            label=f"{NAMES.get(label, label)} (mean of {len(curves)})",
        )
    ax.axhline(baseline, color="k", linestyle="--", linewidth=1)
    ax.plot([], [], "k--", label=f"memoryless baseline {baseline:.4f}")
    ax.set_yscale("log")
    ax.set_xlabel("updates")
    ax.set_ylabel("training cross-entropy (mean per logged block)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)


def _seeds_text(seeds) -> str:
    return ", ".join(str(s) for s in seeds)


def copy_section(
    runs: str, profile: Profile, cells=COPY_CELLS, seeds=None
) -> dict:
    """Runs (or reuses) the main copy-task grid; returns
    `{"markdown", "data", "pngs"}` (pngs: `{name next to the document:
    (source, title or None)}`)."""
    from tf_nnrnn.experiments import Variant, run_grid
    from tf_nnrnn.experiments.results import atomic_write_json

    seeds = tuple(profile.seeds if seeds is None else seeds)
    variants = [Variant(c, c, copy_settings(c, profile)) for c in cells]
    folder = os.path.join(runs, "copy")
    records = run_grid("copy", variants, seeds, folder)
    summary = summarize_runs(records, profile.last)
    s = variants[0].settings
    last = next(iter(summary.values()))[0]["last"]
    head = [
        "cell",
        "N",
        "params (paper's count)",
        f"train loss, last {last} updates",
        "per seed",
        "train recall acc.",
        "test loss",
        "test recall acc.",
        f"first update with loss < {SOLVED} (per seed)",
    ]
    rows = []
    for cell, items in summary.items():
        rows.append(
            [
                NAMES[cell],
                str(items[0]["units"]),
                f"{items[0]['free_parameters']:,}",
                pm(r["train_loss"] for r in items),
                ", ".join(f"{r['train_loss']:.4f}" for r in items),
                pm((r["train_recall_accuracy"] for r in items), 3),
                pm(r["test_loss"] for r in items),
                pm((r["test_recall_accuracy"] for r in items), 3),
                first_updates(items),
            ]
        )
    baseline = next(iter(summary.values()))[0]["baseline"]
    timing = ", ".join(
        f"{NAMES[c]} {mean_std(r['seconds'] for r in items)[0]:.0f} s"
        for c, items in summary.items()
    )
    markdown = (
        f"T = {s.time_lag}, batch {s.batch_size}, {s.steps} updates, "
        f"`--preset paper`; seeds {_seeds_text(seeds)} (mean ± sample "
        f"standard deviation over seeds); memoryless baseline "
        f"{baseline:.4f}.\n\n"
        + table(head, rows)
        + f'\n"First update with loss < {SOLVED}": the end of the first '
        f"block of {s.log_every} updates whose mean training loss is below "
        f"{SOLVED}; for a seed that never gets there, the first block "
        f"below {LEARNING} × the baseline is given in brackets. Training "
        f"time per run (mean over seeds; shared CPU): {timing}.\n"
    )
    png = os.path.join(folder, "curves.png")
    plot_copy_curves(
        png,
        records,
        f"Copy task, T = {s.time_lag}, --preset paper: training loss "
        f"({len(seeds)} seed{'s' if len(seeds) > 1 else ''})",
    )
    data = {
        "settings": {v.label: v.settings.to_dict() for v in variants},
        "runs": summary,
    }
    atomic_write_json(os.path.join(runs, "copy.json"), data)
    return {"markdown": markdown, "data": data, "pngs": {COPY_PNG: (png, None)}}


CHECKS = (
    (
        "keras_epsilon",
        {"epsilon": 1e-7},
        "Keras' default ε = 1e-7 inside the root (`--epsilon 1e-7`)",
    ),
    (
        "block_mask",
        {"triangular_mask": "block"},
        "T strictly *block* triangular, our library default "
        "(`--triangular-mask block`)",
    ),
)


def checks_section(runs: str, profile: Profile, seeds=None) -> dict:
    """The nnRNN variants next to the main table's nnRNN runs."""
    from tf_nnrnn.experiments import Variant, run_grid
    from tf_nnrnn.experiments.results import atomic_write_json

    seeds = tuple(profile.seeds if seeds is None else seeds)
    base = Variant("nnrnn", "nnrnn", copy_settings("nnrnn", profile))
    records = run_grid("copy", [base], seeds, os.path.join(runs, "copy"))
    variants = [
        Variant(label, "nnrnn", copy_settings("nnrnn", profile, **extra))
        for label, extra, _ in CHECKS
    ]
    records += run_grid("copy", variants, seeds, os.path.join(runs, "checks"))
    summary = summarize_runs(records, profile.last)
    last = summary["nnrnn"][0]["last"]
    titles = {
        "nnrnn": "as in the main table (RMSprop ε = 1e-16 inside the root "
        "≈ PyTorch's 1e-8 outside; strict T mask)",
        **{label: text for label, _, text in CHECKS},
    }
    head = [
        "nnRNN variant",
        f"train loss, last {last} updates",
        "per seed",
        "test loss",
        "test recall acc.",
        f"first update with loss < {SOLVED} (per seed)",
    ]
    rows = [
        [
            titles[label],
            pm(r["train_loss"] for r in items),
            ", ".join(f"{r['train_loss']:.4f}" for r in items),
            pm(r["test_loss"] for r in items),
            pm((r["test_recall_accuracy"] for r in items), 3),
            first_updates(items),
        ]
        for label, items in summary.items()
    ]
    markdown = (
        f"nnRNN, `--preset paper` plus one flag, seeds {_seeds_text(seeds)}"
        " (mean ± sample standard deviation over seeds).\n\n"
        + table(head, rows)
    )
    data = {"runs": summary}
    atomic_write_json(os.path.join(runs, "checks.json"), data)
    return {"markdown": markdown, "data": data, "pngs": {}}


# --- the learning-rate search -----------------------------------------------
def _flag(flags: tuple, name: str) -> str:
    return flags[flags.index(name) + 1]


def search(runs: str, profile: Profile) -> tuple[dict, list[dict], str]:
    """Runs (or continues, or reads) the search: the best-trial record of
    examples/tune.py, the completed trials sorted by the objective, and
    the project folder."""
    directory = os.path.join(runs, "tuning")
    argv = [
        "--task", "copy", "--cell", "nnrnn", "--preset", "paper",
        *profile.search, "--directory", directory,
        "--verbose", str(profile.verbose),
    ]  # fmt: skip
    code = _load("tune").main(argv)
    if code != 0:
        raise RuntimeError(f"tune.py {' '.join(argv)} exited with {code}")
    project = os.path.join(directory, "copy_nnrnn")
    path = os.path.join(project, "best_hyperparameters.json")
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    trials = []
    for trial in record["trials"]:
        if trial["status"] != "COMPLETED":
            continue
        run_dir = os.path.join(project, f"trial_{trial['trial_id']}", "run")
        with open(os.path.join(run_dir, "result.json"), encoding="utf-8") as f:
            result = json.load(f)
        trials.append(
            {
                "trial_id": trial["trial_id"],
                "lr": trial["hyperparameters"]["lr"],
                "lr_orth": trial["hyperparameters"]["lr_orth"],
                "score": trial["score"],
                "test_loss": result["test_loss"],
                "test_recall_accuracy": result["test_accuracy"],
                "seconds": result["seconds"],
            }
        )
    trials.sort(key=lambda t: t["score"])
    return record, trials, project


def _loss_acc(loss: float, accuracy: float) -> str:
    return f"{loss:.4f} / {accuracy:.3f}"


def plot_search(
    path: str, trials: list[dict], paper: dict, ceiling: float, title: str
):
    """The trials in the (LR, LR orth) plane, coloured by the objective on
    a log scale capped at `ceiling` (a diverged trial does not flatten the
    others)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.colors
    import matplotlib.pyplot as plt

    from tf_nnrnn.experiments.results import save_figure

    fig, ax = plt.subplots(figsize=(6.8, 4.8), dpi=100)
    scores = [t["test_loss"] for t in trials]
    dots = ax.scatter(
        [t["lr"] for t in trials],
        [t["lr_orth"] for t in trials],
        c=scores,
        cmap="viridis",
        norm=matplotlib.colors.LogNorm(
            min(scores), max(ceiling, 1.01 * min(scores))
        ),
        s=45,
        edgecolors="k",
        label="trial (number)",
    )
    for t in trials:
        ax.annotate(
            t["trial_id"],
            (t["lr"], t["lr_orth"]),
            xytext=(4, -10),
            textcoords="offset points",
            fontsize=7,
        )
    fig.colorbar(
        dots,
        ax=ax,
        extend="max" if max(scores) > ceiling else "neither",
        label=f"held-out cross-entropy (log; capped at {ceiling:.4f})",
    )
    best = trials[0]
    ax.scatter(
        [best["lr"]],
        [best["lr_orth"]],
        marker="*",
        s=300,
        c="none",
        edgecolors="r",
        label="best trial",
    )
    ax.scatter(
        [paper["lr"]], [paper["lr_orth"]], marker="x", s=80, c="r",
        label="paper's pair",
    )  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("LR (learning rate)")
    ax.set_ylabel("LR orth (orthogonal learning rate)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper center")
    fig.tight_layout()
    try:
        save_figure(fig, path)
    finally:
        plt.close(fig)


def tuning_section(runs: str, profile: Profile) -> dict:
    """The search (examples/tune.py), the paper's pair at the same budget,
    and full runs of the best and of the paper's pair."""
    from tf_nnrnn.experiments import Variant, run_grid
    from tf_nnrnn.experiments.presets import resolve
    from tf_nnrnn.experiments.results import atomic_write_json

    record, trials, project = search(runs, profile)
    best, base, paper = trials[0], record["settings"], record["paper"]
    # The paper's pair with the search's settings and budget.
    names = ("time_lag", "steps", "log_every", "units", "test_size")
    same_budget = {k: base[k] for k in names}
    same_budget["verbose"] = profile.verbose
    short = run_grid(
        "copy",
        [
            Variant(
                "paper_same_budget",
                "nnrnn",
                resolve("copy", "nnrnn", same_budget, preset="paper"),
            )
        ],
        [base["seed"]],
        os.path.join(runs, "tuning_runs"),
    )[0]["result"]
    rank = 1 + sum(t["score"] < short["test_loss"] for t in trials)
    # Full runs; the paper's pair is the copy section's nnRNN run.
    seeds = profile.search_seeds
    paper_full = Variant("nnrnn", "nnrnn", copy_settings("nnrnn", profile))
    pair = {"lr": base["lr"], "lr_orth": base["lr_orth"]}
    best_full = Variant(
        "best", "nnrnn", copy_settings("nnrnn", profile, **pair)
    )
    full = run_grid("copy", [paper_full], seeds, os.path.join(runs, "copy"))
    full += run_grid(
        "copy", [best_full], seeds, os.path.join(runs, "tuning_runs")
    )
    summary = summarize_runs(full, profile.last)

    top = table(
        ["", "LR", "LR orth", f"held-out loss after {base['steps']} updates",
         "recall accuracy"],
        [
            [f"best trial ({best['trial_id']})", sci(best["lr"]),
             sci(best["lr_orth"]), f"{best['test_loss']:.4f}",
             f"{best['test_recall_accuracy']:.3f}"],
            ["paper (same settings and budget)", sci(paper["lr"]),
             sci(paper["lr_orth"]), f"{short['test_loss']:.4f}",
             f"{short['test_accuracy']:.3f}"],
        ],
    )  # fmt: skip
    every = table(
        ["trial", "LR", "LR orth", "loss", "recall accuracy"],
        [
            [t["trial_id"], sci(t["lr"]), sci(t["lr_orth"]),
             f"{t['test_loss']:.4f}", f"{t['test_recall_accuracy']:.3f}"]
            for t in trials
        ],
    )  # fmt: skip
    pairs = list(zip(summary["nnrnn"], summary["best"]))
    rows = [
        [
            str(p["seed"]),
            _loss_acc(p["test_loss"], p["test_recall_accuracy"]),
            _loss_acc(b["test_loss"], b["test_recall_accuracy"]),
        ]
        for p, b in pairs
    ]
    if len(pairs) > 1:
        rows.append(
            ["mean"]
            + [
                _loss_acc(
                    mean_std(r["test_loss"] for r in runs_)[0],
                    mean_std(r["test_recall_accuracy"] for r in runs_)[0],
                )
                for runs_ in (summary["nnrnn"], summary["best"])
            ]
        )
    full_table = table(
        ["seed", "paper: test loss / recall acc.",
         "best found: test loss / recall acc."],
        rows,
    )  # fmt: skip
    flags = profile.search
    seconds = sum(t["seconds"] for t in trials)
    markdown = (
        f"Search: {_flag(flags, '--tuner')}, {len(trials)} completed "
        f"trials (max {_flag(flags, '--max-trials')}), oracle seed "
        f"{_flag(flags, '--tuner-seed')}, {base['steps']} updates per trial "
        f"at T = {base['time_lag']}, N = {base['units']}, the data and "
        f"initial weights of seed {base['seed']}; objective: cross-entropy "
        f"on {base['test_size']} held-out sequences. Training time summed "
        f"over the trials: {seconds:.0f} s (shared CPU).\n\n"
        + top
        + f"\nThe paper's pair would have ranked {rank} of "
        f"{len(trials) + 1}.\n\nEvery trial, sorted by the objective:\n\n"
        + every
        + f"\nFull runs ({paper_full.settings.steps} updates, `--preset "
        f"paper`) of the paper's pair and of the best pair (`--lr "
        f"{base['lr']!r} --lr-orth {base['lr_orth']!r}`), seeds "
        f"{_seeds_text(seeds)}; held-out loss / recall accuracy after the "
        "last update:\n\n" + full_table
    )
    data = {
        "record": record,
        "trials": trials,
        "paper_same_budget": short,
        "rank": rank,
        "full": summary,
    }
    atomic_write_json(os.path.join(runs, "tuning.json"), data)
    png = os.path.join(runs, "tuning_search.png")
    plot_search(
        png,
        trials,
        paper,
        short["baseline"],
        f"nnRNN, copy task T = {base['time_lag']}: "
        f"{_flag(flags, '--tuner')} search, {len(trials)} trials of "
        f"{base['steps']} updates",
    )
    return {
        "markdown": markdown,
        "data": data,
        "pngs": {SEARCH_PNG: (png, None)},
    }


# --- the analysis -----------------------------------------------------------
def analysis_section(runs: str, profile: Profile) -> dict:
    """examples/analysis.py's tables (reused when its flags are the same)."""
    from tf_nnrnn.experiments.results import atomic_write_json

    out = os.path.join(runs, "analysis")
    argv = [*profile.analysis, "--out", out, "--verbose", str(profile.verbose)]
    stamp = os.path.join(out, "finished.json")
    results = os.path.join(out, "results.md")
    done = None
    if os.path.exists(stamp) and os.path.exists(results):
        with open(stamp, encoding="utf-8") as f:
            done = json.load(f)
    if done != {"argv": argv}:
        _load("analysis").main(argv)
        atomic_write_json(stamp, {"argv": argv})
    else:
        print(f"== analysis in {out}: finished, reused")
    with open(results, encoding="utf-8") as f:
        text = f.read()
    lines = text.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    body = "\n".join(
        "#" + line if line.startswith("## ") else line for line in lines
    )
    flags = " ".join(profile.analysis)
    markdown = (
        f"`python examples/analysis.py {flags}".rstrip()
        + f" --out {out}` (seed 0; figures in `{ANALYSIS_DIR}/`).\n\n"
        + body.strip()
        + "\n"
    )
    pngs = {
        os.path.join(ANALYSIS_DIR, name): (os.path.join(out, name), title)
        for name, title in ANALYSIS_PNGS.items()
    }
    return {"markdown": markdown, "data": {"results_md": results}, "pngs": pngs}


SECTION_FUNCTIONS = {
    "copy": copy_section,
    "checks": checks_section,
    "tuning": tuning_section,
    "analysis": analysis_section,
}


def main(argv=None) -> int:
    """Regenerate the sections named by `--sections`; returns the exit code."""
    args = parse_args(argv)
    profile = QUICK if args.quick else FULL
    os.makedirs(args.runs, exist_ok=True)
    doc_dir = os.path.dirname(os.path.abspath(args.doc))
    from tf_nnrnn.experiments.training import TrainingDiverged

    for section in args.sections:
        print(f"=== section {section} ({profile.name}), runs in {args.runs}")
        try:
            block = SECTION_FUNCTIONS[section](args.runs, profile)
        except TrainingDiverged as error:
            print(f"results.py: section {section}: {error}", file=sys.stderr)
            return 1
        for name, (source, title) in block["pngs"].items():
            copy_png(source, os.path.join(doc_dir, name), title)
        text = provenance(args, section) + "\n\n" + block["markdown"]
        write_block(args.doc, section, text)
        print(text)
        print(f"=== section {section} written to {args.doc}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
