"""The generated reference pages match the code they are generated from."""

from __future__ import annotations

from stacks.model import StackConfig
from tools.graph import edges, mermaid
from tools.mocked_program import Recorded
from tools.refdocs import BEGIN, END, PAGES, ROOT, regenerated, stale
from tools.refdocs.settings import settings


def test_generated_pages_are_current() -> None:
    assert stale() == [], "run `make docs`"


def test_a_hand_edit_of_the_generated_part_is_stale() -> None:
    for page in PAGES:
        text = (ROOT / page).read_text()
        edited = text.replace(END, f"| a row edited by hand |\n{END}")
        assert regenerated(page, edited) == text


def test_every_setting_is_in_the_reference() -> None:
    text = (ROOT / "docs/settings.md").read_text()
    generated = text[text.index(BEGIN) : text.index(END)]
    # Rows name keys within their top-level section's table.
    keys = [s.key.split(".", 1)[1] for s in settings(StackConfig) if "." in s.key]
    missing = [key for key in keys if f"| `{key}` |" not in generated]
    assert len(keys) > 300
    assert missing == []
    assert "`registryPassword`" not in generated and "`sshPrivateKey`" in generated


def test_every_rule_is_in_the_policy_reference() -> None:
    text = (ROOT / "docs/policies.md").read_text()
    for rule in ("control-plane-quorum", "supported-versions", "no-plain-secrets", "production-protection"):
        assert f"`{rule}`" in text


def test_the_graph_is_drawn_from_the_program(prod: Recorded) -> None:
    graph = edges(prod)
    assert {("Preflight", "NodePrep"), ("NodePrep", "ControlPlaneInit"), ("RunaiInstall", "Organisation")} <= graph
    # Edges another path implies are left out.
    assert ("Preflight", "ControlPlaneInit") not in graph
    assert mermaid(graph).startswith("flowchart TD\n")
