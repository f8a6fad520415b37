"""Container images the lab makes from its own binaries, and a small client
that pushes them to the lab's registry over the OCI distribution API.

Each image is one gzip layer holding the files named, and a config that sets
PATH and, where the workload expects one, an entrypoint."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import ssl
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
PATH_ENV = "PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Image:
    repository: str  # path under the registry, e.g. kubernetes/kube-apiserver
    tag: str
    files: dict[str, Path]  # path in the image -> file on this machine
    entrypoint: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # path in the image -> symlink target


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(image: Image) -> bytes:
    """The uncompressed tar: files sorted, owned by root, times zeroed, so
    the same inputs give the same digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directories: set[str] = set()
        entries = sorted([*image.files, *image.links])
        for path in entries:
            parts = path.strip("/").split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in directories:
                    directories.add(directory)
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            name = path.strip("/")
            if path in image.links:
                info = tarfile.TarInfo(name)
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, image.links[path], 0o777
                tar.addfile(info)
                continue
            source = image.files[path]
            info = tarfile.TarInfo(name)
            info.size = source.stat().st_size
            info.mode = source.stat().st_mode & 0o777
            with source.open("rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


@dataclass(frozen=True)
class Built:
    manifest: bytes
    blobs: dict[str, bytes]  # digest -> content (config and layer)


def build(image: Image) -> Built:
    tar = layer(image)
    compressed = gzip.compress(tar, compresslevel=1, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": [PATH_ENV], **({"Entrypoint": image.entrypoint} if image.entrypoint else {})},
            "rootfs": {"type": "layers", "diff_ids": [_digest(tar)]},
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "digest": _digest(config), "size": len(config)},
            "layers": [{"mediaType": LAYER_TYPE, "digest": _digest(compressed), "size": len(compressed)}],
        },
        sort_keys=True,
    ).encode()
    return Built(manifest, {_digest(config): config, _digest(compressed): compressed})


class Registry:
    """The parts of the distribution API a push needs."""

    def __init__(self, address: str, ca_file: Path) -> None:
        self.base = f"https://{address}"
        self.context = ssl.create_default_context(cafile=str(ca_file))

    def _call(self, method: str, url: str, body: bytes | None = None, kind: str = "") -> urllib.request.Request:
        request = urllib.request.Request(url, data=body, method=method)
        if kind:
            request.add_header("Content-Type", kind)
        return request

    def _open(self, request: urllib.request.Request):
        return urllib.request.urlopen(request, context=self.context, timeout=60)

    def has_blob(self, repository: str, digest: str) -> bool:
        try:
            self._open(self._call("HEAD", f"{self.base}/v2/{repository}/blobs/{digest}")).close()
            return True
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return False
            raise

    def push_blob(self, repository: str, digest: str, content: bytes) -> None:
        if self.has_blob(repository, digest):
            return
        with self._open(self._call("POST", f"{self.base}/v2/{repository}/blobs/uploads/")) as started:
            location = urllib.parse.urljoin(self.base, started.headers["Location"])
        separator = "&" if "?" in location else "?"
        upload = self._call("PUT", f"{location}{separator}digest={digest}", content, "application/octet-stream")
        self._open(upload).close()

    def push(self, image: Image) -> str:
        """Push the image; its manifest digest."""
        built = build(image)
        for digest, content in built.blobs.items():
            self.push_blob(image.repository, digest, content)
        url = f"{self.base}/v2/{image.repository}/manifests/{image.tag}"
        self._open(self._call("PUT", url, built.manifest, MANIFEST_TYPE)).close()
        return _digest(built.manifest)
