"""The papers' settings and published numbers, each with its source.

`PAPER[task][cell]` holds the settings of `--preset paper`
(`tf_nnrnn.experiments.presets.resolve`). `PAPER_TABLES[table]` lists the
runs of one published table: the cell, the settings to lay over the
preset, the published number and where it comes from; `paper_plan(table)`
returns them. Every figure is typed from `shared/design/anchors.md`, which
gathers the authors' repositories: "README" is KyleGoyette/nnRNN's README
("Hyperparameters for reported results" and its PTB tables), the script
names are that repository's, and "curve" marks a value read off a plot.

Settings every preset of a task sets (`_COPY`, `_PSMNIST`, ...) also reset
what the quick defaults (`presets.QUICK`) set and the paper does not use,
because `resolve` lays the preset over the quick defaults.

Optimizer constants not in the tables: RMSprop ρ is PyTorch's `alpha`
(0.9 where a source gives none: TensorFlow's RMSProp `decay`, which
scoRNN's code uses);
`epsilon` stays None (PyTorch's `eps = 1e-8`, see `presets`); no gradient
clipping but PTB nnRNN's (README) and NRU's (its authors' config).
"""

from __future__ import annotations

import dataclasses

__all__ = ["PAPER", "PAPER_TABLES", "PaperRun", "paper_plan"]

# --- the presets ---------------------------------------------------------

# Copy: batch 10, 1500 updates, T = 200, one-hot 10 symbols (anchors.md
# "Copy task": the authors' copytask.py and the ~18.9K parameter counts).
_COPY = dict(
    time_lag=200,
    one_hot=True,
    batch_size=10,
    steps=1500,
    test_size=500,
    kernel_init=None,
    lr_orth=None,
    rho=0.9,
)
# psMNIST: batch 100, 100 epochs, permutation RandomState(1234), the
# reference split drawn after it and no shuffling (sMNIST.py, anchors.md
# "Reference training details"); all 50,000 training images.
_PSMNIST = dict(
    batch_size=100,
    epochs=100,
    permutation_seed=1234,
    mnist_split="reference",
    train_examples=None,
    kernel_init=None,
    lr_orth=None,
    rho=0.9,
)
# Adding: adding_problem.py's defaults (T = 20, batch 1, 20000 updates).
_ADDING = dict(length=20, batch_size=1, steps=20000, log_every=100, rho=0.9)
# PTB: batch 128, 10 evaluation streams, 100 epochs, embedding 200, TPTT
# 150, whole epochs; both learning rates halved after every epoch whose
# validation loss did not improve (language_task.py, anchors.md).
_PTB = dict(
    batch_size=128,
    eval_batch_size=10,
    epochs=100,
    steps=None,
    embedding_dim=200,
    bptt=150,
    plateau_factor=0.5,
    lr_orth=None,
    rho=0.9,
)
# Input kernels: the reference's `--iinit` is xavier (Glorot normal) in
# copytask.py and sMNIST.py, kaiming (He normal) in language_task.py, for
# every network but its LSTM (utils.select_network).
_GLOROT = dict(kernel_init="glorot_normal")
_HE = dict(kernel_init="he_normal")

#: The papers' settings (design/anchors.md), per task and cell. nnRNN uses
#: the reference code's strictly triangular T mask, which gives the
#: paper's parameter counts (18,953 at N = 128 on the copy task).
PAPER: dict[str, dict[str, dict]] = {
    "copy": {
        # README copy table: N 128, RMSprop α 0.99, LR 5e-4, LR orth 1e-6,
        # δ 1e-4, T decay 1e-6, Cayley (anchors.md: the paper says Henaff).
        "nnrnn": dict(
            _COPY,
            **_GLOROT,
            units=128,
            optimizer="rmsprop",
            lr=5e-4,
            lr_orth=1e-6,
            rho=0.99,
            delta=1e-4,
            t_decay=1e-6,
            skew_init="cayley",
            triangular_mask="strict",
        ),
        # README copy table: N 128 (176 same parameters), α 0.99, LR 1e-3,
        # LR orth 1e-4, Henaff.
        "exprnn": dict(
            _COPY,
            **_GLOROT,
            units=128,
            lr=1e-3,
            lr_orth=1e-4,
            rho=0.99,
            skew_init="henaff",
        ),
        # Not in the nnRNN tables. scoRNN paper (anchors.md "scoRNN"): LR
        # 1e-3, LR orth 1e-4, RMSprop, ρ = n/2 (its copy run: n 190, ρ 95),
        # U ~ U(-0.01, 0.01) (the cell's default kernel); N = 128 here to
        # match the same-hidden table.
        "scornn": dict(
            _COPY, units=128, num_negative_ones=64, lr=1e-3, lr_orth=1e-4
        ),
        # anchors.md copy table: LSTM N 128 LR 5e-4 (63: LR 1e-3), α 0.99,
        # Glorot.
        "lstm": dict(_COPY, units=128, lr=5e-4, rho=0.99),
        # README copy table: RNN-orth N 128, α 0.99, LR 2e-4, random orth.
        "rnn_orth": dict(_COPY, units=128, lr=2e-4, rho=0.99),
        # README copy table: RNN N 128, α 0.9, LR 1e-3, Glorot normal.
        "rnn": dict(_COPY, units=128, lr=1e-3, rho=0.9),
        # Not in the papers (issue 15's comparison): GRU and the
        # orthogonally constrained LSTM/GRU take the LSTM's settings, the
        # constrained/Riemannian RNN-orth those of RNN-orth (its LR also
        # as LR orth, the step of the Riemannian RMSprop).
        "gru": dict(_COPY, units=128, lr=5e-4, rho=0.99),
        "lstm_orth": dict(_COPY, units=128, lr=5e-4, rho=0.99),
        "gru_orth": dict(_COPY, units=128, lr=5e-4, rho=0.99),
        "rnn_orth_constraint": dict(_COPY, units=128, lr=2e-4, rho=0.99),
        "rnn_orth_riemannian": dict(
            _COPY, units=128, lr=2e-4, lr_orth=2e-4, rho=0.99
        ),
    },
    "psmnist": {
        # anchors.md psMNIST table (the paper): N 512, LR 1.5e-4, LR orth
        # 1.5e-5, α 0.99, δ 0.15, T decay 1e-4, Cayley (the README's
        # 2e-4 / 2e-5 / δ 0.1 are its later runs).
        "nnrnn": dict(
            _PSMNIST,
            **_GLOROT,
            units=512,
            lr=1.5e-4,
            lr_orth=1.5e-5,
            rho=0.99,
            delta=0.15,
            t_decay=1e-4,
            skew_init="cayley",
            triangular_mask="strict",
        ),
        # README sMNIST table: N 512 (722 same parameters), α 0.99, LR
        # 5e-4, LR orth 5e-5, Cayley.
        "exprnn": dict(
            _PSMNIST,
            **_GLOROT,
            units=512,
            lr=5e-4,
            lr_orth=5e-5,
            rho=0.99,
            skew_init="cayley",
        ),
        # scoRNN paper (anchors.md "scoRNN"): MNIST n 170, ρ 17, LR 1e-3,
        # LR orth 1e-4, U(-0.01, 0.01) input kernel (the cell's default).
        "scornn": dict(
            _PSMNIST, units=170, num_negative_ones=17, lr=1e-3, lr_orth=1e-4
        ),
        # README sMNIST table: LSTM N 512 α 0.99 LR 5e-4 (N 257: α 0.9).
        "lstm": dict(_PSMNIST, units=512, lr=5e-4, rho=0.99),
        # README sMNIST table: RNN-orth N 512, α 0.99, LR 5e-5.
        "rnn_orth": dict(_PSMNIST, units=512, lr=5e-5, rho=0.99),
        # README sMNIST table: RNN N 512, α 0.9, LR 1e-4.
        "rnn": dict(_PSMNIST, units=512, lr=1e-4, rho=0.9),
        # NRU authors' psMNIST config (anchors.md "NRU"): hidden 212,
        # memory 256, k 4, Adam 1e-3, clip norm 1.0, batch 100.
        "nru": dict(
            _PSMNIST,
            units=212,
            memory_size=256,
            num_heads=4,
            optimizer="adam",
            lr=1e-3,
            clip_norm=1.0,
        ),
    },
    "ptb": {
        # README PTB table (the authors' later runs): N 1024, Adam β (0,
        # 0.9), LR 2e-3, LR orth 2e-4, δ 1e-4, T decay 1e-5, clipping 10 at
        # TPTT 150 (300: T decay 1e-6, clipping 5; `paper_settings`).
        "nnrnn": dict(
            _PTB,
            **_HE,
            units=1024,
            optimizer="adam",
            beta_1=0.0,
            beta_2=0.9,
            lr=2e-3,
            lr_orth=2e-4,
            clip_norm=10.0,
            delta=1e-4,
            t_decay=1e-5,
            skew_init="cayley",
            triangular_mask="strict",
        ),
        # README PTB table: expRNN N 1024, α 0.9, LR 1e-3, LR orth blank
        # (the rule of thumb LR / 10), Cayley.
        "exprnn": dict(
            _PTB,
            **_HE,
            units=1024,
            lr=1e-3,
            lr_orth=1e-4,
            rho=0.9,
            skew_init="cayley",
        ),
        # README PTB table: RNN-orth N 1024, α 0.9, LR 1e-4 (its Cayley
        # init is not offered: the cell starts random orthogonal).
        "rnn_orth": dict(_PTB, **_HE, units=1024, lr=1e-4, rho=0.9),
        # README PTB table: RNN N 1024, α 0.9, LR 1e-5, Glorot normal
        # recurrent init (the cell's default).
        "rnn": dict(_PTB, **_HE, units=1024, lr=1e-5, rho=0.9),
    },
    "adding": {
        # No table in the papers: adding_problem.py's defaults (T 20,
        # batch 1, 20000 updates) with the copy task's nnRNN / expRNN
        # rates and scoRNN's adding settings (n 170, ρ 85, anchors.md).
        "nnrnn": dict(
            _ADDING,
            **_GLOROT,
            units=128,
            lr=2e-4,
            lr_orth=2e-5,
            rho=0.99,
            delta=1e-4,
            t_decay=1e-5,
            skew_init="cayley",
        ),
        "exprnn": dict(
            _ADDING,
            **_GLOROT,
            units=128,
            lr=2e-4,
            lr_orth=2e-5,
            rho=0.99,
            skew_init="cayley",
        ),
        "scornn": dict(
            _ADDING,
            units=170,
            num_negative_ones=85,
            lr=1e-3,
            lr_orth=1e-4,
            kernel_init=None,
        ),
    },
}

# At TPTT 300 the README's nnRNN row differs in these two settings.
PTB_300_NNRNN = dict(clip_norm=5.0, t_decay=1e-6)

# --- the published tables ------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PaperRun:
    """One published run: what to run and the number to compare with.

    Attributes:
        table: the table's key in `PAPER_TABLES`.
        task: the task.
        cell: the registered cell name.
        label: the paper's name of the model.
        settings: settings laid over `resolve(task, cell, preset="paper")`
            (e.g. `{"units": 176}` for a same-parameters row).
        metric: the result key compared (`test_loss`, `test_accuracy`,
            `test_bpc`).
        published: the published value (None: not a number, see `note`).
        curve: True when the value is read off a plot (approximate).
        other: further published values of the same run, by result key.
        note: what the number means where it is not plain.
        source: where the number and the settings come from.
    """

    table: str
    task: str
    cell: str
    label: str
    settings: dict
    metric: str
    published: float | None
    curve: bool = False
    other: dict = dataclasses.field(default_factory=dict)
    note: str = ""
    source: str = ""


_COPY_SRC = (
    "nnRNN paper, copy T=200 curves (README copytask_samehid/sameparams "
    "plots); settings: README copy table, anchors.md 'Copy task'"
)
_COPY_ZERO = "falls to ~0 (< 0.02) within 400-800 updates"


def _copy(table: str, sizes: dict) -> list[PaperRun]:
    published = {
        "nnrnn": (0.02, _COPY_ZERO),
        "exprnn": (0.02, _COPY_ZERO),
        "rnn_orth": (0.02, _COPY_ZERO),
        "lstm": (0.0945, "stays at the memoryless baseline 0.0945"),
        "rnn": (None, "unstable"),
    }
    labels = dict(nnrnn="nnRNN", exprnn="expRNN", lstm="LSTM")
    labels.update(rnn_orth="RNN-orth", rnn="RNN")
    runs = []
    for cell, extra in sizes.items():
        value, note = published[cell]
        runs.append(
            PaperRun(
                table, "copy", cell, labels[cell], extra, "test_loss",
                value, curve=True, note=note, source=_COPY_SRC,
            )
        )  # fmt: skip
    return runs


_MNIST_SRC = (
    "nnRNN paper, psMNIST final validation accuracy curves (README "
    "psMNIST_samehid/sameparams plots, anchors.md 'psMNIST'); settings: "
    "README sMNIST table and the paper's nnRNN row"
)
# anchors.md gives one value or range per model for the two plots.
_MNIST_VALUES = {
    "exprnn": (0.96, "≈ 0.96"),
    "nnrnn": (0.95, "≈ 0.95"),
    "rnn_orth": (0.945, "≈ 0.945"),
    "lstm": (0.90, "0.89-0.91"),
    "rnn": (0.76, "0.70-0.82"),
}


def _psmnist(table: str, sizes: dict) -> list[PaperRun]:
    labels = dict(nnrnn="nnRNN", exprnn="expRNN", lstm="LSTM")
    labels.update(rnn_orth="RNN-orth", rnn="RNN")
    return [
        PaperRun(
            table, "psmnist", cell, labels[cell], extra, "test_accuracy",
            _MNIST_VALUES[cell][0], curve=True, note=_MNIST_VALUES[cell][1],
            source=_MNIST_SRC,
        )
        for cell, extra in sizes.items()
    ]  # fmt: skip


# README "Test Bit per Character (BPC)" and "Accuracy" tables (mean of the
# ± given there), per (cell, size): {bptt: (bpc, accuracy)}.
_PTB_SRC = (
    "KyleGoyette/nnRNN README, PTB 'Test Bit per Character' and 'Accuracy' "
    "tables; settings: README PTB hyperparameters"
)


def _ptb(table: str, bptt: int, rows: dict) -> list[PaperRun]:
    labels = dict(nnrnn="nnRNN", exprnn="expRNN", rnn_orth="RNN-orth")
    labels["rnn"] = "RNN"
    runs = []
    for cell, (extra, bpc, accuracy) in rows.items():
        runs.append(
            PaperRun(
                table, "ptb", cell, labels[cell], {"bptt": bptt, **extra},
                "test_bpc", bpc,
                other={"test_accuracy": accuracy}, source=_PTB_SRC,
            )
        )  # fmt: skip
    return runs


#: The published tables: name → runs. EURNN rows are left out (no such
#: cell here); the copy and psMNIST values are read off the README's plots.
PAPER_TABLES: dict[str, list[PaperRun]] = {
    "copy_same_hidden": _copy(
        "copy_same_hidden",
        {c: {} for c in ("nnrnn", "exprnn", "lstm", "rnn_orth", "rnn")},
    ),
    # ~18.9K parameters: nnRNN N 128 (18,953), expRNN N 176 (18,929),
    # LSTM N 63 with LR 1e-3 (anchors.md copy table).
    "copy_same_params": _copy(
        "copy_same_params",
        {
            "nnrnn": {},
            "exprnn": {"units": 176},
            "lstm": {"units": 63, "lr": 1e-3},
        },
    ),
    "psmnist_same_hidden": _psmnist(
        "psmnist_same_hidden",
        {c: {} for c in ("nnrnn", "exprnn", "lstm", "rnn_orth", "rnn")},
    ),
    # ~269K parameters: expRNN N 722, LSTM N 257 with α 0.9 (README).
    "psmnist_same_params": _psmnist(
        "psmnist_same_params",
        {
            "nnrnn": {},
            "exprnn": {"units": 722},
            "lstm": {"units": 257, "rho": 0.9},
        },
    ),
    # Fixed ~1.32M parameters: expRNN N 1386 (README: LR 8e-3, LR orth
    # 8e-4 at TPTT 150; LR 1e-3 at 300), the others N 1024.
    "ptb150_same_params": _ptb(
        "ptb150_same_params",
        150,
        {
            "rnn": ({}, 2.89, 0.4001),
            "rnn_orth": ({}, 1.62, 0.6629),
            "exprnn": (
                {"units": 1386, "lr": 8e-3, "lr_orth": 8e-4},
                1.43,
                0.6902,
            ),
            "nnrnn": ({}, 1.40, 0.6989),
        },
    ),  # fmt: skip
    "ptb300_same_params": _ptb(
        "ptb300_same_params",
        300,
        {
            "rnn": ({}, 2.90, 0.3997),
            "rnn_orth": ({}, 1.66, 0.6553),
            "exprnn": (
                {"units": 1386, "lr": 1e-3, "lr_orth": 1e-4},
                1.44,
                0.6898,
            ),
            "nnrnn": ({}, 1.42, 0.6954),
        },
    ),  # fmt: skip
    # Fixed N = 1024.
    "ptb150_same_hidden": _ptb(
        "ptb150_same_hidden",
        150,
        {
            "rnn": ({}, 2.89, 0.4001),
            "rnn_orth": ({}, 1.62, 0.6629),
            "exprnn": ({}, 1.45, 0.6869),
            "nnrnn": ({}, 1.40, 0.6989),
        },
    ),
    "ptb300_same_hidden": _ptb(
        "ptb300_same_hidden",
        300,
        {
            "rnn": ({}, 2.90, 0.3997),
            "rnn_orth": ({}, 1.66, 0.6553),
            "exprnn": ({}, 1.48, 0.6857),
            "nnrnn": ({}, 1.42, 0.6954),
        },
    ),
    # Other papers' own numbers for cells outside the nnRNN tables.
    "psmnist_other_papers": [
        PaperRun(
            "psmnist_other_papers",
            "psmnist",
            "scornn",
            "scoRNN",
            {},
            "test_accuracy",
            0.943,
            note="scoRNN paper pMNIST, n 170",
            source="scoRNN (ICML 2018), anchors.md 'psMNIST'",
        ),
        PaperRun(
            "psmnist_other_papers",
            "psmnist",
            "nru",
            "NRU",
            {},
            "test_accuracy",
            0.954,
            note="reported, unverified",
            source="NRU (AAAI 2019), anchors.md 'NRU'",
        ),
    ],  # fmt: skip
}


def paper_plan(table: str) -> list[PaperRun]:
    """The runs of one published table (`PAPER_TABLES[table]`).

    Args:
        table: a key of `PAPER_TABLES`, e.g. `"ptb150_same_params"`.

    Returns:
        A list of `PaperRun`; run each with
        `resolve(run.task, run.cell, run.settings, preset="paper")` and
        compare `result[run.metric]` with `run.published`.

    Example:
        >>> [(r.cell, r.published) for r in paper_plan("ptb300_same_hidden")]
        [('rnn', 2.9), ('rnn_orth', 1.66), ('exprnn', 1.48), ('nnrnn', 1.42)]
    """
    if table not in PAPER_TABLES:
        raise ValueError(
            "Received an invalid value for argument `table`, expected one "
            f"of {sorted(PAPER_TABLES)}, got {table!r}."
        )
    return list(PAPER_TABLES[table])
