"""The Python examples of the documentation's guides run as written.

Each ```python block of a page runs in order, in one namespace per page (a
later block may use an earlier one's names), so that a renamed argument or a
changed result breaks the test rather than a reader's first try.  The
reference pages' examples are the docstrings', which the doctests run; the
notebooks run in the docs build (scripts/docs.sh).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = ["getting-started.md", "howto-training.md", "howto-numerical-analysis.md",
         "howto-hardware.md", "pqt.md"]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> list[str]:
    """The bodies of the page's ```python fences, in order."""
    return _BLOCK.findall(text)


def test_python_blocks_are_found() -> None:
    text = "intro\n```python\nx = 1\n```\n```console\n$ ls\n```\n```python\ny = x\n```\n"
    assert python_blocks(text) == ["x = 1\n", "y = x\n"]


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (DOCS / page).read_text()
    blocks = python_blocks(text)
    assert blocks, f"{page} has no ```python example"
    if any(re.search(r"^import torch|^import floatsim_torch", b, re.MULTILINE) for b in blocks):
        pytest.importorskip("torch")
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace: dict[str, object] = {"__name__": f"docs_{page}"}
    for i, block in enumerate(blocks):
        code = compile(block, f"{page} [python block {i + 1}]", "exec")
        exec(code, namespace)  # the page's own example
