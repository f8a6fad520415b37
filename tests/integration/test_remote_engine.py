"""RemoteScript through the real engine (language host, dynamic provider
plugin) against a real sshd on 127.0.0.1."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.lab.sshd import SshServer, keygen, start_sshd
from tools.stackrun import ROOT, STATE, checked, engine_env, init_stack, run


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[SshServer, str]]:
    private, public = keygen(tmp_path / "id_ed25519")
    server = start_sshd(tmp_path / "sshd", public)
    yield server, private
    server.stop()


def test_up_noop_rerun_version_guard_and_destroy(sshd: tuple[SshServer, str], tmp_path: Path) -> None:
    server, private_key = sshd
    env = engine_env(backend=f"file://{tmp_path / 'backend'}")
    work = STATE / "work" / "it-remote"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(Path(__file__).parent / "remote_project", work)
    shutil.copytree(ROOT / "components", work / "components")
    shutil.copytree(ROOT / "stacks", work / "stacks")
    (work / ".venv").symlink_to(ROOT / ".venv")
    marker = tmp_path / "marker"
    init_stack(work, "check", env, {"privateKey": private_key})
    settings = {
        "marker": str(marker),
        "port": str(server.port),
        "hostKey": server.host_key,
        "trigger": "one",
        "kubernetesVersion": "1.32.8",
    }
    for key, value in settings.items():
        checked(["config", "set", key, "--", value], work, env)

    logs = checked(["up", "--yes", "--skip-preview", "--stack", "check"], work, env)
    assert marker.read_text().splitlines() == ["created"]

    logs += checked(["preview", "--expect-no-changes", "--stack", "check"], work, env)

    checked(["config", "set", "trigger", "two"], work, env)
    logs += checked(["up", "--yes", "--skip-preview", "--stack", "check"], work, env)
    assert marker.read_text().splitlines() == ["created", "created"]  # re-run in place, no delete

    upgrades = Path(f"{marker}.upgrades")
    assert not upgrades.exists()  # the upgrade ran nothing when created

    # A version bump: the preview shows the upgrade and nothing else; the
    # prepared script keeps its state (its env alone re-runs nothing).
    checked(["config", "set", "kubernetesVersion", "1.33.1"], work, env)
    preview = checked(["preview", "--diff", "--stack", "check"], work, env)
    assert "1 to update" in preview and "2 unchanged" in preview, preview
    logs += preview
    logs += checked(["up", "--yes", "--skip-preview", "--stack", "check"], work, env)
    assert upgrades.read_text().splitlines() == ["upgraded to 1.33.1 from 1.33.1"]
    assert marker.read_text().splitlines() == ["created", "created"]
    logs += checked(["preview", "--expect-no-changes", "--stack", "check"], work, env)

    checked(["config", "set", "kubernetesVersion", "1.35.0"], work, env)
    refused = run(["preview", "--stack", "check"], work, env)
    assert refused.returncode != 0
    assert "1.33.1 to 1.35.0 skips a minor version" in refused.stdout + refused.stderr
    checked(["config", "set", "kubernetesVersion", "1.33.1"], work, env)

    logs += checked(["destroy", "--yes", "--skip-preview", "--stack", "check"], work, env)
    assert marker.read_text().splitlines() == ["created", "created", "deleted"]

    state = "".join(p.read_text(errors="replace") for p in (tmp_path / "backend").rglob("*") if p.is_file())
    for line in private_key.splitlines()[1:-1]:
        assert line not in state
        assert line not in logs
