"""Single sign-on as code (the UI's Admin > Security > + Identity
provider): the identity provider added to the control plane through its API
(2.21+), and the redirect URI (and SAML entity ID) that the provider needs
back, read from the control plane after the create."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
from pulumi import dynamic

from components.managed import secret_outputs
from components.runai.api import RunaiApi
from components.runai.provider import RunaiInputs, RunaiProvider, observed
from stacks.runai import Sso, SsoType


def idp_spec(sso: Sso) -> dict[str, Any]:
    """The provider as Run:ai's API takes it, less the client secret."""
    if sso.type is SsoType.SAML:
        data: dict[str, Any] = {"samlData": {"metadataXmlType": "url", "metadataXmlUrl": sso.metadata_url}}
    else:
        oidc: dict[str, Any] = {
            "clientId": sso.client_id,
            "discoverDocumentUrl": sso.discovery_url,
            "scopes": sso.scopes,
        }
        if sso.mandatory_claim:
            oidc["mandatoryClaim"] = sso.mandatory_claim.model_dump()
        data = {"oidcData": oidc}
    mappers = sso.attributes.model_dump(by_alias=True, exclude_none=True)
    return {"type": sso.type.value, **data, **({"mappers": mappers} if mappers else {})}


def _body(given: IdentityProviderInputs) -> dict[str, Any]:
    spec = given.spec
    if "oidcData" not in spec:
        return dict(spec)
    return {**spec, "oidcData": {**spec["oidcData"], "clientSecret": given.client_secret}}


# What the identity provider needs back from Run:ai (outputs of the resource),
# by their names here and in Run:ai's answer and the `runaiSso` stack output.
RETURNED = {
    "redirect_uri": "redirectUri",
    "entity_id": "entityId",
    "service_provider_metadata_url": "serviceProviderMetadataUrl",
}


def _returned(current: dict[str, Any]) -> dict[str, Any]:
    """RETURNED, from Run:ai's answer (the SAML ones under samlData)."""
    found = {**(current.get("samlData") or {}), "redirectUri": current.get("redirectUri")}
    return {ours: found.get(theirs) or "" for ours, theirs in RETURNED.items()}


class IdentityProviderInputs(RunaiInputs):
    spec: dict[str, Any]  # Run:ai's body, less the client secret
    client_secret: str = ""
    redirect_uri: str = ""
    entity_id: str = ""
    service_provider_metadata_url: str = ""

    LEGACY: ClassVar[Mapping[str, str]] = {"clientSecret": "client_secret", **{v: k for k, v in RETURNED.items()}}
    OUTPUTS: ClassVar[tuple[str, ...]] = tuple(RETURNED)


class IdentityProviderProvider(RunaiProvider[IdentityProviderInputs]):
    """Run:ai never returns the discovery or metadata URL, nor the client
    secret: those keep the stack's values on refresh; the client id, scopes,
    mandatory claim and attribute mappers are compared with Run:ai's."""

    inputs = IdentityProviderInputs

    def make(self, api: RunaiApi, given: IdentityProviderInputs) -> tuple[str, dict[str, Any]]:
        alias = str(api.create("idps", _body(given))["alias"])
        return alias, _returned(api.get("idps", alias) or {})

    def fetch(self, api: RunaiApi, id_: str, given: IdentityProviderInputs) -> dict[str, Any] | None:
        return api.get("idps", id_)

    def observe(self, given: IdentityProviderInputs, current: dict[str, Any]) -> dict[str, Any]:
        return {"spec": observed(given.spec, current, write_only=True), **_returned(current)}

    def replaces(self, old: IdentityProviderInputs, new: IdentityProviderInputs) -> list[str]:
        return ["spec.type"] if old.spec.get("type") != new.spec["type"] else []

    def changed(self, old: IdentityProviderInputs, new: IdentityProviderInputs) -> bool:
        return old.spec != new.spec or old.client_secret != new.client_secret

    def write(self, id_: str, old: IdentityProviderInputs, new: IdentityProviderInputs) -> dict[str, Any]:
        api = self.api(new)
        if self.changed(old, new):
            api.update("idps", id_, _body(new))
        return _returned(api.get("idps", id_) or {})

    def remove(self, api: RunaiApi, id_: str, given: IdentityProviderInputs) -> None:
        api.delete("idps", id_)


class IdentityProvider(dynamic.Resource):
    redirect_uri: pulumi.Output[str]
    entity_id: pulumi.Output[str]
    service_provider_metadata_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        sso: Sso,
        client_secret: pulumi.Output[str] | None,
        connection: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "spec": idp_spec(sso),
            "client_secret": pulumi.Output.secret(client_secret) if client_secret is not None else "",
            "connection": pulumi.Output.secret(connection),
            **dict.fromkeys(RETURNED),
        }
        super().__init__(IdentityProviderProvider(), name, props, secret_outputs(opts, "connection", "client_secret"))

    def for_the_provider(self) -> pulumi.Output[dict[str, str]]:
        """The `runaiSso` stack output: what to set on the identity provider's side."""
        return pulumi.Output.all(self.redirect_uri, self.entity_id, self.service_provider_metadata_url).apply(
            lambda values: {key: value for key, value in zip(RETURNED.values(), values, strict=True) if value}
        )
