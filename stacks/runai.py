"""The `runai` section: the Run:ai version, and the control plane whose API
keeps the organisation (node pools, departments, projects)."""

from __future__ import annotations

from pydantic import Field, model_validator

from stacks.base import Section

_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


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

    @model_validator(mode="after")
    def _complete(self) -> RunaiConfig:
        if self.url and not (self.client_id and self.cluster_id):
            raise ValueError("url: also give clientId (the application) and clusterId (the registered cluster's UUID)")
        return self
