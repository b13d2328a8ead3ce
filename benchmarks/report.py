"""Tables (Markdown) and the sweep plot of `benchmarks/run.py` results."""

from __future__ import annotations

import os

# Targets: ratio to the baseline (SimpleRNN; LSTM for NRU), graph mode.
# Issue 7: fused copy ≤ 0.8, NRU ≤ 1.5; issue 16: every fused row ≤ 1.10
# at every paper setting and at n512, `RNN(cell)` ≤ 1.10 at copy/psMNIST.
TRAIN_TARGETS = {
    "cell": {"copy": 1.10, "psmnist": 1.10},
    "fused": {"copy": 0.80, "psmnist": 1.10, "ptb": 1.10, "n512": 1.10},
    "nru": {"copy": 1.5, "psmnist": 1.5, "ptb": 1.5, "quick": 1.5},
}
INFER_TARGET = 1.10
MEMORY_TARGET = 1.2


def kind(layer: str) -> str | None:
    if layer.startswith("RNN(NRU"):
        return "nru"
    if layer.startswith("layers."):
        return "fused"
    if layer.startswith("RNN("):
        return "cell"
    return None


def _mark(value, target):
    if value is None or target is None:
        return ""
    return " ✓" if value <= target else " ✗"


def _fmt_ratio(value, target=None):
    if value is None:
        return "–"
    limit = f" (≤{target:g})" if target is not None else ""
    return f"{value:.2f}×{_mark(value, target)}{limit}"


def _ms(seconds):
    return "–" if seconds is None else f"{seconds * 1e3:.1f}"


def _rate(r):
    """`GFLOP (GFLOP/s, % of peak)` of a training step, or `–`."""
    count, peak = r.get("flops"), r.get("peak_flops")
    if not count or not r.get("train_s"):
        return "–"
    rate = count["train"] / r["train_s"]
    return (
        f"{count['train'] / 1e9:.1f} ({rate / 1e9:.0f}, "
        f"{100 * rate / peak:.0f}%)"
    )


def _fused_vs_cell(rows, r):
    """` ✓`/` ✗`: a fused row no slower than its `RNN(cell)` row."""
    if kind(r["layer"]) != "fused" or r.get("train_s") is None:
        return ""
    cells = [
        c
        for c in rows
        if c["setting"] == r["setting"]
        and c["jit"] == r["jit"]
        and c.get("cell_key") == r.get("cell_key")
        and kind(c["layer"]) == "cell"
        and c.get("train_s")
    ]
    if not cells:
        return ""
    return " ✓" if r["train_s"] <= cells[0]["train_s"] else " ✗"


def speed_table(rows, setting: str, jit: bool) -> str:
    peaks = [
        (r["peak_flops"], r.get("peak_n", 4096))
        for r in rows
        if r["setting"] == setting and r["jit"] == jit and "peak_flops" in r
    ]
    lines = [f"#### {setting}, jit_compile={jit}", ""]
    if peaks:
        lines += [
            f"Matmul peak in this run ({peaks[0][1]}² float32): "
            f"{peaks[0][0] / 1e9:.0f} GFLOP/s. Train GFLOP: products of one "
            "training step (loop, head and parametrization; "
            "`benchmarks/flops.py`), achieved rate and its share of the "
            "peak. ≤cell: the fused row's step no slower than `RNN(cell)`'s.",
            "",
        ]
    lines += [
        "| layer | train ms | train ratio | ≤cell | train GFLOP (GFLOP/s, "
        "% peak) | infer ms | infer ratio | vs |",
        "| --- | ---: | --- | --- | --- | ---: | --- | --- |",
    ]
    for r in rows:
        if r["setting"] != setting or r["jit"] != jit:
            continue
        if "error" in r:
            lines.append(
                f"| {r['layer']} | error: {r['error']} | | | | | | |"
            )
            continue
        if "train_s" not in r:
            continue
        k = kind(r["layer"])
        train_target = TRAIN_TARGETS.get(k, {}).get(setting) if k else None
        infer_target = INFER_TARGET if k in ("cell", "fused") else None
        is_base = r["layer"] == r["baseline"]
        note = f" ({r['note']})" if r.get("note") else ""
        lines.append(
            f"| {r['layer']}{note} | {_ms(r['train_s'])} | "
            + (
                "1"
                if is_base
                else _fmt_ratio(r.get("train_ratio"), train_target)
            )
            + f" | {_fused_vs_cell(rows, r).strip()} | {_rate(r)}"
            + f" | {_ms(r['infer_s'])} | "
            + (
                "1"
                if is_base
                else _fmt_ratio(r.get("infer_ratio"), infer_target)
            )
            + f" | {r['baseline']} |"
        )
    return "\n".join(lines)


def parametrization_table(rows, setting: str, jit: bool) -> str:
    steps = {
        (r["cell_key"], kind(r["layer"])): r.get("train_s")
        for r in rows
        if r["setting"] == setting and r["jit"] == jit and r.get("cell_key")
    }
    seen, lines = set(), []
    for r in rows:
        key = r.get("cell_key")
        if (
            r["setting"] != setting
            or r["jit"] != jit
            or "parametrization" not in r
            or key in seen
        ):
            continue
        seen.add(key)
        p = r["parametrization"]
        fwd, both = p["forward"], p["forward+gradient"]
        shares = []
        for k in ("cell", "fused"):
            step = steps.get((key, k))
            shares.append("–" if not step else f"{100 * both / step:.0f}%")
        count = p.get("flops")
        rate = "–"
        if count:
            rate = f"{count[1] / 1e9:.1f} ({count[1] / both / 1e9:.0f})"
        lines.append(
            f"| {key} | {fwd * 1e3:.2f} | {both * 1e3:.2f} | "
            f"{(both - fwd) / fwd:.2f}× | {rate} | {shares[0]} | "
            f"{shares[1]} |"
        )
    if not lines:
        return ""
    head = [
        f"#### Parametrization, {setting}, jit_compile={jit}",
        "",
        "| cell | forward ms | forward+gradient ms | gradient/forward | "
        "forward+gradient GFLOP (GFLOP/s) | share of RNN(cell) step | "
        "share of fused step |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    return "\n".join(head + lines)


def memory_table(rows, setting: str, jit: bool) -> str:
    mem = {}
    for r in rows:
        if r["setting"] == setting and r["jit"] == jit and "memory" in r:
            mem[r["layer"]] = r["memory"]
    if not mem:
        return ""
    kind_label = next(iter(mem.values()))["kind"]
    lines = [
        f"#### Training-step memory, {setting}, jit_compile={jit} "
        f"({kind_label})",
        "",
        "| layer | MiB | ratio | vs |",
        "| --- | ---: | --- | --- |",
    ]
    baselines = {r["layer"]: r["baseline"] for r in rows}
    for layer, m in mem.items():
        base = baselines.get(layer, "SimpleRNN")
        ratio = None
        if base in mem and mem[base]["bytes"] > 0:
            ratio = m["bytes"] / mem[base]["bytes"]
        target = MEMORY_TARGET if kind(layer) in ("cell", "fused") else None
        lines.append(
            f"| {layer} | {m['bytes'] / 2**20:.1f} | "
            + ("1" if layer == base else _fmt_ratio(ratio, target))
            + f" | {base} |"
        )
    return "\n".join(lines)


def sweep_table(sweep) -> str:
    layers = list(dict.fromkeys(r["layer"] for r in sweep))
    points = list(
        dict.fromkeys((r["units"], r["steps"], r["jit"]) for r in sweep)
    )
    index = {(r["layer"], r["units"], r["steps"], r["jit"]): r for r in sweep}
    lines = [
        "#### Scaling sweep: training step ms (ratio to SimpleRNN), batch 10",
        "",
        "| n | T | jit | " + " | ".join(layers) + " |",
        "| ---: | ---: | --- |" + " ---: |" * len(layers),
    ]
    for n, t, jit in points:
        cells = []
        for layer in layers:
            r = index.get((layer, n, t, jit), {})
            if "train_s" not in r:
                cells.append("–")
                continue
            ratio = r.get("train_ratio")
            extra = f" ({ratio:.2f})" if ratio and layer != "SimpleRNN" else ""
            cells.append(f"{r['train_s'] * 1e3:.1f}{extra}")
        lines.append(f"| {n} | {t} | {jit} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def expm_sweep_table(records) -> str:
    lines = [
        "#### expm of a skew matrix by gradient method (graph mode): ms",
        "",
        "| n | method | forward | forward+gradient | gradient/forward |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for r in records:
        fwd, both = r["forward"], r["forward+gradient"]
        lines.append(
            f"| {r['units']} | {r['method']} | {fwd * 1e3:.2f} | "
            f"{both * 1e3:.2f} | {(both - fwd) / fwd:.2f}× |"
        )
    return "\n".join(lines)


def markdown(result) -> str:
    m = result["machine"]
    parts = [
        "### Benchmark results",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, GPU: {m['gpu'] or 'none'};"
        f" TensorFlow {m['tensorflow']}, Keras {m['keras']}, Python "
        f"{m['python']}; load average at start "
        + ", ".join(f"{v:.1f}" for v in m["load_average"])
        + ".",
        f"Command: `{result['command']}`",
        "",
        "Medians over interleaved steps after warm-up; ratios against the "
        "`vs` layer in the same run and jit setting; ✓/✗ against the "
        "targets of issues 7 and 16 (in parentheses).",
    ]
    rows = result["rows"]
    for setting in result["settings"]:
        jits = list(dict.fromkeys(r["jit"] for r in rows))
        for jit in jits:
            if any(
                "train_s" in r or "error" in r
                for r in rows
                if r["setting"] == setting and r["jit"] == jit
            ):
                parts += ["", speed_table(rows, setting, jit)]
        for jit in jits:
            table = parametrization_table(rows, setting, jit)
            if table:
                parts += ["", table]
        for jit in jits:
            table = memory_table(rows, setting, jit)
            if table:
                parts += ["", table]
    if result.get("sweep"):
        parts += ["", sweep_table(result["sweep"])]
    if result.get("expm_sweep"):
        parts += ["", expm_sweep_table(result["expm_sweep"])]
    return "\n".join(parts) + "\n"


def plot_sweep(sweep, path: str) -> None:
    """Step time against n (T = 200) and against T (n = 128), log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    layers = list(dict.fromkeys(r["layer"] for r in sweep))
    for ax, (axis, fixed, fixed_value) in zip(
        axes, (("units", "steps", 200), ("steps", "units", 128))
    ):
        for jit in sorted({r["jit"] for r in sweep}):
            for layer in layers:
                pts = sorted(
                    (r[axis], r["train_s"] * 1e3)
                    for r in sweep
                    if r["layer"] == layer
                    and r["jit"] == jit
                    and r[fixed] == fixed_value
                    and "train_s" in r
                )
                if pts:
                    xs, ys = zip(*pts)
                    style = "--" if jit else "-"
                    label = layer + (" (XLA)" if jit else "")
                    ax.plot(xs, ys, style, marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("units n" if axis == "units" else "sequence length T")
        ax.set_ylabel("training step, ms")
        name = "T" if fixed == "steps" else "n"
        ax.set_title(f"{name} = {fixed_value}, batch 10")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    tmp = os.path.join(os.path.dirname(path) or ".", ".tmp_sweep.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
