"""Refusals in words: a pattern said as what it wants, an unknown key
answered with the nearest known one, settings that were never read gone."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from stacks.errors import PATTERN_WORDS, model_inside
from stacks.load import StackConfigError, check_secrets, parse_stack
from stacks.model import StackConfig
from tests.support.settings import fixture, refused


def _constraints(item: Any) -> Iterator[str]:
    """Patterns in a field's metadata or anywhere inside its annotation."""
    pattern = getattr(item, "pattern", None)
    if isinstance(pattern, str):
        yield pattern
    for inner in [*getattr(item, "metadata", []), *get_args(item)]:
        yield from _constraints(inner)


def _patterns(model: type[BaseModel], seen: set[type[BaseModel]]) -> Iterator[str]:
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        yield from _constraints(field)
        yield from _constraints(field.annotation)
        nested = model_inside(field.annotation)
        if nested is not None:
            yield from _patterns(nested, seen)


def test_every_pattern_has_words() -> None:
    patterns = set(_patterns(StackConfig, set()))
    assert len(patterns) >= 10  # the walk found the model's patterns
    assert patterns <= set(PATTERN_WORDS), patterns - set(PATTERN_WORDS)


def test_pattern_error_in_words() -> None:
    settings = fixture("small")
    settings["storage"] = {"shares": [{"department": "research", "name": "data", "path": "relative/dir"}]}
    message = refused(settings)
    assert "storage.shares[0].path: 'relative/dir' must be an absolute path" in message
    assert "^/" not in message


@pytest.mark.parametrize(
    ("path", "typo", "suggested"),
    [
        (("cluster",), "enviroment", "environment"),
        (("nodes", 0), "nodePol", "nodePool"),
        (("addons", "gpuOperator"), "migStrategie", "migStrategy"),
    ],
)
def test_unknown_key_suggests_the_nearest(path: tuple[Any, ...], typo: str, suggested: str) -> None:
    settings = fixture("small")
    section = settings
    for part in path:
        section = section.setdefault(part, {}) if isinstance(part, str) else section[part]
    section[typo] = "x"
    where = ".".join(str(p) for p in path).replace(".0", "[0]")
    assert f"{where}.{typo}: unknown setting; did you mean `{suggested}`?" in refused(settings)


def test_unknown_key_with_nothing_near_points_at_the_reference() -> None:
    settings = fixture("small")
    settings["cluster"]["zzzz"] = 1
    assert "cluster.zzzz: unknown setting; see docs/settings.md" in refused(settings)


def test_private_registry_has_no_username() -> None:
    settings = fixture("small")
    settings["packages"] = {"privateRegistry": {"host": "registry.example.com", "username": "puller"}}
    assert "packages.privateRegistry.username: unknown setting" in refused(settings)


def test_registry_password_is_not_a_setting() -> None:
    config = parse_stack(fixture("small"))
    with pytest.raises(StackConfigError) as caught:
        check_secrets(config, {"sshPrivateKey", "registryPassword"}, {"sshPrivateKey", "registryPassword"})
    assert "registryPassword: unknown setting" in str(caught.value)


def test_a_plain_setting_set_as_secret_is_named() -> None:
    config = parse_stack(fixture("small"))
    with pytest.raises(StackConfigError) as caught:
        check_secrets(config, {"sshPrivateKey", "cluster"}, {"sshPrivateKey", "cluster"})
    assert "cluster: must not be a secret (it is a plain setting)" in str(caught.value)
