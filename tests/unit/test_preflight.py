"""Preflight: the checks against recorded system outputs, the graph, and a
real run over SSH against a local sshd."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.preflight.check import parse_report, preflight_params
from components.remote.command import run_steps, step
from components.scripts import render_script
from stacks.load import parse_stack
from tests.support.settings import fixture
from tools.lab.sshd import SshServer, keygen, start_sshd
from tools.mocked_program import Recorded, resolve, run_program

SCRIPT = Path(__file__).resolve().parents[2] / "components" / "preflight" / "preflight.sh"
READ_ONLY = {"swapon", "stat", "modinfo", "nproc", "df", "ss", "timedatectl", "getent", "nvidia-smi", "uname"}


def machine(tmp_path: Path, **facts: str) -> tuple[Path, dict[str, str]]:
    """A recorded machine: system files under a root, stand-ins for commands."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "sys" / "module" / "overlay").mkdir(parents=True)
    (root / "sys" / "module" / "br_netfilter").mkdir(parents=True)
    (root / "etc" / "os-release").write_text(facts.get("os", 'ID=ubuntu\nVERSION_ID="24.04"\n'))
    memory_kb = facts.get("memory_kb", "65000000")
    (root / "proc" / "meminfo").write_text(f"MemTotal:       {memory_kb} kB\nMemFree: 1 kB\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    outputs = {
        "uname": facts.get("kernel", "6.8.0-45-generic"),
        "swapon": facts.get("swap", ""),
        "stat": "cgroup2fs",
        "nproc": facts.get("cpus", "32"),
        "df": f"Avail\n {facts.get('disk_gb', '500')}G",
        "ss": facts.get("listening", "LISTEN 0 128 0.0.0.0:22 0.0.0.0:*"),
        "timedatectl": "yes",
        "getent": "",
        "nvidia-smi": facts.get("gpus", "570.86.15\n" * 8).rstrip("\n"),
        "modinfo": "",
    }
    for command, output in outputs.items():
        if command == "nvidia-smi" and facts.get("no_driver"):
            continue
        status = "2" if command == "getent" and facts.get("dns_fails") else "0"
        script = bin_dir / command
        script.write_text(
            f"#!/usr/bin/env bash\necho \"{command} $*\" >> {log}\ncat <<'OUT'\n{output}\nOUT\nexit {status}\n"
        )
        script.chmod(0o755)
    return root, {"PATH": f"{bin_dir}:/usr/bin:/bin", "PREP_ROOT": str(root)}


def params(**overrides: str) -> dict[str, str]:
    base = {
        "NODE_NAME": "gpu-1",
        "ROLES": "gpu-worker",
        "MIN_CPUS": "4",
        "MIN_MEMORY_GB": "16",
        "MIN_DISK_GB": "100",
        "DISK_PATH": "/",
        "PORTS": "10250",
        "EXPECTED_GPUS": "8",
        "GPUS_SIMULATED": "false",
        "DRIVER_ON_HOST": "true",
        "DNS_NAMES": "runai.example.org",
        "NFS_SERVER": "",
    }
    return base | overrides


def run_checks(tmp_path: Path, script_params: dict[str, str], **facts: str) -> tuple[int, dict, str]:
    root, env = machine(tmp_path, **facts)
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}
    text = render_script(SCRIPT, script_params)
    result = subprocess.run(["bash", "-c", text], env=dict(os.environ, **env), capture_output=True, text=True)
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}
    assert before == after, "preflight must not change the machine"
    called = {line.split()[0] for line in (tmp_path / "calls").read_text().splitlines()}
    assert called <= READ_ONLY, called - READ_ONLY
    return result.returncode, parse_report(result.stdout), result.stdout + result.stderr


def statuses(report: dict) -> dict[str, str]:
    return {check["check"]: check["status"] for check in report["checks"]}


@pytest.mark.process
def test_a_sound_gpu_node_passes(tmp_path: Path) -> None:
    code, report, _ = run_checks(tmp_path, params())
    assert code == 0
    assert report["passed"] is True
    assert report["node"] == "gpu-1"
    assert set(statuses(report).values()) == {"ok"}
    assert "8 GPUs, driver 570.86.15" in json.dumps(report)


@pytest.mark.process
def test_failures_are_named_with_their_fix(tmp_path: Path) -> None:
    code, report, output = run_checks(
        tmp_path,
        params(),
        memory_kb="8000000",
        gpus="570.86.15\n" * 7,
        listening="LISTEN 0 128 0.0.0.0:10250 0.0.0.0:*",
        dns_fails="1",
    )
    assert code == 1
    assert report["passed"] is False
    checks = statuses(report)
    assert checks["memory"] == checks["gpus"] == checks["ports"] == checks["dns-runai.example.org"] == "fail"
    assert "8 GB, below the minimum of 16 GB for gpu-worker" in output
    assert "7 GPUs found, the inventory says 8" in output
    assert "in use: 10250" in output
    assert "does not resolve from this node: create the DNS record" in output
    assert "preflight: gpu-1 failed; fix the checks marked fail" in output


@pytest.mark.process
def test_what_node_prep_fixes_is_only_a_warning(tmp_path: Path) -> None:
    code, report, _ = run_checks(
        tmp_path, params(), swap="/swap.img file 8G 0B -2", no_driver="1", os='ID=debian\nVERSION_ID="11"\n'
    )
    assert code == 0
    checks = statuses(report)
    assert checks["swap"] == checks["gpus"] == checks["os"] == "warn"


@pytest.mark.process
def test_debian_12_is_a_supported_node_os(tmp_path: Path) -> None:
    code, report, _ = run_checks(tmp_path, params(), os='ID=debian\nVERSION_ID="12"\n')
    assert code == 0 and statuses(report)["os"] == "ok"


@pytest.mark.process
def test_a_missing_driver_fails_when_the_operator_should_have_it(tmp_path: Path) -> None:
    code, report, _ = run_checks(tmp_path, params(DRIVER_ON_HOST="false"), no_driver="1")
    assert code == 1 and statuses(report)["gpus"] == "fail"


@pytest.mark.process
def test_simulated_gpus_in_a_lab(tmp_path: Path) -> None:
    code, report, _ = run_checks(tmp_path, params(GPUS_SIMULATED="true"), no_driver="1")
    assert code == 0 and statuses(report)["gpus"] == "ok"


def test_role_minimums_take_the_largest_of_the_roles() -> None:
    settings = fixture("small")
    config = parse_stack(settings)
    system = preflight_params(config.nodes[1], config)  # system + cpu-worker
    assert (system["MIN_CPUS"], system["MIN_MEMORY_GB"], system["MIN_DISK_GB"]) == ("4", "8", "120")
    plane = preflight_params(config.nodes[0], config)
    assert plane["PORTS"] == "2379 2380 6443 10250 10257 10259"
    assert preflight_params(config.nodes[2], config)["EXPECTED_GPUS"] == "8"


def test_every_prep_waits_for_its_preflight() -> None:
    recorded, cluster = run_program(fixture("small"))
    for node in ("dev-cp-1", "dev-sys-1", "dev-gpu-1", "dev-gpu-2"):
        prep = recorded.by_name(f"{node}-prep")
        assert recorded.by_name(f"{node}-preflight").urn in prep.dependencies
        assert "stdout" not in recorded.by_name(f"{node}-preflight").secret_paths
    report, secret = resolve(cluster.preflight.reports["dev-gpu-1"])
    assert report["passed"] is True and not secret


def test_preflight_can_be_switched_off() -> None:
    settings = fixture("small")
    settings["preflight"] = {"enabled": False}
    recorded: Recorded = run_program(settings)[0]
    assert not recorded.of_type("runai-cluster:preflight:Preflight")


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[tuple[SshServer, str]]:
    private, public = keygen(tmp_path / "id_ed25519")
    server = start_sshd(tmp_path / "sshd", public)
    yield server, private
    server.stop()


@pytest.mark.ssh
def test_a_real_run_over_ssh(sshd: tuple[SshServer, str]) -> None:
    server, key = sshd
    connection = {
        "target": {"host": "127.0.0.1", "port": server.port, "user": "root", "host_key": server.host_key},
        "private_key": key,
        "bastion": None,
        "connect_timeout": 5,
        "dial_attempts": 2,
        "dial_retry_delay": 0.1,
    }
    # This machine as a small system node that needs nothing it lacks.
    script = render_script(
        SCRIPT,
        params(ROLES="system", MIN_CPUS="1", MIN_MEMORY_GB="1", MIN_DISK_GB="1", EXPECTED_GPUS="0", DNS_NAMES=""),
    )
    report = {}
    try:
        report = parse_report(run_steps([step("preflight", "n", script)], json.dumps({"n": connection})))
    except Exception as error:  # a real machine may lack a module: the message must name it
        assert "script failed with exit status 1" in str(error)
        assert "preflight: gpu-1 failed " in str(error)  # names the check and why
        return
    checks = statuses(report)
    assert {"os", "kernel", "cpus", "memory", "disk", "ports", "time-sync"} <= set(checks)
