"""The backup agent's image for the lab, made as the lab makes its other
images (no image builder here): what components/backup/Dockerfile gives a
site, Python and boto3 at the Dockerfile's pin, assembled from the machine
image's Python (Debian 12's 3.11, the standard library and the shared
libraries its modules load) and boto3 installed from PyPI into a cache
outside the repository. The CronJob mounts the agent itself from a
ConfigMap. Left out: pg_dump (the lab's organisation runs on KAI, no
Run:ai database)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tools.go_cache import cache_root
from tools.lab.oci import Image
from tools.lab.site import closure

DOCKERFILE = Path(__file__).resolve().parents[2] / "components" / "backup" / "Dockerfile"
REPOSITORY = "runai-cluster-backup"
TAG = "0.1.0"
PYTHON = "/usr/bin/python3.11"
STDLIB = "/usr/lib/python3.11"
# Debian's Python looks for packages here.
PACKAGES = "/usr/lib/python3/dist-packages"


def boto3_pin() -> str:
    found = re.search(r"boto3==([0-9][0-9.]*)", DOCKERFILE.read_text())
    if not found:
        raise RuntimeError(f"{DOCKERFILE}: no boto3==VERSION pin")
    return found[1]


def boto3_packages() -> Path:
    """boto3 and what it needs, installed once per version."""
    version = boto3_pin()
    target = cache_root() / f"lab-backup-boto3-{version}"
    if not (target / "boto3").is_dir():
        scratch = target.with_name(target.name + ".new")
        subprocess.run(["rm", "-rf", str(scratch)], check=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--only-binary=:all:",
             "--target", str(scratch), f"boto3=={version}"],
            check=True,
        )  # fmt: skip
        scratch.rename(target)
    return target


def _tree(source: Path, inside: str) -> dict[str, Path]:
    """Every file under `source` at `inside`, without links, compiled
    caches or the standard library's own tests."""
    files = {}
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        # A link (Debian's sitecustomize.py into /etc) would name this host's file.
        if path.is_dir() or path.is_symlink() or "__pycache__" in relative.parts:
            continue
        if relative.parts[0] in ("test", "bin"):
            continue
        files[f"{inside}/{relative}"] = path
    return files


def backup_image(rootfs: Path) -> Image:
    modules = [f"{STDLIB}/lib-dynload/{p.name}" for p in (rootfs / STDLIB.lstrip("/") / "lib-dynload").glob("*.so")]
    files = {
        **_tree(rootfs / STDLIB.lstrip("/"), STDLIB),
        **closure(rootfs, [PYTHON, *modules]),
        **_tree(boto3_packages(), PACKAGES),
    }
    return Image(REPOSITORY, TAG, files, links={"/usr/local/bin/python": PYTHON})
