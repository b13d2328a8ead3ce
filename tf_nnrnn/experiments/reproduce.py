"""One command per paper table: plan, time, run and compare (the engine of
`examples/reproduce.py`).

A *table* (`copy`, `adding`, `psmnist`, `ptb`) gathers the published
tables of `tf_nnrnn.experiments.paper_tables.PAPER_TABLES` of one task
(same hidden size and same parameter count; PTB at TPTT 150 and 300).
`plan(table)` turns their rows into distinct runs, each with the paper's
settings (`presets.resolve(..., preset="paper")` under the row's
changes); a run that fills several rows (nnRNN N = 128 in both copy
tables) is run once. The runs go through `grids.run_grid`, so finished
runs are reused and an interrupted one resumes; `write_table` puts our
numbers beside the published ones.

`quick=True` keeps every setting but the sizes and the schedule (a few
updates of a few units), for testing the whole path; where the real data
are absent, psMNIST reads `tfds.testing.mock_data` and PTB a small
generated text (`ptb_fixture`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time

from tf_nnrnn.experiments.presets import (
    PAPER,
    PAPER_TABLES,
    PaperRun,
    Settings,
    resolve,
)
from tf_nnrnn.experiments.results import atomic_write_text

__all__ = [
    "TABLES",
    "Entry",
    "plan",
    "missing_data",
    "ptb_fixture",
    "data_context",
    "time_update",
    "estimate_seconds",
    "plan_table",
    "write_table",
]

#: The command's tables: name → (task, keys of `PAPER_TABLES`).
TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "copy": ("copy", ("copy_same_hidden", "copy_same_params")),
    "adding": ("adding", ()),
    "psmnist": (
        "psmnist",
        ("psmnist_same_hidden", "psmnist_same_params", "psmnist_other_papers"),
    ),
    "ptb": (
        "ptb",
        (
            "ptb150_same_params",
            "ptb300_same_params",
            "ptb150_same_hidden",
            "ptb300_same_hidden",
        ),
    ),
}
_METRIC = {"copy": "test_loss", "adding": "test_mse"}
_METRIC.update(psmnist="test_accuracy", ptb="test_bpc")
# Settings that say where and how loudly, not what is run.
_NOT_SHOWN = ("data_dir", "verbose", "jit", "distribute", "seed")
# Settings every plan line shows.
_ALWAYS = ("units", "optimizer", "lr", "lr_orth", "batch_size")
# The text sizes of PTB's character files (Mikolov's simple-examples),
# for estimates made before the data are there.
_PTB_TOKENS = {"train": 5_101_618, "valid": 399_782, "test": 449_945}


@dataclasses.dataclass
class Entry:
    """One run of a table and the published rows it fills.

    Attributes:
        label: the run's folder and line name (`exprnn_N176`).
        cell: the registered cell.
        settings: the resolved `Settings`.
        rows: the `PaperRun`s this run is compared with.
        shown: the settings named in the plan (the preset's, the row's
            and the typed ones).
    """

    label: str
    cell: str
    settings: Settings
    rows: list = dataclasses.field(default_factory=list)
    shown: tuple = ()


def _table_rows(table: str) -> list[PaperRun]:
    task, keys = TABLES[table]
    if not keys:  # no published table: the presets, without numbers
        return [
            PaperRun(
                table, task, cell, cell, {}, _METRIC[task], None,
                note="no published number",
                source="nnRNN reference adding_problem.py defaults "
                "(anchors.md); the papers show no adding table",
            )
            for cell in PAPER[task]
        ]  # fmt: skip
    return [row for key in keys for row in PAPER_TABLES[key]]


def _label(cell: str, changes: dict) -> str:
    label = cell
    if "units" in changes:
        label += f"_N{changes['units']}"
    if "bptt" in changes:
        label += f"_tptt{changes['bptt']}"
    return label


def quick_settings(settings: Settings) -> Settings:
    """`settings` with a few units and a few updates (the rest kept).

    Example:
        >>> s = quick_settings(Settings(units=170, num_negative_ones=17))
        >>> s.units, s.num_negative_ones, s.steps
        (16, 2, 2)
    """
    units = min(settings.units, 16)
    changes = dict(
        units=units,
        batch_size=min(settings.batch_size, 4),
        steps=2,
        log_every=1,
        test_size=4,
        memory_size=min(settings.memory_size, 16),
        embedding_dim=min(settings.embedding_dim, 8),
        eval_batch_size=2,
        train_examples=8,
        verbose=0,
    )
    if settings.epochs is not None:
        changes["epochs"] = 1
    if settings.num_negative_ones is not None:
        share = settings.num_negative_ones / settings.units
        changes["num_negative_ones"] = round(share * units)
    return dataclasses.replace(settings, **changes)


def plan(
    table: str,
    cells=None,
    overrides: dict | None = None,
    quick: bool = False,
) -> list[Entry]:
    """The distinct runs of `table`, in the order of its published rows.

    Args:
        table: a key of `TABLES`.
        cells: keep only these cells (None: every cell of the table).
        overrides: settings laid over every run (e.g. `data_dir`).
        quick: shrink sizes and schedule (`quick_settings`).

    Example:
        >>> [e.label for e in plan("copy")][-3:]
        ['rnn', 'exprnn_N176', 'lstm_N63']
        >>> plan("copy")[0].settings.lr_orth
        1e-06
    """
    if table not in TABLES:
        raise ValueError(
            "Received an invalid value for argument `table`, expected one "
            f"of {list(TABLES)}, got {table!r}."
        )
    task = TABLES[table][0]
    overrides = dict(overrides or {})
    entries: dict[tuple, Entry] = {}
    for row in _table_rows(table):
        if cells is not None and row.cell not in cells:
            continue
        key = (row.cell, tuple(sorted(row.settings.items())))
        if key not in entries:
            settings = resolve(
                task, row.cell, {**row.settings, **overrides}, preset="paper"
            )
            if quick:
                settings = quick_settings(settings)
            label = _label(row.cell, row.settings)
            taken = {e.label for e in entries.values()}
            while label in taken:
                label += "_b"
            names = {*_ALWAYS, *PAPER[task].get(row.cell, {})}
            names |= set(row.settings)
            names |= set(overrides)
            shown = tuple(
                f.name
                for f in dataclasses.fields(Settings)
                if f.name in names and f.name not in _NOT_SHOWN
            )
            entries[key] = Entry(label, row.cell, settings, [], shown)
        entries[key].rows.append(row)
    return list(entries.values())


# --- data ------------------------------------------------------------------


def missing_data(task: str, data_dir: str | None) -> str | None:
    """What `task` lacks in `data_dir`, as one sentence; None if nothing.

    Example:
        >>> missing_data("copy", None) is None
        True
        >>> print(missing_data("ptb", "/nowhere"))  # doctest: +ELLIPSIS
        the ptb table needs ptb.char.train.txt, ... in '/nowhere' ...
    """
    if task == "ptb":
        names = [f"ptb.char.{s}.txt" for s in ("train", "valid", "test")]
        if data_dir and all(
            os.path.isfile(os.path.join(data_dir, n)) for n in names
        ):
            return None
        where = repr(data_dir) if data_dir else "--data-dir (not given)"
        return (
            f"the ptb table needs {', '.join(names)} in {where} "
            "(from data/ of Mikolov's simple-examples.tgz; see "
            "docs/reproduce.md)"
        )
    if task == "psmnist":
        import tensorflow_datasets as tfds

        builder = tfds.builder("mnist", data_dir=data_dir)
        info = os.path.join(builder.data_dir, "dataset_info.json")
        if os.path.isfile(info):
            return None
        return (
            "the psmnist table needs MNIST prepared by tensorflow_datasets "
            f'(no {info}); prepare it online with `python -c "import '
            "tensorflow_datasets as tfds; tfds.load('mnist', data_dir="
            "'DIR')\"` and pass --data-dir DIR (see docs/reproduce.md)"
        )
    return None


def ptb_fixture(folder: str, tokens: int = 4000) -> str:
    """Write a small PTB-shaped text (50 symbols) into `folder`.

    Example:
        >>> import tempfile
        >>> from tf_nnrnn.experiments.tasks.ptb import load_ptb_chars
        >>> d = ptb_fixture(tempfile.mkdtemp())
        >>> len(load_ptb_chars(d)["vocabulary"])
        50
    """
    import numpy as np

    os.makedirs(folder, exist_ok=True)
    symbols = ["_"] + [chr(c) for c in range(ord("a"), ord("a") + 26)]
    symbols += [str(d) for d in range(10)] + list("#$&'*-.N/\\<>")
    rng = np.random.RandomState(0)
    for split in ("train", "valid", "test"):
        ids = rng.randint(0, len(symbols), size=tokens)
        ids[: len(symbols)] = np.arange(len(symbols))  # every symbol once
        words = [symbols[i] for i in ids]
        lines = [" ".join(words[i : i + 48]) for i in range(0, tokens, 48)]
        path = os.path.join(folder, f"ptb.char.{split}.txt")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    return folder


@contextlib.contextmanager
def data_context(task: str, mock: bool):
    """psMNIST under `tfds.testing.mock_data` when `mock`; else nothing."""
    if task == "psmnist" and mock:
        import tensorflow_datasets as tfds

        with tfds.testing.mock_data(num_examples=8):
            yield
    else:
        yield


# --- estimates -------------------------------------------------------------


def time_update(task: str, cell: str, settings: Settings, steps: int = 3):
    """Seconds per training update of this run on the current device
    (the mean of `steps` updates after one that traces the graph)."""
    from tf_nnrnn.experiments.models import build_model
    from tf_nnrnn.experiments.training import compile_model, make_task

    task_obj = make_task(task, settings)
    model = build_model(task_obj, cell, settings)
    compile_model(model, task_obj, settings)
    x, y = next(iter(task_obj.train_dataset(settings.batch_size, 0)))
    model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - start) / steps


def _counts(task: str, s: Settings) -> tuple[int, float]:
    """(training updates, sequences evaluated) of a whole run."""
    if task in ("copy", "adding"):
        return s.steps, s.test_size
    if task == "psmnist":
        per_epoch = math.ceil((s.train_examples or 50_000) / s.batch_size)
        if s.steps is not None:
            per_epoch = min(per_epoch, s.steps)
        return per_epoch * s.epochs, 10_000 * (s.epochs + 1)
    per_epoch = (_PTB_TOKENS["train"] // s.batch_size - 1) // s.bptt
    if s.steps is not None:
        per_epoch = min(per_epoch, s.steps)
    evaluated = (_PTB_TOKENS["valid"] * s.epochs + _PTB_TOKENS["test"]) / s.bptt
    return per_epoch * s.epochs, evaluated


def estimate_seconds(task: str, settings: Settings, update: float) -> float:
    """Rough seconds of a whole run from the seconds of one update: the
    updates, plus evaluation at a third of the training cost per
    sequence (a forward pass without the backward one).

    Example:
        >>> s = Settings(steps=100, test_size=30, batch_size=10)
        >>> estimate_seconds("copy", s, 0.5)  # 100 updates + 3 batches / 3
        50.5
    """
    updates, evaluated = _counts(task, settings)
    return update * (updates + evaluated / settings.batch_size / 3)


# --- the plan and the table --------------------------------------------------


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _shown(entry: Entry, name: str) -> str:
    s = entry.settings
    if name not in entry.shown:
        return ""
    if name == "rho" and s.optimizer != "rmsprop":
        return ""
    if name in ("beta_1", "beta_2") and s.optimizer != "adam":
        return ""
    return _fmt(getattr(s, name))


def _published(row: PaperRun) -> str:
    if row.published is None:
        return row.note or "—"
    text = f"{row.published:g}"
    return text + " (curve)" if row.curve else text


def plan_table(entries: list[Entry], estimates: dict | None = None) -> str:
    """The plan as a Markdown table: one line per run with its settings
    (the names of `Settings`), the published values and the estimate."""
    names = [
        f.name
        for f in dataclasses.fields(Settings)
        if any(f.name in e.shown for e in entries)
    ]
    head = ["run", "cell", *names, "published", "est. per run"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for e in entries:
        published = sorted({_published(r) for r in e.rows})
        seconds = (estimates or {}).get(e.label)
        est = "—" if seconds is None else _duration(seconds)
        cells = [e.label, e.cell, *(_shown(e, n) for n in names)]
        cells += ["; ".join(published), est]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    from tf_nnrnn.experiments.grids import _duration as duration

    return duration(seconds)


def _pm(pair, digits: int = 4) -> str:
    return f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def write_table(
    path: str,
    table: str,
    entries: list[Entry],
    records: list[dict],
    summaries: list[dict],
    seeds,
    quick: bool = False,
) -> str:
    """Write `path` (table.md): per published table, our number (mean ±
    std over seeds) beside the published one and the gap.

    Args:
        path: the Markdown file to write.
        table: a key of `TABLES`.
        entries: the plan (`plan`).
        records: `grids.run_grid`'s records (diverged runs have no result).
        summaries: `grids.summarize`'s rows.
        seeds: the seeds run.
        quick: say that the numbers come from a quick run.
    """
    by_label = {r["label"]: r for r in summaries}
    task = TABLES[table][0]
    lines = [f"# {table}: our runs beside the published numbers", ""]
    if quick:
        lines += [
            "**Quick run** (`--quick`): a few updates of a few units, on "
            "mock or fixture data where the real data are absent; these "
            "numbers test the path and mean nothing.",
            "",
        ]
    better = "higher" if _METRIC[task] == "test_accuracy" else "lower"
    lines += [
        f"Ours: the test metric, mean ± std over seeds "
        f"{', '.join(map(str, seeds))} (each run's files: `<run>/seed<k>/`;"
        " training curves: `summary.md`, `curves.png`). Gap = ours − "
        f'published; {better} is better. "(curve)": read off a plot.',
        "",
    ]
    groups: dict[str, list] = {}
    for entry in entries:
        for row in entry.rows:
            groups.setdefault(row.table, []).append((row, entry))
    for name, pairs in groups.items():
        others = sorted({k for row, _ in pairs for k in row.other})
        head = ["model", "run", "N", "metric", "ours", "published", "gap"]
        for key in others:
            head += [f"ours {key}", f"published {key}"]
        head.append("note")
        lines += [f"## {name}", ""]
        lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        for row, entry in pairs:
            ours, gap = _ours(row.metric, by_label.get(entry.label), records,
                              entry.label, row.published)  # fmt: skip
            cells = [row.label, entry.label, str(entry.settings.units)]
            cells += [row.metric, ours, _published(row), gap]
            for key in others:
                value = row.other.get(key)
                cells += [
                    _ours(key, by_label.get(entry.label), records,
                          entry.label, value)[0],
                    _fmt(value),
                ]  # fmt: skip
            cells.append(row.note)
            lines.append("| " + " | ".join(cells) + " |")
        sources = sorted({row.source for row, _ in pairs if row.source})
        lines += ["", "Source: " + "; ".join(sources) + ".", ""]
    lines += ["![curves](curves.png)", ""]
    atomic_write_text(path, "\n".join(lines))
    return path


def _ours(metric, summary, records, label, published) -> tuple[str, str]:
    """(our value, gap) of `metric` for the run `label`."""
    runs = [r for r in records if r["label"] == label]
    diverged = sum(r.get("result") is None for r in runs)
    pair = None
    if summary is not None:
        if metric == summary["test_metric"]:
            pair = summary["test"]
        else:
            pair = summary.get(metric)
    if pair is None:
        text = f"diverged ({diverged} of {len(runs)})" if diverged else "—"
        return text, ""
    text = _pm(pair)
    if diverged:
        text += f" ({diverged} of {len(runs)} diverged)"
    gap = "" if published is None else f"{pair[0] - published:+.4f}"
    return text, gap
