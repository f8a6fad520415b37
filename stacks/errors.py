"""Validation errors in words: the key named, a pattern said as what it
wants, an unknown key answered with the nearest known one."""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

# What each `pattern=` of the model asks for, in words (a test holds every
# pattern of the model to this table).
PATTERN_WORDS: dict[str, str] = {
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$": "a lowercase DNS label (a-z, 0-9, '-', at most 63 characters)",
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$": "lowercase letters, digits and inner '-'",
    r"^[a-z][-a-z0-9]*[a-z0-9]$": "lowercase letters, digits and '-', starting with a letter",
    r"^[a-z][-_a-z0-9]*[a-z0-9]$": "lowercase letters, digits, '-' and '_', starting with a letter",
    r"^\d+[smhdwy]$": "a duration such as 15d (a number and one of s, m, h, d, w, y)",
    r"^\d+\.\d+\.\d+$": "a version MAJOR.MINOR.PATCH such as 1.2.3",
    r"^https?://": "an http:// or https:// URL",
    r"^https://": "an https:// URL",
    r"^https://\S+$": "an https:// URL without spaces",
    r"^/": "an absolute path",
    r"^[A-Za-z0-9.-]+$": "letters, digits, '.' and '-'",
    r"^[^@\s]+@[^@\s]+$": "an email address",
    r".*[a-zA-Z].*": "text with at least one letter",
    r"^\S*[a-zA-Z]\S*$": "one word with at least one letter and no spaces",
    r"^[a-zA-Z0-9-._:]+$": "letters, digits, '-', '.', '_' and ':'",
    r"^[-a-zA-Z0-9_]+$": "letters, digits, '-' and '_'",
    r"^(Retain|Delete)$": "Retain or Delete",
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$": "a lowercase UUID",
}


def model_inside(annotation: Any) -> Any:
    """The model a key path goes on into: through Optional, lists and maps."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            models = [arg for arg in get_args(annotation) if model_inside(arg) is not None]
            return model_inside(models[0]) if models else None
        elif origin in (list, dict):
            annotation = get_args(annotation)[-1]
        else:
            return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the model accepts where `loc` points (list indexes and map
    keys passed over)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        fields = {field.alias or name: field for name, field in current.model_fields.items()}
        if part in fields:
            current = model_inside(fields[part].annotation)
    return [] if current is None else [field.alias or name for name, field in current.model_fields.items()]


def nearest(key: str, known: list[str]) -> str | None:
    match = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return match[0] if match else None


def unknown_key(key: str, known: list[str]) -> str:
    near = nearest(key, known)
    hint = f"did you mean `{near}`?" if near else "see docs/settings.md for the settings there are"
    return f"unknown setting; {hint}"


def key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith(("function-", "enum[", "value_error")):
            continue  # pydantic's names for validators, not config keys
        else:
            path += f".{part}" if path else str(part)
    return path or "(stack)"


def _message(model: type[BaseModel], item: Any) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        return unknown_key(str(item["loc"][-1]), _known_keys(model, item["loc"][:-1]))
    if kind == "missing":
        return "required setting is missing"
    if kind == "string_pattern_mismatch":
        pattern = item["ctx"]["pattern"]
        return f"{item['input']!r} must be {PATTERN_WORDS.get(pattern, f'of the form {pattern}')}"
    return str(item["msg"]).removeprefix("Value error, ")


def format_errors(model: type[BaseModel], error: ValidationError) -> str:
    """One line per error: `key.path: what is wrong`."""
    return "\n".join(f"{key_path(item['loc'])}: {_message(model, item)}" for item in error.errors())
