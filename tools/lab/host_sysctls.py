"""The host-wide kernel settings a kubelet changes from inside a machine.

A machine's /proc/sys is writable (its kubelet and node preparation set
per-network-namespace settings there), but a few settings the kubelet sets
at start are not per namespace: they change this whole host. The lab saves
them before its first machine boots and puts them back on `down`."""

from __future__ import annotations

from pathlib import Path

# What the kubelet sets when protectKernelDefaults is off (its default).
KUBELET_TUNABLES = [
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
]
PROC_SYS = Path("/proc/sys")


def read() -> dict[str, str]:
    return {key: (PROC_SYS / key).read_text().strip() for key in KUBELET_TUNABLES}


def restore(saved: dict[str, str]) -> list[str]:
    """Write back what differs; the keys that had changed."""
    changed = []
    for key, value in saved.items():
        path = PROC_SYS / key
        if path.read_text().strip() != value:
            path.write_text(value)
            changed.append(key)
    return changed
