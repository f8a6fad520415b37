"""What every dynamic provider of ours shares: typed inputs, and one
convention for naming them.

The convention: a provider's input and output properties are named in
snake_case (`cluster_url`, `client_secret`, `renew_within_days`). Pulumi
hands a dynamic provider its property names as written, with no translation,
so they are what the provider's Python reads and what the state stores;
snake_case is Python's own spelling and was already that of most of the state
(every node's `RemoteScript`). Bodies sent to an API keep that API's names:
a Run:ai object's `spec`, a workload policy's `meta` and `policy` hold
Run:ai's camelCase fields as values, never as property names.

Each provider reads what it is handed (`create`, `read`, `update` and
`delete` get resolved values; `diff` and `check` run in preview too, where a
value another resource has yet to make is still unknown) through a subclass
of `ProviderInputs`, which validates it and gives it types.

State written before the convention named some properties in camelCase.
Such state reads the same through `LEGACY`, and `diff` reports it as changed
so that one in-place update stores it under the new names (it calls nothing
that changes an object): the program reads outputs by their new names, and
a resource left unchanged keeps the outputs it had.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pulumi.output import Unknown
from pydantic import BaseModel, ConfigDict, ValidatorFunctionWrapHandler, field_validator, model_validator


class ProviderInputs(BaseModel):
    """One provider's properties. Keys the engine adds (`__provider`) are
    ignored; properties it left out (a None is never sent) take defaults."""

    model_config = ConfigDict(extra="ignore", frozen=True, arbitrary_types_allowed=True)

    # Old name -> new name, for state written before the convention.
    LEGACY: ClassVar[Mapping[str, str]] = {}
    # Properties the provider makes (outputs only): kept by an update that
    # does not make them again.
    OUTPUTS: ClassVar[tuple[str, ...]] = ()

    @field_validator("*", mode="wrap")
    @classmethod
    def _unknown_passes(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        return value if isinstance(value, Unknown) else handler(value)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, props: Any) -> Any:
        if not isinstance(props, Mapping) or not cls.LEGACY.keys() & props.keys():
            return props
        return {cls.LEGACY.get(key, key): value for key, value in props.items()}

    @classmethod
    def of(cls, props: Mapping[str, Any]) -> Self:
        return cls.model_validate(props)

    @classmethod
    def stored_before_the_convention(cls, props: Mapping[str, Any]) -> bool:
        return bool(cls.LEGACY.keys() & props.keys())

    def props(self) -> dict[str, Any]:
        """The properties as the state stores them (under their new names)."""
        return self.model_dump()

    def outputs(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.OUTPUTS}
