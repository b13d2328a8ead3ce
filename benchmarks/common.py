"""Settings, models and measurements shared by `benchmarks/run.py`.

Every model is `Input -> recurrent layer -> Dense`, trained with
sparse categorical cross-entropy on fixed random data, so that only the
recurrent layer differs between rows. Keras' own layers get
`keras.optimizers.RMSprop`; ours get `tf_nnrnn.make_optimizer("rmsprop")`
(the two-learning-rate `MultiOptimizer` a user of our cells would use).
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import os
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tf_nnrnn  # noqa: E402
from tf_nnrnn.cells import registry  # noqa: E402
from tf_nnrnn.cells.base import RecurrentMatrixCell  # noqa: E402
from tf_nnrnn.cells.nru import NRUCell  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Setting:
    """One benchmark setting: sizes and the shape of the task."""

    name: str
    units: int
    steps: int
    batch: int
    features: int
    classes: int
    sequence_output: bool  # a loss on every step (copy, PTB) or the last
    nru_memory: int  # NRU memory size (num_heads = 4)
    repeats: int


SETTINGS = {
    # The quick mode: CI-sized, a few seconds per model.
    "quick": Setting("quick", 32, 40, 8, 10, 9, True, 16, 5),
    # Copy task (nnRNN paper): T = 200 + 20, one-hot 10 symbols, batch 10.
    "copy": Setting("copy", 128, 220, 10, 10, 9, True, 64, 30),
    # psMNIST: 784 pixels one at a time, batch 100, 10 classes at the end.
    "psmnist": Setting("psmnist", 512, 784, 100, 1, 10, False, 256, 5),
    # PTB characters: TPTT 150, batch 128, embedding 200 fed as inputs.
    "ptb": Setting("ptb", 1024, 150, 128, 200, 50, True, 256, 5),
    # Large n, short sequences (issue 16): copy-shaped, n = 512, T = 200,
    # batch 100.
    "n512": Setting("n512", 512, 200, 100, 10, 9, True, 256, 5),
}


def sweep_setting(units: int, steps: int, batch: int = 10) -> Setting:
    """A copy-shaped setting for the scaling sweep."""
    return Setting(
        f"n{units}_T{steps}", units, steps, batch, 10, 9, True, 64, 5
    )


def with_gradient(build, expm_gradient):
    """`build(**kwargs)` with the expm gradient `expm_gradient`, and a note.

    `build` returns a cell or a fused layer. Until the cells accept every
    value of `tf_nnrnn.parametrizations.EXPM_GRADIENTS`, a rejected value
    is set on the attribute the cell reads (benchmark only: such a cell
    would not round-trip its config), and the note says so.
    """
    if expm_gradient is None:
        return build(), ""
    try:
        return build(expm_gradient=expm_gradient), ""
    except ValueError:
        obj = build()
        cell = getattr(obj, "cell", obj)
        cell.expm_gradient = expm_gradient
        return obj, "expm_gradient set as attribute (cell rejects it)"


@dataclasses.dataclass
class Entry:
    """One row of the table: how to build the layer, what to compare to."""

    name: str
    make: object  # (setting) -> (layer, note)
    baseline: str  # the entry it is compared with
    ours: bool  # uses make_optimizer and has a parametrization
    cell_key: str | None = None  # parametrization row (cell, gradient)


def parametrized_cells() -> list:
    """Registry entries of the cells with a parametrized recurrent matrix
    (`RecurrentMatrixCell`: nnRNN, expRNN, scoRNN, and any registered
    later), benchmarked against SimpleRNN."""
    entries = [registry.get_cell(name) for name in registry.cell_names()]
    return [
        e
        for e in entries
        if isinstance(e.cell_class, type)
        and issubclass(e.cell_class, RecurrentMatrixCell)
    ]


def entries(expm_gradients=("taylor",)) -> list[Entry]:
    """Every row: Keras' layers, our cells under `RNN`, our fused layers."""

    def seq(s):
        return {"return_sequences": s.sequence_output}

    rows = [
        Entry(
            "SimpleRNN",
            lambda s: (keras.layers.SimpleRNN(s.units, **seq(s)), ""),
            "SimpleRNN",
            False,
        ),
        Entry(
            "LSTM",
            lambda s: (keras.layers.LSTM(s.units, **seq(s)), ""),
            "SimpleRNN",
            False,
        ),
    ]
    # NRU: its memory arguments are benchmark-specific.
    rows.append(
        Entry(
            "RNN(NRUCell)",
            lambda s: (
                keras.layers.RNN(
                    NRUCell(s.units, s.nru_memory, num_heads=4), **seq(s)
                ),
                "",
            ),
            "LSTM",
            False,
        )
    )
    for entry in parametrized_cells():
        cell_cls, fused_cls = entry.cell_class, entry.fused_layer
        label = cell_cls.__name__.removesuffix("Cell")
        parameters = inspect.signature(cell_cls).parameters
        takes_gradient = "expm_gradient" in parameters
        for grad in expm_gradients if takes_gradient else (None,):

            def make_cell(s, cell_cls=cell_cls, grad=grad):
                cell, note = with_gradient(
                    lambda **kw: cell_cls(s.units, **kw), grad
                )
                return keras.layers.RNN(cell, **seq(s)), note

            def make_fused(s, fused_cls=fused_cls, grad=grad):
                return with_gradient(
                    lambda **kw: fused_cls(s.units, **seq(s), **kw), grad
                )

            tag = f" [{grad}]" if grad else ""
            key = f"{label}Cell{tag}"
            rows.append(
                Entry(
                    f"RNN({label}Cell){tag}", make_cell, "SimpleRNN", True, key
                )
            )
            if fused_cls is not None:
                rows.append(
                    Entry(
                        f"layers.{label}{tag}",
                        make_fused,
                        "SimpleRNN",
                        True,
                        key,
                    )
                )
    return rows


def data(setting: Setting, seed: int = 0):
    """Fixed random inputs and integer targets of the setting's shape."""
    rng = np.random.default_rng(seed)
    s = setting
    if s.features == 10:  # one-hot symbols, as in the copy task
        x = np.eye(10, dtype="float32")[rng.integers(0, 10, (s.batch, s.steps))]
    else:
        x = rng.normal(size=(s.batch, s.steps, s.features)).astype("float32")
    shape = (s.batch, s.steps) if s.sequence_output else (s.batch,)
    y = rng.integers(0, s.classes, shape)
    return tf.constant(x), tf.constant(y)


def build_model(entry: Entry, setting: Setting, jit: bool):
    """The compiled model of `entry` at `setting`, and a note."""
    layer, note = entry.make(setting)
    s = setting
    model = keras.Sequential(
        [
            keras.Input((s.steps, s.features), batch_size=s.batch),
            layer,
            keras.layers.Dense(s.classes),
        ]
    )
    if entry.ours:
        optimizer = tf_nnrnn.make_optimizer("rmsprop", 1e-3, 1e-4)
    else:
        optimizer = keras.optimizers.RMSprop(1e-3)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    return model, note


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def time_models(models: dict, x, y, repeats: int, warmup: int, progress=None):
    """Median seconds per training and per inference step of each model.

    The models are interleaved within every round, so that the load of
    other processes on the machine falls on all of them alike. Training
    rounds come first, then inference rounds: inference is timed in its
    steady state, with the weights unchanged between calls, as in
    `predict` over many batches (our cells then reuse the cached `W`; the
    first call after a weight update also computes the parametrization's
    forward, timed separately by `parametrization_cost`).
    """
    for model in models.values():
        for _ in range(warmup):
            model.train_on_batch(x, y)
            model.predict_on_batch(x)
    train = {k: [] for k in models}
    infer = {k: [] for k in models}
    for _ in range(repeats):
        for key, model in models.items():
            train[key].append(_timed(lambda m=model: m.train_on_batch(x, y)))
        if progress is not None:
            progress.update(0.5)
    for _ in range(repeats):
        for key, model in models.items():
            infer[key].append(_timed(lambda m=model: m.predict_on_batch(x)))
        if progress is not None:
            progress.update(0.5)
    return (
        {k: float(np.median(v)) for k, v in train.items()},
        {k: float(np.median(v)) for k, v in infer.items()},
    )


def parametrization_cost(cell, jit: bool, repeats: int, warmup: int = 2):
    """Median seconds of `cell.recurrent_matrix()` and of it + its gradient.

    The gradient is taken of `sum(C ∘ W)` with a fixed random `C` with
    respect to every weight the matrix depends on.
    """
    n = cell.units
    weights = [
        w
        for w in cell.trainable_weights
        if w.name not in ("kernel", "bias", "modrelu_bias")
    ]
    upstream = tf.random.stateless_normal((n, n), (1, 2))

    def forward():
        return cell.recurrent_matrix()

    def forward_and_gradient():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(upstream * cell.recurrent_matrix())
        return tape.gradient(loss, weights)

    fns = {
        "forward": tf.function(forward, jit_compile=jit),
        "forward+gradient": tf.function(forward_and_gradient, jit_compile=jit),
    }
    times = {k: [] for k in fns}
    for _ in range(warmup):
        for fn in fns.values():
            tf.nest.map_structure(lambda t: t.numpy(), fn())
    for _ in range(repeats):
        for key, fn in fns.items():
            times[key].append(
                _timed(
                    lambda fn=fn: tf.nest.map_structure(
                        lambda t: t.numpy(), fn()
                    )
                )
            )
    return {k: float(np.median(v)) for k, v in times.items()}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PeakSampler(threading.Thread):
    """Samples the process RSS every `interval` seconds; keeps the peak."""

    def __init__(self, interval: float = 2e-4):
        super().__init__(daemon=True)
        self.interval = interval
        self.peak = _rss_bytes()
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            self.peak = max(self.peak, _rss_bytes())
            time.sleep(self.interval)

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        self.peak = max(self.peak, _rss_bytes())
        return self.peak


def gpu_available() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


#: Environment of the CPU memory probe: oneDNN's and glibc's caches off, so
#: that freed tensors leave the process and RSS follows the live memory.
#: (With the defaults a freed 160 MB tensor leaves RSS unchanged; TF's CPU
#: allocator statistics miss the while-loop gradient accumulators.) Every
#: block from 4 KiB up is its own mapping and the heap is trimmed on free:
#: with a 64 KiB threshold the per-step tensors of a loop (5 KiB at the
#: copy setting) came from a heap grown in the warm-up steps, and
#: SimpleRNN's copy step measured 2.2 MiB, the same as LSTM's; now 5.2 and
#: 14.6 MiB.
MEMORY_PROBE_ENV = {
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "MALLOC_MMAP_THRESHOLD_": "4096",
    "MALLOC_TRIM_THRESHOLD_": "0",
}


def training_step_memory(model, x, y, steps: int = 3) -> dict:
    """Peak memory of a training step above the memory before it.

    On a GPU: TensorFlow's allocator peak (`tf.config.experimental.
    get_memory_info("GPU:0")`) minus the bytes allocated before the step.
    On CPU: the process RSS, sampled every 0.2 ms during the step, minus
    the RSS before it; meaningful in a process started with
    `MEMORY_PROBE_ENV` (see `benchmarks/run.py`, which does so). The
    median over `steps` steps, after two warm-up steps.
    """
    model.train_on_batch(x, y)  # traced and warm
    model.train_on_batch(x, y)
    growth = []
    for _ in range(steps):
        gc.collect()
        if gpu_available():
            kind = "GPU allocator peak"
            tf.config.experimental.reset_memory_stats("GPU:0")
            info = tf.config.experimental.get_memory_info
            before = info("GPU:0")["current"]
            model.train_on_batch(x, y)
            growth.append(info("GPU:0")["peak"] - before)
        else:
            kind = "CPU RSS growth"
            before = _rss_bytes()
            sampler = _PeakSampler()
            sampler.start()
            model.train_on_batch(x, y)
            growth.append(sampler.stop() - before)
    return {"kind": kind, "bytes": int(np.median(growth))}


def machine_info() -> dict:
    """What the numbers were measured on."""
    import platform

    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpus = tf.config.list_physical_devices("GPU")
    gpu_names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        gpu_names.append(details.get("device_name", gpu.name))
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "gpu": ", ".join(gpu_names) or None,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "load_average": list(os.getloadavg()),
    }
