"""The README's supported-versions matrix is the compatibility table's."""

from __future__ import annotations

from pathlib import Path

from stacks.compat import matrix_markdown

README = Path(__file__).resolve().parents[2] / "README.md"
START, END = "<!-- matrix:start -->\n", "<!-- matrix:end -->"


def test_the_readme_matrix_is_the_table() -> None:
    text = README.read_text()
    shown = text[text.index(START) + len(START) : text.index(END)]
    assert shown == matrix_markdown(), "regenerate it: python -m stacks.compat"
