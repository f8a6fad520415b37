"""The supported-versions matrix in docs/runai.md is the compatibility table's."""

from __future__ import annotations

from pathlib import Path

from stacks.compat import matrix_markdown

PAGE = Path(__file__).resolve().parents[2] / "docs" / "runai.md"
START, END = "<!-- matrix:start -->\n", "<!-- matrix:end -->"


def test_the_documented_matrix_is_the_table() -> None:
    text = PAGE.read_text()
    shown = text[text.index(START) + len(START) : text.index(END)]
    assert shown == matrix_markdown(), "regenerate it: python -m stacks.compat"
