"""CI's lean job: the core installed without extras runs the README quickstart.

Run with the interpreter of a virtual environment where only
`pip install .` (no extras) was done. Executes every Python block of the
README's "Quickstart" section (which trains a model) and checks that none
of the optional packages was imported or is even installed.
"""

import importlib.util
import os
import re
import sys

OPTIONAL = ("keras_tuner", "sklearn", "matplotlib", "tensorflow_datasets")

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
blocks = re.findall(r"```python\n(.*?)```", section, re.S)
assert blocks, "no Python block in the README's Quickstart"
installed = [m for m in OPTIONAL if importlib.util.find_spec(m)]
assert not installed, f"extras installed in the lean venv: {installed}"
namespace: dict = {}
for block in blocks:
    exec(compile(block, "README.md:Quickstart", "exec"), namespace)
import tf_nnrnn  # noqa: E402

assert "site-packages" in tf_nnrnn.__file__, tf_nnrnn.__file__
loaded = [m for m in OPTIONAL if m in sys.modules]
assert not loaded, loaded
history = namespace.get("history")
assert history is not None, "the Quickstart should train (`history = ...`)"
last = {k: v[-1] for k, v in history.history.items()}
print("lean quickstart trained:", last)
