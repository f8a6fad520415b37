"""Test tiers by marker. Each directory is a tier; within tests/unit, a test
that starts a process or a local server is marked `process` or `ssh` and
leaves the fast tier. The fast tier (`unit`, `policy`) is held to that: a
process or a moto server started there fails the test."""

from __future__ import annotations

import _posixsubprocess
import os
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

TESTS = Path(__file__).resolve().parent
DIRECTORY_TIERS = {
    "unit": "unit",
    "policy": "policy",
    "integration": "engine",
    "lab": "lab",
    "machines": "machines",
    "scheduler": "scheduler",
}
# Markers a test in tests/unit carries instead of `unit`.
LEAVE_UNIT = ("process", "ssh")
FAST = ("unit", "policy")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        directory = Path(str(item.path)).relative_to(TESTS).parts[0]
        tier = DIRECTORY_TIERS.get(directory)
        if tier and not (tier == "unit" and any(item.get_closest_marker(m) for m in LEAVE_UNIT)):
            item.add_marker(tier)


def _refuse(what: str) -> Any:
    def refused(*_: Any, **__: Any) -> Any:
        raise AssertionError(f"the fast tier starts no {what}: mark the test `process` (or `ssh`)")

    return refused


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _fast_guard(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _fast_guard(item):
        yield


@contextmanager
def _fast_guard(item: pytest.Item) -> Iterator[None]:
    with ExitStack() as stack:
        if any(item.get_closest_marker(tier) for tier in FAST):
            stack.enter_context(mock.patch.object(subprocess.Popen, "__init__", _refuse("process")))
            # The ways around Popen: multiprocessing's spawn, os.system and the forks.
            stack.enter_context(mock.patch.object(_posixsubprocess, "fork_exec", _refuse("process")))
            for call in ("system", "fork", "forkpty", "posix_spawn", "posix_spawnp"):
                stack.enter_context(mock.patch.object(os, call, _refuse("process")))
            # moto's S3 server runs in a thread, not a process, yet is one.
            stack.enter_context(mock.patch("moto.server.ThreadedMotoServer.start", _refuse("moto server")))
        yield
