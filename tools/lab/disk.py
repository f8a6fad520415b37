"""Room on the host's disk for the machines lab. The machines' root file
systems live on the host's disk, so each kubelet measures that disk: below
15% free (the kubelet's default imagefs.available eviction threshold) it
reports DiskPressure and evicts every pod it runs, which looks like pods that
never start. The lab refuses to start rather than build such a cluster."""

from __future__ import annotations

import shutil
from pathlib import Path

GIB = 1024**3
EVICTION_FREE = 0.15  # kubelet's imagefs.available default (nodefs: 10%)
LAB_WRITES = 6 * GIB  # images unpacked on each machine, etcd, logs: one lab's run


def shortfall(total: int, free: int) -> int:
    """Bytes to free on a disk of `total` bytes with `free` free, so that the
    lab's own writes still leave the kubelets above their eviction line."""
    needed = int(total * EVICTION_FREE) + LAB_WRITES
    return max(0, needed - free)


def require_room(path: Path) -> None:
    """Refuse, naming the disk and how much to free, when the lab's machines
    would see DiskPressure."""
    usage = shutil.disk_usage(path)
    missing = shortfall(usage.total, usage.free)
    if missing:
        raise RuntimeError(
            f"the disk holding {path} has {usage.free / GIB:.1f} GiB free of {usage.total / GIB:.0f} GiB: "
            f"the lab's kubelets see this disk and evict every pod below {EVICTION_FREE:.0%} free; "
            f"free at least {missing / GIB:.1f} GiB more (build caches, old labs) and start again"
        )
