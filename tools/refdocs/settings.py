"""The settings reference, walked from the stack model: every key with its
type, default and the description written on its field."""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from stacks.base import Chart, Section
from stacks.load import REGISTRY_SECRET, SECRET_KEYS
from stacks.model import StackConfig
from stacks.runai import registry_secret


@dataclass(frozen=True)
class Setting:
    key: str
    type: str
    default: str
    description: str


def _strip(annotation: Any) -> tuple[Any, bool]:
    """The annotation without Annotated and None; whether None was allowed."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        optional = len(members) < len(get_args(annotation))
        inner, _ = _strip(members[0]) if len(members) == 1 else (annotation, False)
        return inner, optional
    return annotation, False


def _section(annotation: Any) -> type[Section] | None:
    """A nested section to flatten (a chart is one setting)."""
    if isinstance(annotation, type) and issubclass(annotation, Section) and annotation is not Chart:
        return annotation
    return None


def type_name(annotation: Any) -> str:
    annotation, _ = _strip(annotation)
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (list, tuple, set, frozenset):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {type_name(args[1])}" if args else "map"
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(arg) for arg in args if arg is not type(None))
    if origin is Literal:
        return " | ".join(f"`{arg}`" for arg in args)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " | ".join(f"`{member.value}`" for member in annotation)
    if annotation is Chart:
        return "chart"
    if _section(annotation):
        return "object"
    return getattr(annotation, "__name__", str(annotation)).lower()


def _value(value: Any) -> str:
    if isinstance(value, Chart):
        return f"`{value.name}` `{value.version}` from `{value.repository}`"
    value = to_jsonable_python(value, by_alias=True)
    if value is None:
        return "none"
    if value == "":
        return "empty"
    return f"`{value if isinstance(value, str) else json.dumps(value)}`"


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return field.default


def _alias(name: str, field: FieldInfo) -> str:
    return field.alias or name


def settings(model: type[BaseModel], prefix: str = "", instance: BaseModel | None = None) -> Iterator[Setting]:
    """Every key under `model`, nested sections flattened (`a.b`, `a[].b`);
    defaults read from `instance` where the section itself has one (a
    validator may fill fields in)."""
    for name, field in model.model_fields.items():
        key = prefix + _alias(name, field)
        value = getattr(instance, name) if instance is not None else _default(field)
        shown = "required" if value is PydanticUndefined else _value(value)
        annotation, optional = _strip(field.annotation)
        origin, args = get_origin(annotation), get_args(annotation)
        nested, shape = _section(annotation), ""
        if origin is list and args and _section(_strip(args[0])[0]):
            nested, shape = _section(_strip(args[0])[0]), "[]"
        elif origin is dict and args and _section(_strip(args[1])[0]):
            nested, shape = _section(_strip(args[1])[0]), ".<name>"
        if nested is None:
            yield Setting(key, type_name(field.annotation), shown, field.description or "")
            continue
        if optional or shape or field.description or field.is_required():
            kind = {"[]": "list", ".<name>": "map"}.get(shape, "object")
            yield Setting(key + shape, kind, shown, field.description or nested_summary(nested))
        yield from settings(nested, f"{key}{shape}.", value if isinstance(value, BaseModel) else None)


def nested_summary(model: type[BaseModel]) -> str:
    return (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def _cell(text: str) -> str:
    """One table cell: on one line, a bare `|` escaped."""
    return " ".join(text.split()).replace(" | ", " \\| ")


def _row(*cells: str) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def render() -> str:
    """The settings reference: one table per top-level key, then the secrets."""
    lines: list[str] = []
    for name, field in StackConfig.model_fields.items():
        key = _alias(name, field)
        annotation, _ = _strip(field.annotation)
        section = _section(annotation)
        listed = section is None  # `nodes`: a list of sections
        if listed:
            section = _section(_strip(get_args(annotation)[0])[0])
        assert section is not None, f"{key}: a top-level setting is a section or a list of sections"
        summary = field.description or nested_summary(section)
        lines += [f"### `{key}[]`" if listed else f"### `{key}`", ""]
        lines += [summary, ""] if summary else []
        lines += ["| key | type | default | what |", "|---|---|---|---|"]
        instance = None if listed else _default(field)
        for setting in settings(section, "", instance if isinstance(instance, BaseModel) else None):
            lines.append(_row(f"`{setting.key}`", setting.type, setting.default, setting.description))
        lines.append("")
    lines += ["### Secrets (`pulumi config set --secret KEY`)", "", "| key | when | what |", "|---|---|---|"]
    secrets = {**SECRET_KEYS, registry_secret("<name>"): REGISTRY_SECRET}
    lines += [_row(f"`{key}`", secret.when, secret.what) for key, secret in secrets.items()]
    return "\n".join(lines) + "\n"
