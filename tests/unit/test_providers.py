"""What every dynamic provider shares: typed inputs that let a value unknown
in preview through, and state written before the snake_case convention read
the same, stored again under the new names by an update that changes
nothing on the control plane, and never replaced."""

from __future__ import annotations

import pytest
from pulumi.output import Unknown
from pydantic import ValidationError

from components.runai.identity import AdminPasswordProvider, ApplicationInputs
from components.runai.registration import ClusterRegistrationInputs, ClusterRegistrationProvider
from tests.support.fake_runai import connection_to, fake_runai
from tests.unit.test_runai_identity import password_props
from tests.unit.test_runai_install import props


def test_inputs_are_typed_and_a_preview_may_not_know_them_yet() -> None:
    pending = Unknown()
    given = ClusterRegistrationInputs.of({**props("{}"), "connection": pending, "__provider": "pickled"})
    assert given.connection is pending and given.cluster_url == "https://runai.example.com"
    with pytest.raises(ValidationError, match="cluster_url"):
        ClusterRegistrationInputs.of({key: value for key, value in props("{}").items() if key != "cluster_url"})


def test_old_names_read_the_same() -> None:
    old = {"name": "ci", "subjectType": "service-account", "admin": "{}", "clientId": "ci", "ruleId": "7"}
    given = ApplicationInputs.of(old)
    assert (given.subject_type, given.client_id, given.rule_id, given.kind) == ("service-account", "ci", "7", "apps")
    assert ApplicationInputs.stored_before_the_convention(old)
    assert not ApplicationInputs.stored_before_the_convention(given.props())


def test_a_registration_stored_under_old_names_is_stored_again_in_place() -> None:
    provider = ClusterRegistrationProvider()
    with fake_runai() as (url, fake):
        connection = connection_to(url, fake)
        created = provider.create(props(connection))
        renamed = {"cluster_url": "clusterUrl", "client_secret": "clientSecret", "chart_repo_url": "chartRepoUrl"}
        stored = {renamed.get(key, key): value for key, value in created.outs.items()}
        diff = provider.diff(created.id, stored, props(connection))
        assert diff.changes and diff.replaces == []
        before = len(fake.requests)
        updated = provider.update(created.id, stored, props(connection)).outs
        assert [method for method, *_ in fake.requests[before:] if method != "GET"] == ["POST"]  # a token only
        assert updated["client_secret"] == created.outs["client_secret"] and not renamed.values() & updated.keys()
        assert not provider.diff(created.id, updated, props(connection)).changes


def test_an_administrator_password_under_old_names_is_stored_again() -> None:
    provider = AdminPasswordProvider()
    new = password_props("https://runai.example.com")
    old = {**new, "caFile": None, "initialPassword": new["initial_password"]}
    del old["ca_file"], old["initial_password"]
    diff = provider.diff("test@run.ai", old, new)
    assert diff.changes and diff.replaces == []
    assert not provider.diff("test@run.ai", new, new).changes
