"""The README's self-contained Python examples (those that start with `import torch`) run as
written. The others are fragments of a larger program or need a dataset folder and minutes of
training; the CLI and model tests cover what they show."""
import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
BLOCKS = [b for b in re.findall(r"```python\n(.*?)```", README, flags=re.S) if b.startswith("import torch\n")]


def test_the_readme_has_runnable_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(block):
    exec(compile(block, "README.md", "exec"), {})
