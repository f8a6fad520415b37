"""cgroups for lab machines on a cgroup v1 host whose PID 1 is not systemd.

systemd-nspawn wants every enabled controller mounted; the ones this host
leaves unmounted are mounted for the lab and unmounted again by `down`.
Each machine starts from a cgroup of its own in every hierarchy (under the
lab's own cgroup there), so that with a cgroup namespace the machine sees
its own subtree as the root, as a real machine does, and its kubelet and
runc never meet another machine's."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


def enabled_controllers() -> list[str]:
    lines = Path("/proc/cgroups").read_text().splitlines()[1:]
    return [fields[0] for fields in (line.split() for line in lines) if fields[3] == "1"]


def mount_missing() -> list[str]:
    """Mount the enabled controllers nobody mounted; the ones mounted here."""
    mounted = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
    added = []
    for controller in enabled_controllers():
        target = ROOT / controller
        if str(target) in mounted or any(
            str(ROOT / name) in mounted for name in os.listdir(ROOT) if controller in name.split(",")
        ):
            continue
        target.mkdir(exist_ok=True)
        subprocess.run(["mount", "-t", "cgroup", "-o", controller, "cgroup", str(target)], check=True)
        added.append(controller)
    return added


def unmount(controllers: list[str]) -> None:
    for controller in controllers:
        target = ROOT / controller
        subprocess.run(["umount", str(target)], check=False, capture_output=True)
        with contextlib.suppress(OSError):
            target.rmdir()


def _own() -> dict[str, str]:
    """hierarchy directory -> this process's cgroup path in it."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        directory = "unified" if not controllers else controllers.removeprefix("name=")
        paths[directory] = path.rstrip("/")
    return paths


def machine_cgroups(name: str) -> list[Path]:
    """The machine's cgroup in each hierarchy, made if missing."""
    cgroups = []
    for directory, path in _own().items():
        cgroup = ROOT / directory / f"{path.lstrip('/')}/lab-{name}".lstrip("/")
        if not cgroup.parent.exists():
            continue
        if not cgroup.exists():
            cgroup.mkdir()
            if directory == "cpuset":  # a cpuset takes no task until it has CPUs and memory nodes
                for key in ("cpuset.cpus", "cpuset.mems"):
                    (cgroup / key).write_text((cgroup.parent / key).read_text())
        cgroups.append(cgroup)
    return cgroups


def join(cgroups: list[Path]) -> None:
    """Move the calling process into `cgroups` (run in the child before exec)."""
    for cgroup in cgroups:
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))


def remove(name: str) -> None:
    """The machine's cgroups and everything its kubelet made under them,
    deepest first (only empty cgroups can go; a stopped machine has none)."""
    for directory, path in _own().items():
        top = ROOT / directory / f"{path.lstrip('/')}/lab-{name}".lstrip("/")
        if not top.exists():
            continue
        for current, _, _ in sorted(os.walk(top), key=lambda entry: -entry[0].count("/")):
            with contextlib.suppress(OSError):
                os.rmdir(current)
