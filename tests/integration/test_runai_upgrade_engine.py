"""Run:ai upgrades through the real engine: a registration made at 2.20 (on
the fake control plane) moves to the default 2.24 in one step, and a change
that moves more than four minors is refused in preview with the path named."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.fake_runai import FakeRunai, connection_to, fake_runai
from tools.stackrun import ROOT, STATE, checked, engine_env, init_stack, run


def test_an_upgrade_of_more_than_four_minors_is_refused(tmp_path: Path) -> None:
    env = engine_env(backend=f"file://{tmp_path / 'backend'}")
    work = STATE / "work" / "it-runai-upgrade"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(Path(__file__).parent / "runai_upgrade_project", work)
    shutil.copytree(ROOT / "components", work / "components")
    shutil.copytree(ROOT / "stacks", work / "stacks")
    (work / ".venv").symlink_to(ROOT / ".venv")
    with fake_runai(FakeRunai(version="2.20")) as (url, fake):
        init_stack(work, "check", env, {"connection": connection_to(url, fake)})
        checked(["config", "set", "version", "2.20"], work, env)
        checked(["up", "--yes", "--skip-preview", "--stack", "check"], work, env)
        [cluster] = [c for c in fake.store["clusters"].values() if c["name"] == "gpu-check"]
        assert cluster["version"] == "2.20"

        checked(["config", "set", "version", "2.25"], work, env)
        refused = run(["preview", "--stack", "check"], work, env)
        assert refused.returncode != 0
        assert (
            "runai.version: 2.20 to 2.25 moves 5 minors; Run:ai upgrades move at most 4 at a time: "
            "go 2.20 -> 2.24 -> 2.25" in refused.stdout + refused.stderr
        )

        # Four minors, the default: one step.
        checked(["config", "set", "version", "2.24"], work, env)
        preview = checked(["preview", "--diff", "--stack", "check"], work, env)
        assert "1 to update" in preview, preview
        checked(["destroy", "--yes", "--skip-preview", "--stack", "check"], work, env)
