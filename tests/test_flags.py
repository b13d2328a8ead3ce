"""The example scripts' flags: answered before TensorFlow loads, with the
defaults and choices of the presets and the registry
(tf_nnrnn.experiments.flags, examples/_start.py)."""

import os
import subprocess
import sys
import time

import pytest

from tf_nnrnn.cells.registry import cell_names
from tf_nnrnn.experiments import flags, presets
from tf_nnrnn.experiments.presets import resolve
from tf_nnrnn.experiments.tasks import TASK_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
SCRIPTS = ["copy_task.py", "adding.py", "psmnist.py", "ptb.py"]
SCRIPTS += ["compare.py", "ablate_copy.py", "tune.py", "analysis.py"]
SCRIPTS += ["reproduce.py"]

# Runs a script's `__main__` with `argv`, then says whether TensorFlow
# (or the package, which imports it) was imported.
PROBE = """
import runpy, sys
sys.argv = [sys.argv[1]] + sys.argv[2:]
sys.path.insert(0, {examples!r})
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as exit:
    code = exit.code
print("EXIT", code, "TF", "tensorflow" in sys.modules,
      "PKG", "tf_nnrnn" in sys.modules)
"""


def probe(script, *argv):
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE.format(examples=EXAMPLES),
            os.path.join(EXAMPLES, script),
            *argv,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    return done, time.perf_counter() - start


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_answers_without_tensorflow(script):
    done, seconds = probe(script, "--help")
    assert "EXIT 0 TF False PKG False" in done.stdout, done.stdout[-500:]
    assert "(default:" in done.stdout
    assert done.stderr == ""
    assert seconds < 3, seconds


@pytest.mark.parametrize(
    "script, argv, flag",
    [
        ("copy_task.py", ["--units", "x"], "--units"),
        ("copy_task.py", ["--cell", "gru9"], "--cell"),
        ("compare.py", ["--cells", "foo"], "--cells"),
        ("compare.py", ["--seeds", "-1"], "--seeds"),
        ("ablate_copy.py", ["--last", "0"], "--last"),
        ("ablate_copy.py", ["--variants", "x"], "--variants"),
        ("psmnist.py", ["--mnist-split", "x"], "--mnist-split"),
        ("tune.py", ["--max-trials", "0"], "--max-trials"),
        ("analysis.py", ["--test-size", "0"], "--test-size"),
    ],
)
def test_a_bad_flag_is_one_line_before_tensorflow(script, argv, flag):
    done, _ = probe(script, *argv)
    assert "EXIT 2 TF False" in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"argument {flag}" in lines[0], lines


def run_in_process(script, argv, cwd, monkeypatch, capfd):
    """Run `script`'s `__main__` in this process (TensorFlow is loaded
    already: a fraction of a second instead of a fresh interpreter's ~5 s)
    with the working directory `cwd`. Returns (exit code, stderr)."""
    import runpy

    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", [os.path.join(EXAMPLES, script), *argv])
    monkeypatch.syspath_prepend(EXAMPLES)
    capfd.readouterr()
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
        code = 0
    except SystemExit as exit:
        code = exit.code
    return code, capfd.readouterr().err


BAD_VALUES = [
    ("tune.py", ["--directory", "/dev/null"], "--directory"),
    ("analysis.py", ["--out", "/dev/null"], "--out"),
    ("analysis.py", ["--units", "7"], "--units"),
    ("copy_task.py", ["--out", "/dev/null"], "--out"),
    ("copy_task.py", ["--kernel-init", "foo"], "--kernel-init"),
    ("copy_task.py", ["--seed", str(2**32)], "--seed"),
]


def test_a_bad_value_is_one_line_and_exit_2_in_a_fresh_process(tmp_path):
    """A value checked once the package is loaded: one line on stderr (no
    TensorFlow start-up lines either), exit 2, nothing written."""
    done = _script(tmp_path, "copy_task.py", "--kernel-init", "foo",
                   "--steps", "2")
    assert done.returncode == 2, done.stderr[-800:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "argument --kernel-init" in lines[0], lines
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("script, argv, flag", BAD_VALUES)
def test_a_bad_value_is_one_line_and_exit_2(
    script, argv, flag, tmp_path, monkeypatch, capfd
):
    """Values checked once the package is loaded: still one line, exit 2,
    nothing written (the working directory is empty afterwards)."""
    code, err = run_in_process(
        script, [*argv, "--steps", "2"], tmp_path, monkeypatch, capfd
    )
    assert code == 2, err[-800:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"argument {flag}" in lines[0], lines
    assert os.listdir(tmp_path) == []


def test_builtin_copies_equal_their_sources():
    import importlib.util

    from tf_nnrnn.experiments.tuning import TUNERS

    spec = importlib.util.spec_from_file_location(
        "tune_example", os.path.join(EXAMPLES, "tune.py")
    )
    tune = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tune)
    assert tune.TUNERS == tuple(TUNERS)
    from tf_nnrnn.experiments.reproduce import TABLES

    spec = importlib.util.spec_from_file_location(
        "reproduce_example", os.path.join(EXAMPLES, "reproduce.py")
    )
    reproduce = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reproduce)
    assert reproduce.TABLES == tuple(TABLES)
    assert flags.BUILTIN_CELLS == tuple(cell_names())
    assert flags.TASK_NAMES == tuple(TASK_NAMES)
    for name in ("OPTIMIZERS", "GAMMA_PENALTIES", "DISTRIBUTE", "MASKS"):
        assert getattr(flags, name) == getattr(presets, name), name
    assert flags.MNIST_SPLITS == presets.MNIST_SPLITS


@pytest.mark.parametrize("task", TASK_NAMES)
def test_help_defaults_are_the_quick_defaults(task):
    """Regenerate with `python -m tf_nnrnn.experiments.flags`."""
    resolved = resolve(task, "nnrnn", {}).to_dict()
    shown = {**flags._COMMON_DEFAULTS, **flags.HELP_DEFAULTS[task]}
    wrong = {k: (v, resolved[k]) for k, v in shown.items() if resolved[k] != v}
    assert not wrong, wrong
    parser = flags.build_parser(task)
    help_text = parser.format_help()
    for name, value in flags.HELP_DEFAULTS[task].items():
        assert f"(default: {value})" in " ".join(help_text.split()), name


def test_parser_takes_registered_cells_once_the_package_is_loaded():
    assert flags.cell_choices() == tuple(cell_names())


# -- the README's flag lists are the parsers' ---------------------------
def _readme_block(name):
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    start = text.index(f"<!-- flags:{name} -->")
    return text[start : text.index(f"<!-- /flags:{name} -->")]


def _flags_in(text):
    import re

    found = set()
    for item in re.findall(r"`(--[a-z0-9-]+(?:/--[a-z0-9-]+)?)`", text):
        found.update(item.split("/"))
    return found


def _parser_flags(parser):
    return {
        o
        for a in parser._actions
        for o in a.option_strings
        if o.startswith("--") and o != "--help"
    }


def _example(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"readme_{name}", os.path.join(EXAMPLES, name)
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _per_script(text, scripts):
    """{script: flags named after it in `text`, up to the next script}."""
    import re

    marks = sorted(
        (m.start(), name)
        for name in scripts
        for m in re.finditer(re.escape(f"`{name}`"), text)
    )
    found = {}
    for (start, name), (end, _) in zip(marks, marks[1:] + [(len(text), "")]):
        found.setdefault(name, set()).update(_flags_in(text[start:end]))
    return found


def test_readme_lists_every_flag_of_every_script():
    common = _flags_in(_readme_block("common"))
    tasks = _per_script(
        _readme_block("task"),
        ["copy_task.py", "adding.py", "psmnist.py", "ptb.py"],
    )
    for task, script in flags.SCRIPTS.items():
        assert _parser_flags(flags.build_parser(task)) == common | tasks[script]
    grids = _per_script(
        _readme_block("grids"), ["compare.py", "ablate_copy.py", "tune.py"]
    )
    task_flags = _parser_flags(flags.build_parser("copy"))
    for script in ("compare.py", "ablate_copy.py", "tune.py"):
        build = _example(script).build_parser
        ablate = script == "ablate_copy.py"
        parser = build(flags) if ablate else build(flags, [])
        extra = _parser_flags(parser) - task_flags
        assert extra == grids[script] - {"--cell"}, script
        if script != "tune.py":  # the grids choose cells with --cells
            assert "--cell" not in _parser_flags(parser)
    analysis = _flags_in(
        open(os.path.join(ROOT, "README.md"))
        .read()
        .split("**`analysis.py`**")[1]
        .split("**`reproduce.py`**")[0]
    )
    assert (
        _parser_flags(_example("analysis.py").build_parser(flags)) == analysis
    )


def _script(tmp_path, script, *argv):
    return subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, script), *argv],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )


TINY_COPY = ["--time-lag", "3", "--units", "4", "--steps", "4",
             "--log-every", "2", "--test-size", "4"]


def test_a_redirected_run_prints_plain_lines_and_no_tf_noise(tmp_path):
    done = _script(tmp_path, "copy_task.py", *TINY_COPY, "--cell", "lstm")
    assert done.returncode == 0, done.stderr[-800:]
    assert "\x1b" not in done.stdout and "\r" not in done.stdout
    assert "epoch 1/2 - 2 updates - " in done.stdout
    assert "epoch 2/2 - 4 updates - " in done.stdout
    assert done.stderr == ""  # no absl/CUDA start-up lines


def test_divergence_is_one_line_and_exit_1(tmp_path):
    done = _script(
        tmp_path, "copy_task.py", *TINY_COPY, "--cell", "exprnn",
        "--lr", "1e9", "--lr-orth", "1e9", "--verbose", "0",
    )
    assert done.returncode == 1, done.stderr[-800:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "training stopped" in lines[0], lines
    assert not os.path.exists(tmp_path / "runs" / "copy_exprnn" / "result.json")


@pytest.mark.parametrize("damaged", ["oracle.json", "trial_0/trial.json"])
def test_a_damaged_search_names_the_directory(
    tmp_path, damaged, monkeypatch, capfd
):
    project = tmp_path / "d" / "copy_nnrnn"
    (project / damaged).parent.mkdir(parents=True, exist_ok=True)
    (project / damaged).write_text('{"trials": [')
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    code, err = run_in_process(
        "tune.py", ["--directory", "d", "--steps", "2"], tmp_path,
        monkeypatch, capfd,
    )
    assert code == 2, err[-800:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "argument --directory" in lines[0], lines
    assert damaged.split("/")[-1] in lines[0] and "--overwrite" in lines[0]
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
