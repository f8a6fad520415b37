"""Three control planes behind the site's load balancer (Debian's haproxy on
the lab network): the API keeps answering with one of them off, and
`destroy` leaves every machine reset."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.machines.conftest import Lab, failure, lab_of, ready, wait_until
from tools.lab.machines_lab import layout, pulumi, stack_work
from tools.lab.network import BALANCER_ADDRESS


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from lab_of(tmp_path_factory, layout(4, control_planes=3))


def test_three_control_planes_behind_the_balancer(ha: Lab) -> None:
    result = ha.up()
    assert result.returncode == 0, failure(result)
    nodes = ha.nodes()
    assert sorted(name for name in nodes if name.startswith("lab-cp-")) == ["lab-cp-1", "lab-cp-2", "lab-cp-3"]
    assert all(ready(node) for node in nodes.values())
    server = ha.kubectl("config", "view", "-o", "jsonpath={.clusters[0].cluster.server}").stdout
    assert server == f"https://{BALANCER_ADDRESS}:6443"


def test_the_api_keeps_answering_with_one_control_plane_off(ha: Lab) -> None:
    ha.lab.stop_machine("lab-cp-2")
    # Through the balancer: a request may meet the stopped server once
    # before haproxy's health check takes it out.
    wait_until(lambda: ha.kubectl("get", "--raw", "/readyz", check=False).returncode == 0, "API through the balancer")
    for _ in range(10):
        assert ha.kubectl("get", "nodes", check=False).returncode == 0


def test_destroy_leaves_the_machines_reset(ha: Lab) -> None:
    ha.lab.ensure_machines(ha.specs)  # lab-cp-2 back on: every machine takes part
    work = stack_work(ha.lab, ha.specs)
    result = pulumi(work, "destroy", "--yes", "--skip-preview", capture=True)
    assert result.returncode == 0, failure(result)
    for machine in ha.lab.machines():
        assert not (machine.root / "etc/kubernetes/kubelet.conf").exists(), f"{machine.spec.name} was not reset"
