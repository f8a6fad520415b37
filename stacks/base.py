"""Shared pieces of the stack-config model."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

# RFC 1123 hostname: labels of letters, digits and inner hyphens.
_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_HOSTNAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
_K8S_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class Section(BaseModel):
    """Base of every config section: camelCase keys as in Pulumi.<stack>.yaml,
    unknown keys refused (a typo must not silently fall back to a default).
    The string under a field is its description in the settings reference."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )


class Chart(Section):
    """Where a Helm chart comes from; a mirror or an air-gapped copy overrides it."""

    repository: str = Field(min_length=1)
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)

    @model_validator(mode="after")
    def _pinned(self) -> Chart:
        if self.version in {"latest", "*"} or self.version.startswith(("^", "~", ">")):
            raise ValueError(f"version {self.version!r}: pin an exact chart version")
        if not self.repository.startswith(("https://", "http://", "oci://", "/")):
            raise ValueError(
                f"repository {self.repository!r}: a chart repository URL, an oci:// registry, or an absolute "
                "directory holding <name>-<version>.tgz (air-gapped)"
            )
        if self.local and not Path(self.repository).is_dir():
            raise ValueError(f"repository {self.repository!r}: no such directory on this machine")
        return self

    @property
    def local(self) -> bool:
        return self.repository.startswith("/")


def check_host(value: str) -> str:
    """An IP address or an RFC 1123 hostname."""
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    if _HOSTNAME.match(value) and not value.replace(".", "").isdigit():
        return value
    raise ValueError(f"{value!r} is not an IP address or hostname")


def check_k8s_name(value: str) -> str:
    """A lowercase DNS label, usable as a Kubernetes object name."""
    if not _K8S_NAME.match(value):
        raise ValueError(f"{value!r} must be a lowercase DNS label (a-z, 0-9, '-', at most 63 characters)")
    return value
