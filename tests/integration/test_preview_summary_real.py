"""The reviewers' summary, on output of the real engine."""

from __future__ import annotations

from tests.integration.test_engine import backend, prod_with_one_system_node  # noqa: F401 - fixture
from tools.preview_summary import parse, render
from tools.stackrun import ROOT, init_stack, run, throwaway_secrets, workdir


def test_summary_of_a_real_preview_with_a_policy_violation(backend: dict[str, str]) -> None:  # noqa: F811
    work = workdir("prod", settings=prod_with_one_system_node(), name="it-summary")
    init_stack(work, "prod", backend, throwaway_secrets())
    env = dict(backend, PULUMI_ENABLE_STREAMING_JSON_PREVIEW="true")
    result = run(["preview", "--json", "--stack", "prod", "--policy-pack", str(ROOT / "policy")], work, env)
    assert result.returncode != 0  # the mandatory policy fails the preview
    summary = render(parse(result.stdout))
    assert "runai-cluster:nodes:NodePrep" in summary
    assert "runai-cluster:kubeadm:NodeJoin" in summary
    assert "production-system-nodes" in summary
    assert "production needs at least 2 Run:ai system nodes" in summary
    node_prep_row = next(line for line in summary.splitlines() if "runai-cluster:nodes:NodePrep" in line)
    # The NodePrep component and its 13 RemoteScripts, all creates.
    assert node_prep_row == "| `runai-cluster:nodes:NodePrep` | 14 | 0 | 0 | 0 |"
