"""The machines lab refuses a host disk on which its kubelets would evict pods."""

from pathlib import Path
from types import SimpleNamespace

import pytest

from tools.lab import disk
from tools.lab.disk import GIB, require_room, shortfall

pytestmark = pytest.mark.unit


def test_a_disk_with_room_above_the_eviction_line_has_no_shortfall() -> None:
    assert shortfall(252 * GIB, 53 * GIB) == 0


def test_a_disk_near_the_kubelets_eviction_line_is_short_by_what_the_lab_writes() -> None:
    # 252 GiB at 15% is 37.8 GiB; the lab writes ~6 GiB on top.
    assert shortfall(252 * GIB, 27 * GIB) == pytest.approx(16.8 * GIB, rel=0.01)


def test_the_refusal_names_the_disk_the_threshold_and_what_to_free(monkeypatch: pytest.MonkeyPatch) -> None:
    usage = SimpleNamespace(total=252 * GIB, used=225 * GIB, free=27 * GIB)
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda _: usage)
    with pytest.raises(RuntimeError) as refused:
        require_room(Path("/srv/lab"))
    message = str(refused.value)
    assert "/srv/lab has 27.0 GiB free of 252 GiB" in message
    assert "below 15% free" in message and "free at least 16.8 GiB more" in message
