"""The lab tier's shared fixture: a directory for a lab and a backend of its
own; the lab is destroyed and stopped afterwards whatever happened."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.lab.__main__ import down


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'backend'}")
    (tmp_path / "backend").mkdir()
    directory = tmp_path / "lab"
    yield directory
    down(directory)
