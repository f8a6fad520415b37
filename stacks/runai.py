"""The `runai` section: the Run:ai version, and the control plane whose API
keeps the organisation (node pools, departments, projects)."""

from __future__ import annotations

from pydantic import Field, model_validator

from stacks.base import Section

_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class Registry(Section):
    """Pull credentials every workload in the cluster may use (e.g. nvcr.io
    with user `$oauthtoken` and an NGC key). The password is the secret
    `runaiRegistryPassword-<name>`."""

    name: str = Field(pattern=r"^[a-z][-a-z0-9]*[a-z0-9]$")
    url: str = Field(min_length=1)
    user: str = Field(min_length=1)


class RunaiConfig(Section):
    """The client secret is the runaiClientSecret secret."""

    version: str = Field("2.20", pattern=r"^2\.\d+$", description="Run:ai minor version, e.g. 2.20")
    # The control plane's URL; with it the organisation is kept in Run:ai.
    url: str | None = Field(None, pattern=r"^https?://[^/]+$")
    # The application the stack acts as, and the registered cluster.
    client_id: str | None = None
    cluster_id: str | None = Field(None, pattern=_UUID)
    # The organisation's CA, to verify the control plane's certificate.
    ca_file: str | None = None
    registries: list[Registry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _complete(self) -> RunaiConfig:
        if self.url and not (self.client_id and self.cluster_id):
            raise ValueError("url: also give clientId (the application) and clusterId (the registered cluster's UUID)")
        names = [registry.name for registry in self.registries]
        if len(set(names)) != len(names):
            raise ValueError("registries: each name once")
        return self


def registry_secret(name: str) -> str:
    return f"runaiRegistryPassword-{name}"
