"""Single sign-on as code: the identity provider added through Run:ai's API
(against the fake control plane), drift found on refresh, the redirect URI
the provider needs exported; and the settings refused when incomplete or on
a Run:ai without the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from components.runai.sso import IdentityProviderProvider, idp_spec
from stacks.load import StackConfigError, check_secrets, parse_stack
from stacks.runai import Sso
from tests.support.fake_runai import FakeRunai, connection_to, fake_runai
from tests.unit.test_runai_org import CLIENT_SECRET, runai_settings
from tools.mocked_program import SSH_KEY, run_program

IDP_SECRET = "idp-client-secret-77aa"
OIDC = {
    "discoveryUrl": "https://login.example.com/.well-known/openid-configuration",
    "clientId": "runai",
    "scopes": ["openid", "email", "groups"],
    "attributes": {"groups": "memberOf", "email": "mail"},
}


@pytest.fixture
def server() -> Iterator[tuple[str, FakeRunai]]:
    with fake_runai() as running:
        yield running


def props(url: str, fake: FakeRunai, sso: dict[str, Any], secret: str = IDP_SECRET) -> dict[str, Any]:
    connection = connection_to(url, fake)
    return {"spec": idp_spec(Sso.model_validate(sso)), "client_secret": secret, "connection": connection}


def test_an_oidc_provider_added_read_back_and_put_right(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    provider = IdentityProviderProvider()
    created = provider.create(props(url, fake, OIDC))
    stored = fake.store["idps"]["oidc"]
    assert created.id == "oidc"
    assert stored["oidcData"] == {
        "clientId": "runai",
        "discoverDocumentUrl": OIDC["discoveryUrl"],
        "scopes": ["openid", "email", "groups"],
        "clientSecret": IDP_SECRET,
    }
    assert stored["mappers"] == {"groups": "memberOf", "email": "mail"}
    assert created.outs["redirect_uri"].endswith("/auth/realms/runai/broker/oidc/endpoint")

    # Nothing changed: the URL and secret Run:ai never returns keep the stack's values.
    read = provider.read("oidc", created.outs)
    assert not provider.diff("oidc", read.outs, props(url, fake, OIDC)).changes
    # A scope dropped in the UI is drift; up puts it back.
    stored["oidcData"]["scopes"] = ["openid"]
    drifted = provider.read("oidc", created.outs)
    assert provider.diff("oidc", drifted.outs, props(url, fake, OIDC)).changes
    provider.update("oidc", drifted.outs, props(url, fake, OIDC))
    assert fake.store["idps"]["oidc"]["oidcData"]["scopes"] == ["openid", "email", "groups"]
    # A new client secret is an update in place; a new type a new provider.
    assert provider.diff("oidc", read.outs, props(url, fake, OIDC, "rotated")).changes
    saml = props(url, fake, {"type": "saml", "metadataUrl": "https://login.example.com/saml/metadata.xml"})
    assert provider.diff("oidc", read.outs, saml).replaces == ["spec.type"]

    provider.delete("oidc", read.outs)
    assert fake.store["idps"] == {}
    assert provider.read("oidc", read.outs).id == ""  # removed in the UI: added again by up


def test_a_saml_provider_gives_its_entity_id(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    saml = {"type": "saml", "metadataUrl": "https://login.example.com/saml/metadata.xml"}
    created = IdentityProviderProvider().create(props(url, fake, saml, ""))
    assert fake.store["idps"]["saml"]["samlData"] == {"metadataXmlType": "url", "metadataXmlUrl": saml["metadataUrl"]}
    assert created.outs["entity_id"] and created.outs["service_provider_metadata_url"].endswith("/descriptor")


def sso_settings(version: str = "2.22", **sso: Any) -> dict[str, Any]:
    settings = runai_settings()
    settings["runai"] |= {"version": version, "sso": {**OIDC, **sso}}
    return settings


def test_the_provider_is_in_the_graph_with_its_secret() -> None:
    secrets = {"sshPrivateKey": SSH_KEY, "runaiClientSecret": CLIENT_SECRET, "runaiSsoClientSecret": IDP_SECRET}
    recorded, cluster = run_program(sso_settings(), secrets=secrets)
    [idp] = [r for r in recorded.of_type("pulumi-python:dynamic:Resource") if r.name.endswith("-runai-sso")]
    assert idp.inputs["spec"]["oidcData"]["discoverDocumentUrl"] == OIDC["discoveryUrl"]
    assert {"client_secret", "connection"} <= idp.secret_paths
    assert IDP_SECRET not in json.dumps(idp.inputs["spec"])
    assert cluster.runai_sso is not None  # exported as runaiSso


def test_sso_settings_refused() -> None:
    with pytest.raises(StackConfigError, match=r"runai: sso: Run:ai 2\.20 has no identity-provider API"):
        parse_stack(sso_settings("2.20"))
    with pytest.raises(StackConfigError, match=r"runai\.sso: oidc needs discoveryUrl"):
        parse_stack(sso_settings(discoveryUrl=None))
    with pytest.raises(StackConfigError, match=r"runai\.sso\.scopes"):
        parse_stack(sso_settings(scopes=["openid email"]))
    with pytest.raises(StackConfigError, match=r"runai\.sso: saml needs metadataUrl"):
        parse_stack(sso_settings(type="saml"))
    with pytest.raises(StackConfigError, match=r"runai\.sso\.mandatoryClaim\.values"):
        parse_stack(sso_settings(mandatoryClaim={"claim": "team", "values": ["a b"]}))
    no_url = sso_settings()
    del no_url["runai"]["url"], no_url["runai"]["clientId"], no_url["runai"]["clusterId"]
    with pytest.raises(StackConfigError, match=r"runai: sso: needs url"):
        parse_stack(no_url)
    config = parse_stack(sso_settings())
    present = {"sshPrivateKey", "runaiClientSecret"}
    with pytest.raises(StackConfigError, match=r"runaiSsoClientSecret: required with runai\.sso"):
        check_secrets(config, present, present)
