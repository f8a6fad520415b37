"""A small Kubernetes REST client from an admin kubeconfig, for the few reads
and deletes our own providers make (pulumi-kubernetes has no list or
"delete if empty" call)."""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml


class KubeApiError(Exception):
    """A request the API server refused or could not be reached for; the
    message names the request, never a credential."""


def _named(items: list[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    for item in items:
        if item.get("name") == name:
            return item[what]
    raise KubeApiError(f"kubeconfig: no {what} named {name!r}")


class KubeApi:
    def __init__(self, kubeconfig: str, timeout: float = 30) -> None:
        config = yaml.safe_load(kubeconfig)
        context = _named(config["contexts"], config["current-context"], "context")
        cluster = _named(config["clusters"], context["cluster"], "cluster")
        user = _named(config["users"], context["user"], "user")
        self.server = cluster["server"].rstrip("/")
        self.timeout = timeout
        self.context = ssl.create_default_context()
        if "certificate-authority-data" in cluster:
            self.context.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
        self.token = user.get("token")
        if "client-certificate-data" in user:
            # ssl loads client keys from files only: a private directory, removed at once.
            with tempfile.TemporaryDirectory() as private:
                cert, key = Path(private, "cert.pem"), Path(private, "key.pem")
                cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
                key.touch(mode=0o600)
                key.write_bytes(base64.b64decode(user["client-key-data"]))
                self.context.load_cert_chain(cert, key)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """The decoded answer, or None for 404."""
        text = self.text(method, path, body)
        return None if text is None else json.loads(text or "{}")

    def text(self, method: str, path: str, body: dict[str, Any] | None = None) -> str | None:
        """The answer as text (a pod's log), or None for 404."""
        headers = {"Accept": "application/json, */*", "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.server}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=self.timeout) as answer:
                return answer.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise KubeApiError(f"{method} {path}: HTTP {error.code} {error.reason}") from None
        except (urllib.error.URLError, OSError) as error:
            raise KubeApiError(f"{method} {path}: {self.server} unreachable ({error})") from None

    def get(self, path: str) -> dict[str, Any] | None:
        return self.request("GET", path)

    def delete(self, path: str) -> dict[str, Any] | None:
        return self.request("DELETE", path)


def crd_path(name: str) -> str:
    return f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}"


def count_objects(api: KubeApi, crd: dict[str, Any]) -> int:
    """Objects stored under a CRD, over its served versions (one page each:
    the API server reports how many remain)."""
    group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
    total = 0
    for version in (v["name"] for v in crd["spec"]["versions"] if v.get("served")):
        listing = api.get(f"/apis/{group}/{version}/{plural}?limit=1") or {}
        remaining = int(listing.get("metadata", {}).get("remainingItemCount") or 0)
        total = max(total, len(listing.get("items", [])) + remaining)
    return total
