"""The plumbing every provider of a Run:ai object shares (node pools,
departments, projects, access rules, assets, users, applications, workload
policies and settings, identity providers, the cluster's registration):
typed inputs, credentials in the state, create, read (so `pulumi refresh`
sees what was changed in the UI), a diff, update in place and delete. A
provider states only what differs: how its object is made, fetched, written
and removed, and which changes need a new one."""

from __future__ import annotations

import json
from typing import Any, ClassVar, Generic, TypeVar, cast

from pulumi import dynamic

from components.providers import ProviderInputs
from components.runai.api import Credentials, RunaiApi


def api_for(connection: str) -> RunaiApi:
    return RunaiApi(Credentials(**json.loads(connection)))


def observed(wanted: Any, current: Any, write_only: bool = False) -> Any:
    """The fields the stack manages, as the control plane has them now
    (fields the server adds, such as ids and timestamps, left out). With
    `write_only`, a field the server never returns keeps the stack's value
    instead of reading as removed."""
    if isinstance(wanted, dict) and isinstance(current, dict):
        return {
            key: value if write_only and key not in current else observed(value, current.get(key), write_only)
            for key, value in wanted.items()
        }
    if isinstance(wanted, list) and isinstance(current, list) and len(wanted) == len(current):
        return [observed(w, c, write_only) for w, c in zip(wanted, current, strict=True)]
    return current


class RunaiInputs(ProviderInputs):
    # How to reach the control plane (JSON: url, client_id, client_secret,
    # ca_file; secret). `read` and `delete` get only what is stored, so new
    # credentials (a rotated secret, the stack's application made again)
    # are stored by an update that calls nothing else.
    connection: str = ""

    def credentials(self) -> str:
        return self.connection


Inputs = TypeVar("Inputs", bound=RunaiInputs)


class RunaiProvider(dynamic.ResourceProvider, Generic[Inputs]):
    """Create, read, diff, update and delete of one Run:ai object, in terms
    of what a subclass states. Its instances hold nothing: the state stores
    a reference to the class, so a subclass keeps its name and module."""

    inputs: ClassVar[type[RunaiInputs]]

    def api(self, given: Inputs) -> RunaiApi:
        return api_for(given.connection)

    # What differs from one object to the next.

    def make(self, api: RunaiApi, given: Inputs) -> tuple[str, dict[str, Any]]:
        """Create the object: its id and the outputs only creation gives."""
        raise NotImplementedError

    def fetch(self, api: RunaiApi, id_: str, given: Inputs) -> dict[str, Any] | None:
        """The object as the control plane has it; None when it is gone."""
        raise NotImplementedError

    def observe(self, given: Inputs, current: dict[str, Any]) -> dict[str, Any]:
        """The properties `current` changes (drift shows as a diff)."""
        return {}

    def replaces(self, old: Inputs, new: Inputs) -> list[str]:
        """The properties whose change needs a new object."""
        return []

    def changed(self, old: Inputs, new: Inputs) -> bool:
        """Whether the object the stack wants differs from the stored one."""
        raise NotImplementedError

    def write(self, id_: str, old: Inputs, new: Inputs) -> dict[str, Any]:
        """Put right what `changed` found (calling nothing when only the
        credentials moved); the outputs it makes again."""
        raise NotImplementedError

    def remove(self, api: RunaiApi, id_: str, given: Inputs) -> None:
        raise NotImplementedError

    # The plumbing.

    def _given(self, props: dict[str, Any]) -> Inputs:
        return cast(Inputs, self.inputs.of(props))

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        given = self._given(props)
        id_, made = self.make(self.api(given), given)
        return dynamic.CreateResult(id_=id_, outs={**given.props(), **made})

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        given = self._given(props)
        current = self.fetch(self.api(given), id_, given)
        if current is None:  # deleted in the UI: the next up makes it again
            return dynamic.ReadResult(id_="", outs={})
        return dynamic.ReadResult(id_=id_, outs={**given.props(), **self.observe(given, current)})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        old, new = self._given(olds), self._given(news)
        replaces = self.replaces(old, new)
        changes = (
            bool(replaces)
            or self.changed(old, new)
            or old.credentials() != new.credentials()
            or self.inputs.stored_before_the_convention(olds)
        )
        # Run:ai knows an object by its name: a replacement made before the
        # old one is gone would find the old one.
        return dynamic.DiffResult(changes=changes, replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        old, new = self._given(olds), self._given(news)
        return dynamic.UpdateResult(outs={**new.props(), **old.outputs(), **self.write(id_, old, new)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        given = self._given(props)
        self.remove(self.api(given), id_, given)
