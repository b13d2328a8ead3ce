"""The README's Python code runs as written.

Every ```python block of README.md is executed, in order, in one
namespace (the README reads top to bottom: a later block may use what an
earlier one defined), compiled under the file name `README.md` with the
README's own line numbers, so a traceback points at the README line that
failed. Shell blocks (```bash) are not run here; `.ci/run` runs the
install and test commands and `.ci/lean_quickstart.py` runs the Quickstart
without the extras.
"""

import math
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """`(first line number, source)` of every ```python block."""
    return [
        (text.count("\n", 0, m.start(1)) + 1, m.group(1))
        for m in FENCE.finditer(text)
    ]


def run_blocks(text: str) -> dict:
    namespace = {"__name__": "__readme__"}
    for line, source in python_blocks(text):
        # Pad with newlines so that tracebacks carry README line numbers.
        code = compile("\n" * (line - 1) + source, str(README), "exec")
        exec(code, namespace)
    return namespace


def test_python_blocks_are_found():
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "no ```python block in README.md"
    assert any("history = model.fit" in source for _, source in blocks)


def test_python_blocks_run():
    namespace = run_blocks(README.read_text(encoding="utf-8"))
    # The Quickstart trains: a finite loss for each of its epochs.
    losses = namespace["history"].history["loss"]
    assert len(losses) == namespace["history"].params["epochs"]
    assert all(math.isfinite(v) for v in losses)


def test_a_failing_block_fails_with_its_readme_line():
    text = "intro\n\n```python\nx = 1\n```\n\n```python\nx / 0\n```\n"
    with pytest.raises(ZeroDivisionError) as error:
        run_blocks(text)
    assert error.traceback[-1].lineno + 1 == 8  # 0-based in pytest
