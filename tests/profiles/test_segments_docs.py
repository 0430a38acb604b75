"""Every Python example of ``docs/segments.md`` runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "segments.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_page_has_examples() -> None:
    """The page shows event-driven segments, the time-operator error and a sweep."""
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_example_runs(code: str) -> None:
    """The example runs without error (its asserts hold)."""
    exec(compile(code, str(DOC), "exec"), {"__name__": "docs_example"})
