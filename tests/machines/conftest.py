"""The machines tier: real machines (systemd-nspawn, Debian 12, systemd,
sshd, containerd), the lab's air-gapped site (package mirror, registry, S3)
and `pulumi up` of the lab stack with `bootstrap: kubeadm` onto them. One lab
serves the whole tier; its tests run in file order and change it step by
step, as an operator would."""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tools.go_cache import built
from tools.lab.machines import Machine, MachineSpec
from tools.lab.machines_lab import KUBERNETES_VERSION, MachinesLab, layout, machines_down, pulumi, stack_work, up
from tools.lab.network import LabNetwork
from tools.stackrun import failure_text

pytestmark = pytest.mark.machines

# A patch release the lab also builds: the HA module's upgrade rolls to it.
UPGRADE_TO = "1.32.9"


@pytest.fixture(scope="session", autouse=True)
def builds_ahead() -> Iterator[None]:
    """What later modules and the scheduler tier build (the upgrade's
    release, the KAI Scheduler), started in the background while the first
    lab mostly waits on its kubelets: on a cold machine their compiling
    overlaps it. A caller needing one waits for it (tools/go_cache builds
    one at a time); cached builds return at once."""

    def build() -> None:
        for script, *args in (("lab_binaries.sh", UPGRADE_TO), ("scheduler_binaries.sh",)):
            # A failure here is left to the caller needing it: it builds
            # again and reports why.
            with contextlib.suppress(subprocess.CalledProcessError):
                built(script, *args)

    ahead = threading.Thread(target=build, daemon=True)
    ahead.start()
    yield
    ahead.join()  # no build left running behind the session


class Lab:
    """The running lab and the machines the stack names now."""

    def __init__(self, lab: MachinesLab, specs: list[MachineSpec]) -> None:
        self.lab = lab
        self.specs = specs

    def up(self) -> subprocess.CompletedProcess[str]:
        return up(self.lab, self.specs, capture=True)

    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.lab.kubectl(*args, check=check, stdin=stdin)

    def apply(self, *manifests: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-", stdin=json.dumps({"kind": "List", "apiVersion": "v1", "items": manifests}))

    def json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def nodes(self) -> dict[str, dict[str, Any]]:
        return {node["metadata"]["name"]: node for node in self.json("get", "nodes")["items"]}

    def wait_ready(self, what: str, *selection: str, timeout: int = 300) -> None:
        self.kubectl("wait", "--for=condition=Ready", what, *selection, f"--timeout={timeout}s")

    def changes(self) -> list[dict[str, Any]]:
        """The steps a preview of the lab stack's current settings would take."""
        result = pulumi(stack_work(self.lab, self.specs), "preview", "--json", capture=True)
        assert result.returncode == 0, failure(result)
        return [step for step in json.loads(result.stdout)["steps"] if step["op"] != "same"]

    def machine(self, name: str) -> Machine:
        return next(m for m in self.lab.machines() if m.spec.name == name)


def failure(result: subprocess.CompletedProcess[str]) -> str:
    return failure_text(result)


def ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def wait_until(check: Any, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout:.0f}s")
        time.sleep(2)


def lab_of(
    factory: pytest.TempPathFactory, specs: list[MachineSpec], releases: tuple[str, ...] = (KUBERNETES_VERSION,)
) -> Iterator[Lab]:
    """A lab of its own for one test module (its site serving `releases`),
    destroyed and stopped after it."""
    if LabNetwork().exists():
        pytest.fail("a machines lab is running (its network namespace exists): `make lab-down` first")
    root = factory.mktemp("machines")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PULUMI_BACKEND_URL", f"file://{root / 'backend'}")
        (root / "backend").mkdir()
        directory = root / "lab"
        machines = MachinesLab(directory)
        try:
            machines.prepare(releases)
            yield Lab(machines, specs)
        finally:
            machines_down(directory)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from lab_of(tmp_path_factory, layout(3))
