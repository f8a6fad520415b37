"""The lab end to end: real SSH hosts, a real API server, `pulumi up`, a
second `up` with nothing to do, `destroy` leaving none of our fields."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from tools.lab.__main__ import PROJECT, STACK, LabState, apply, stack_settings, stack_workdir, up
from tools.lab.control_plane import ControlPlane
from tools.lab.sshd import free_port
from tools.stackrun import STATE, checked, engine_env, policy_args, run

LABELS = {
    "lab-cp-1": {},
    "lab-sys-1": {
        "node-role.kubernetes.io/runai-system": "true",
        "node-role.kubernetes.io/runai-cpu-worker": "true",
    },
    "lab-gpu-1": {"node-role.kubernetes.io/runai-gpu-worker": "true", "run.ai/node-pool": "lab"},
    "lab-gpu-2": {"node-role.kubernetes.io/runai-gpu-worker": "true", "run.ai/node-pool": "lab"},
}


def our_labels(plane: ControlPlane, name: str) -> dict[str, str]:
    labels = plane.node(name)["metadata"].get("labels", {})
    return {k: v for k, v in labels.items() if k.startswith(("node-role.kubernetes.io/runai", "run.ai/"))}


def test_up_again_and_destroy(lab: Path) -> None:
    assert up(lab, 4, free_port(), free_port(), free_port()) == 0
    state = LabState.load(lab)
    assert state is not None
    plane = ControlPlane(Path(state.binaries), lab / "control-plane", state.api_port, state.etcd_port)
    for name, labels in LABELS.items():
        assert our_labels(plane, name) == labels, name
    assert plane.node("lab-gpu-1")["status"]["capacity"]["nvidia.com/gpu"] == "2"
    check_organisation(plane)
    check_backup(plane, state.s3_port)
    check_shares(plane)

    work = STATE / "work" / STACK
    env = engine_env()
    report = json.loads(checked(["stack", "output", "preflight", "--json", "--stack", STACK], work, env))
    assert set(report) == set(LABELS)
    assert all(node["passed"] for node in report.values())
    assert {c["check"] for c in report["lab-gpu-1"]["checks"]} >= {"os", "cpus", "memory", "disk", "gpus"}

    # A second `up` changes nothing.
    assert up(lab, 4, state.api_port, state.etcd_port, state.ssh_port) == 0
    checked(["preview", "--expect-no-changes", "--stack", STACK], work, env)

    checked(["destroy", "--yes", "--skip-preview", "--stack", STACK], work, env)
    for name in LABELS:
        assert our_labels(plane, name) == {}, name
    assert ours(plane) == {}


# Where each kind of object we create lives on the API server.
OUR_KINDS = {
    "queues": "/apis/scheduling.run.ai/v2/queues",
    "namespaces": "/api/v1/namespaces",
    "priorityclasses": "/apis/scheduling.k8s.io/v1/priorityclasses",
    "clusterroles": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "rolebindings": "/apis/rbac.authorization.k8s.io/v1/rolebindings",
    "cronjobs": "/apis/batch/v1/cronjobs",
    "configmaps": "/api/v1/configmaps",
    "secrets": "/api/v1/secrets",
    "persistentvolumes": "/api/v1/persistentvolumes",
    "persistentvolumeclaims": "/api/v1/persistentvolumeclaims",
}


def ours(plane: ControlPlane) -> dict[str, list[dict[str, Any]]]:
    """Every object labelled as ours, by kind (kinds with none left out)."""
    found = {}
    for kind, path in OUR_KINDS.items():
        items = plane.request("GET", f"{path}?labelSelector=app.kubernetes.io/managed-by=runai-cluster")["items"]
        if items:
            found[kind] = items
    return found


def check_organisation(plane: ControlPlane) -> None:
    """The KAI path's objects, as the API server holds them."""
    objects = ours(plane)
    queues = {q["metadata"]["name"]: q["spec"] for q in objects["queues"]}
    assert set(queues) == {"research", "vision", "speech"}
    assert queues["vision"]["parentQueue"] == "research"
    assert queues["vision"]["resources"]["gpu"] == {"quota": 2, "limit": -1, "overQuotaWeight": 1}
    assert queues["speech"]["resources"]["gpu"] == {"quota": 2, "limit": 2, "overQuotaWeight": 0}
    namespaces = {n["metadata"]["name"]: n["metadata"] for n in objects["namespaces"]}
    assert set(namespaces) == {"runai-vision", "runai-speech"}
    selector = namespaces["runai-vision"]["annotations"]["scheduler.alpha.kubernetes.io/node-selector"]
    assert selector == "run.ai/node-pool=lab"
    bindings = sorted(
        (b["metadata"]["namespace"], b["subjects"][0]["name"], b["roleRef"]["name"]) for b in objects["rolebindings"]
    )
    assert bindings == [
        ("runai-speech", "bob@example.com", "runai-cluster-viewer"),
        ("runai-speech", "research-leads", "runai-cluster-researcher"),
        ("runai-vision", "alice@example.com", "runai-cluster-researcher"),
        ("runai-vision", "research-leads", "runai-cluster-researcher"),
    ]
    classes = {c["metadata"]["name"]: c["value"] for c in objects["priorityclasses"]}
    assert classes == {"train": 50, "build-preemptible": 75, "build": 100, "inference": 125}


def test_production_refuses_to_delete_a_project(lab: Path) -> None:
    """In production the organisation's objects are protected: a project
    dropped from the stack fails the preview instead of deleting its
    namespace and queue."""
    assert up(lab, 4, free_port(), free_port(), free_port()) == 0
    state = LabState.load(lab)
    assert state is not None
    settings = stack_settings(state, environment="prod")
    assert apply(lab, state, settings=settings).returncode == 0

    dropped = copy.deepcopy(settings)
    dropped[f"{PROJECT}:org"]["departments"][0]["projects"].pop()  # speech
    work = stack_workdir(lab, state, dropped)
    env = engine_env()
    preview = run(["preview", "--stack", STACK, *policy_args(STACK)], work, env)
    assert preview.returncode != 0
    output = preview.stdout + preview.stderr
    assert "lab-kai-queue-speech" in output or "lab-kai-ns-speech" in output
    assert "cannot be deleted" in output and "because it is protected" in output, output
    plane = state.control_plane(lab)
    assert plane.request("GET", "/api/v1/namespaces/runai-speech")["metadata"]["name"] == "runai-speech"

    # Deleting on purpose: unprotect, then destroy (the fixture's `down`).
    checked(["state", "unprotect", "--all", "--yes", "--stack", STACK], work, env)


def check_backup(plane: ControlPlane, s3_port: int) -> None:
    """The backup CronJob points at the lab's S3; its credentials are a Secret."""
    objects = ours(plane)
    [cron] = objects["cronjobs"]
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    assert env["S3_ENDPOINT"] == f"http://127.0.0.1:{s3_port}" and env["S3_BUCKET"] == "lab-backups"
    assert container["envFrom"] == [{"secretRef": {"name": "runai-cluster-backup-s3"}}]
    assert [s["metadata"]["name"] for s in objects["secrets"]] == ["runai-cluster-backup-s3"]


def check_shares(plane: ControlPlane) -> None:
    """The share's claims are bound to their volumes by the controller manager."""
    deadline = time.monotonic() + 60
    while True:
        claims = {c["metadata"]["namespace"]: c for c in ours(plane).get("persistentvolumeclaims", [])}
        if set(claims) == {"runai-vision", "runai-speech"} and all(
            c["status"].get("phase") == "Bound" for c in claims.values()
        ):
            break
        assert time.monotonic() < deadline, f"claims not bound: {[c.get('status') for c in claims.values()]}"
        time.sleep(1)
    assert claims["runai-vision"]["spec"]["volumeName"] == "research-datasets-vision"
