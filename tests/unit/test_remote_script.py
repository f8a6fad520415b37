"""RemoteScript's provider against real OpenSSH servers on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.remote.command import RemoteScriptProvider, run_steps, step
from components.remote.ssh import RemoteError
from tools.lab.sshd import SshServer, free_port, keygen, start_sshd
from tools.mocked_program import Recorded


@pytest.fixture(scope="module")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return keygen(tmp_path_factory.mktemp("client") / "id_ed25519")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, client_key: tuple[str, str]) -> Iterator[SshServer]:
    sshd = start_sshd(tmp_path_factory.mktemp("sshd"), client_key[1])
    yield sshd
    sshd.stop()


@pytest.fixture(scope="module")
def bastion(tmp_path_factory: pytest.TempPathFactory, client_key: tuple[str, str]) -> Iterator[SshServer]:
    sshd = start_sshd(tmp_path_factory.mktemp("bastion"), client_key[1])
    yield sshd
    sshd.stop()


def connection(server: SshServer, key: str, **overrides: Any) -> dict[str, Any]:
    target = {"host": "127.0.0.1", "port": server.port, "user": "root", "host_key": server.host_key}
    target.update(overrides.pop("target", {}))
    return {
        "target": target,
        "private_key": key,
        "bastion": None,
        "connect_timeout": 5,
        "dial_attempts": 2,
        "dial_retry_delay": 0.1,
        **overrides,
    }


@pytest.mark.ssh
def test_steps_run_in_order_and_capture_flows_on(
    server: SshServer, client_key: tuple[str, str], tmp_path: Path
) -> None:
    conn = connection(server, client_key[0])
    marker = tmp_path / "ran"
    stdout = run_steps(
        [
            step("ask", "a", "#!/usr/bin/env bash\necho token-123\n", capture="TOKEN"),
            step("use", "b", f'#!/usr/bin/env bash\nset -euo pipefail\necho "$TOKEN" > {marker}\necho done\n'),
        ],
        json.dumps({"a": conn, "b": conn}),
    )
    assert stdout.strip() == "done"
    assert marker.read_text().strip() == "token-123"


@pytest.mark.ssh
def test_failure_shows_the_tail_with_secrets_scrubbed(server: SshServer, client_key: tuple[str, str]) -> None:
    conn = connection(server, client_key[0])
    with pytest.raises(RemoteError) as caught:
        run_steps(
            [
                step("ask", "n", "#!/usr/bin/env bash\necho s3cr3t-join-token\n", capture="TOKEN"),
                step("fail", "n", '#!/usr/bin/env bash\necho "leaking $TOKEN" >&2\nexit 7\n'),
            ],
            json.dumps({"n": conn}),
        )
    message = str(caught.value)
    assert "exit status 7" in message
    assert "leaking [secret]" in message
    assert "s3cr3t-join-token" not in message


@pytest.mark.ssh
def test_pinned_host_key_mismatch_is_refused(server: SshServer, client_key: tuple[str, str], tmp_path: Path) -> None:
    _, other_host_key = keygen(tmp_path / "other")
    conn = connection(server, client_key[0], target={"host_key": other_host_key})
    with pytest.raises(RemoteError, match="host key does not match the pinned hostKey"):
        run_steps([step("x", "n", "#!/usr/bin/env bash\ntrue\n")], json.dumps({"n": conn}))


@pytest.mark.ssh
def test_wrong_client_key_is_not_retried(server: SshServer, tmp_path: Path) -> None:
    stranger, _ = keygen(tmp_path / "stranger")
    conn = connection(server, stranger)
    with pytest.raises(RemoteError, match="authentication failed"):
        run_steps([step("x", "n", "#!/usr/bin/env bash\ntrue\n")], json.dumps({"n": conn}))


@pytest.mark.ssh
def test_unreachable_host_is_retried_then_reported(client_key: tuple[str, str], server: SshServer) -> None:
    conn = connection(server, client_key[0], target={"port": free_port()})
    with pytest.raises(RemoteError, match="unreachable after 2 attempts"):
        run_steps([step("x", "n", "#!/usr/bin/env bash\ntrue\n")], json.dumps({"n": conn}))


@pytest.mark.ssh
def test_through_a_bastion(server: SshServer, bastion: SshServer, client_key: tuple[str, str]) -> None:
    jump = {"host": "127.0.0.1", "port": bastion.port, "user": "root", "host_key": bastion.host_key}
    conn = connection(server, client_key[0], bastion=jump)
    assert (
        run_steps([step("x", "n", "#!/usr/bin/env bash\necho via-bastion\n")], json.dumps({"n": conn})).strip()
        == "via-bastion"
    )


def test_provider_refuses_a_skipped_minor_and_a_downgrade() -> None:
    provider = RemoteScriptProvider()

    def reasons(old: str, new: str) -> list[str]:
        return [f.reason for f in provider.check({"kubernetes_version": old}, {"kubernetes_version": new}).failures]

    assert reasons("1.30.4", "1.32.8") == [
        "cluster.kubernetesVersion: 1.30.4 to 1.32.8 skips a minor version; kubeadm upgrades one minor at a "
        "time: set 1.31.x, then 1.32.x (the newest patch of each), running `pulumi up` after each"
    ]
    assert "1.32.8 to 1.31.9 is a downgrade" in reasons("1.32.8", "1.31.9")[0]
    assert "1.32.8 to 1.32.2 is a downgrade" in reasons("1.32.8", "1.32.2")[0]
    for old, new in (("1.32.8", "1.32.8"), ("1.31.9", "1.32.8"), ("1.32.2", "1.32.8")):
        assert not reasons(old, new), (old, new)
    assert not provider.check({}, {"kubernetes_version": "1.33.1"}).failures


def test_env_alone_changes_nothing_and_steps_wait_for_an_update() -> None:
    provider = RemoteScriptProvider()
    olds = {
        "connections": "{}",
        "hosts": {"n": "u@h:22"},
        "create_steps": [step("a", "n", "#!/bin/sh\n")],
        "env": {"KUBERNETES_VERSION": "1.31.9"},
    }
    news = {**olds, "env": {"KUBERNETES_VERSION": "1.32.8"}}
    assert not provider.diff("x", olds, news).changes
    assert provider.diff("x", olds, {**news, "triggers": ["t"]}).changes
    # run_on_create=False: nothing runs (no connection is even looked at).
    created = provider.create({**olds, "connections": "", "run_on_create": False})
    assert created.outs["stdout"] == ""


def test_inputs_at_their_default_are_left_out_and_old_state_reads_the_same() -> None:
    provider = RemoteScriptProvider()
    sent = {"connections": "{}", "hosts": {"node": "u@h:22"}, "create_steps": [step("a", "node", "#!/bin/sh\n")]}
    # What a resource stored when every input was sent (its name was its ID).
    stored = {
        **sent,
        "name": "n",
        "delete_steps": [],
        "triggers": [],
        "keep_stdout": False,
        "env": {},
        "run_on_create": True,
        "kubernetes_version": None,
        "stdout": "",
    }
    assert not provider.diff("n", stored, sent).changes
    assert provider.diff("n", {**stored, "triggers": ["t"]}, sent).changes
    assert provider.diff("n", {**stored, "delete_steps": sent["create_steps"]}, sent).changes
    assert provider.diff("n", stored, {**sent, "run_on_create": False}).changes


def test_a_registered_script_carries_only_what_it_sets(dev: Recorded) -> None:
    always = {"__provider", "connections", "hosts", "create_steps"}
    assert set(dev.by_name("dev-gpu-1-prep").inputs) == always | {"triggers", "env"}
    assert set(dev.by_name("dev-gpu-1-preflight").inputs) == always | {"triggers", "keep_stdout"}


@pytest.mark.ssh
def test_update_reruns_only_when_create_steps_or_triggers_change(
    server: SshServer, client_key: tuple[str, str], tmp_path: Path
) -> None:
    conn = connection(server, client_key[0])
    counter = tmp_path / "count"
    create = [step("count", "n", f"#!/usr/bin/env bash\necho x >> {counter}\n")]
    props = {
        "name": "n",
        "connections": json.dumps({"n": conn}),
        "hosts": {"n": "root@127.0.0.1"},
        "create_steps": create,
        "delete_steps": [],
        "triggers": ["a"],
        "keep_stdout": False,
    }
    provider = RemoteScriptProvider()
    provider.create(props)
    provider.update("n", props, {**props, "delete_steps": [step("d", "n", "#!/usr/bin/env bash\ntrue\n")]})
    assert counter.read_text().count("x") == 1
    provider.update("n", props, {**props, "triggers": ["b"]})
    assert counter.read_text().count("x") == 2
    assert not provider.diff("n", props, dict(props)).changes
    assert provider.diff("n", props, {**props, "triggers": ["b"]}).changes
    assert provider.diff("n", props, {**props, "triggers": ["b"]}).replaces == []
