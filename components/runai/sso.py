"""Single sign-on as code (the UI's Admin > Security > + Identity
provider): the identity provider added to the control plane through its API
(2.21+), and the redirect URI (and SAML entity ID) that the provider needs
back, read from the control plane after the create."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import dynamic

from components.managed import secret_outputs
from components.runai.resources import api_for, credentials_changed, observed
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


def _body(props: dict[str, Any]) -> dict[str, Any]:
    spec = props["spec"]
    if "oidcData" not in spec:
        return dict(spec)
    return {**spec, "oidcData": {**spec["oidcData"], "clientSecret": props["clientSecret"]}}


# What the identity provider needs back from Run:ai (outputs of the resource).
RETURNED = ("redirectUri", "entityId", "serviceProviderMetadataUrl")


def _returned(current: dict[str, Any]) -> dict[str, Any]:
    """RETURNED, from Run:ai's answer (the SAML ones under samlData)."""
    found = {**(current.get("samlData") or {}), "redirectUri": current.get("redirectUri")}
    return {key: found.get(key) or "" for key in RETURNED}


def _provider_changed(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    return olds.get("spec") != news["spec"] or olds.get("clientSecret") != news.get("clientSecret")


class IdentityProviderProvider(dynamic.ResourceProvider):
    """Run:ai never returns the discovery or metadata URL, nor the client
    secret: those keep the stack's values on refresh; the client id, scopes,
    mandatory claim and attribute mappers are compared with Run:ai's."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        api = api_for(props["connection"])
        alias = str(api.create("idps", _body(props))["alias"])
        current = api.get("idps", alias) or {}
        return dynamic.CreateResult(id_=alias, outs={**props, **_returned(current)})

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        current = api_for(props["connection"]).get("idps", id_)
        if current is None:  # removed in the UI: the next up adds it again
            return dynamic.ReadResult(id_="", outs={})
        spec = observed(props["spec"], current, write_only=True)
        return dynamic.ReadResult(id_=id_, outs={**props, "spec": spec, **_returned(current)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        old = olds.get("spec", {})
        replaces = ["spec.type"] if old.get("type") != news["spec"]["type"] else []
        changed = _provider_changed(olds, news) or credentials_changed(olds, news)
        return dynamic.DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        api = api_for(news["connection"])
        if _provider_changed(olds, news):
            api.update("idps", id_, _body(news))
        return dynamic.UpdateResult(outs={**news, **_returned(api.get("idps", id_) or {})})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        api_for(props["connection"]).delete("idps", id_)


class IdentityProvider(dynamic.Resource):
    redirectUri: pulumi.Output[str]  # noqa: N815 - the provider's property names
    entityId: pulumi.Output[str]  # noqa: N815
    serviceProviderMetadataUrl: pulumi.Output[str]  # noqa: N815

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
            "clientSecret": pulumi.Output.secret(client_secret) if client_secret is not None else "",
            "connection": pulumi.Output.secret(connection),
            **dict.fromkeys(RETURNED),
        }
        super().__init__(IdentityProviderProvider(), name, props, secret_outputs(opts, "connection", "clientSecret"))

    def for_the_provider(self) -> pulumi.Output[dict[str, str]]:
        """The `runaiSso` stack output: what to set on the identity provider's side."""
        return pulumi.Output.all(self.redirectUri, self.entityId, self.serviceProviderMetadataUrl).apply(
            lambda values: {key: value for key, value in zip(RETURNED, values, strict=True) if value}
        )
