"""What made a program of thousands of resources slow to evaluate, cut
before it makes its first resource: costs of the pinned Pulumi Python SDK
that grow with the square of the program's size or repeat the same work for
every resource, and the garbage collector's full passes. Each SDK
replacement gives the answers of what it replaces, and is left out where
the SDK's internals are not what it replaces.

- The SDK tracks every Output it makes in a deque, and each Output removes
  itself from it once resolved: a linear scan, over the tens of thousands a
  512-node program holds at once. `PendingOutputs` removes in constant time;
  the order never mattered (the SDK only waits until it is empty), and later
  SDK releases track them in a set for the same reason.
- Before each dependency it records, the SDK checks for a cycle by walking
  everything the dependency depends on, with a nested generator per level:
  after the first control plane's init, that is every node's preparation,
  for each of several dependencies per node. `_reachable` walks the other
  way, from the resource being registered through what depends on it.
- It reads a resource class's type hints again for every resource made and
  every typed input sent (`get_type_hints`, per class and property): the
  answers depend on the class alone, so they are kept per class.
- The program keeps nearly everything it makes until it ends (resources,
  their Outputs and futures): a full collection walks all of it to free
  little, and at the interpreter's default thresholds a 512-node program
  ran a dozen of them, some 40% of its evaluation time. Young objects are
  still collected as often as before."""

from __future__ import annotations

import functools
import gc
from collections import deque
from collections.abc import Hashable, Iterable
from typing import Any

from pulumi import _types
from pulumi.runtime import resource_cycle_breaker
from pulumi.runtime.settings import SETTINGS


class PendingOutputs:
    """What the SDK asks of its deque of pending Outputs: append, remove,
    popleft (any one), clear and len; a set underneath."""

    def __init__(self, items: Iterable[Hashable] = ()) -> None:
        self._items = set(items)

    def append(self, item: Hashable) -> None:
        self._items.add(item)

    def remove(self, item: Hashable) -> None:
        try:
            self._items.remove(item)
        except KeyError:
            raise ValueError(item) from None  # as deque.remove: the SDK catches it

    def popleft(self) -> Any:
        return self._items.pop()

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


# Where each resource keeps what was recorded to depend on it (the SDK keeps
# the other direction on the dependent, `_direct_computed_dependencies`).
_DEPENDENTS = "_recorded_dependents"
_NONE: frozenset[Any] = frozenset()
_sdk_add_dep = resource_cycle_breaker._add_dep


def _add_dep(from_resource: Any, to_resource: Any) -> None:
    dependents = getattr(to_resource, _DEPENDENTS, None)
    if dependents is None:
        dependents = set()
        setattr(to_resource, _DEPENDENTS, dependents)
    dependents.add(from_resource)
    _sdk_add_dep(from_resource, to_resource)


def _reachable(from_resource: Any, to_resource: Any) -> bool:
    """Whether `to_resource` is `from_resource` or one of its recorded
    dependencies, direct or not. Walked backwards from `to_resource`, the
    resource being registered: few resources depend on it yet, while what
    it depends on may reach back to every node."""
    if to_resource is from_resource:
        return True
    seen = {to_resource}
    todo = [to_resource]
    while todo:
        for dependent in getattr(todo.pop(), _DEPENDENTS, _NONE) - seen:
            if dependent is from_resource:
                return True
            seen.add(dependent)
            todo.append(dependent)
    return False


# Full collections after this many collections of the middle generation
# (the interpreter's default: 10).
_FULL_COLLECTION_AFTER = 1000


def apply() -> None:
    """Install the replacements (pending Outputs made so far, the stack's
    own, move over) and make full collections rare."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _FULL_COLLECTION_AFTER)
    if isinstance(SETTINGS.outputs, deque):
        SETTINGS.outputs = PendingOutputs(SETTINGS.outputs)
    breaker = resource_cycle_breaker
    if all(callable(getattr(breaker, name, None)) for name in ("_add_dep", "_reachable")):
        breaker._add_dep, breaker._reachable = _add_dep, _reachable
    for name in ("_types_from_py_properties", "resource_types"):
        found = getattr(_types, name, None)
        if callable(found) and not hasattr(found, "cache_info"):
            setattr(_types, name, functools.cache(found))
