"""The GitHub workflows: actionlint (with shellcheck) passes, and the parts
that keep stacks safe (per-stack concurrency, the stack matrix, the pinned
CLI) are where they should be."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools.stackrun import example_stacks

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
SITE_RUNNER = ["self-hosted", "linux", "cluster-site"]


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the bare key `on` as the boolean True.
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job["steps"]


def run_lines(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(job))


def index_of(job: dict[str, Any], needle: str) -> int:
    for i, step in enumerate(steps(job)):
        if needle in step.get("run", "") or needle in step.get("uses", ""):
            return i
    raise AssertionError(f"no step with {needle!r}")


def pinned_pulumi_version() -> str:
    for line in (ROOT / "tools" / "versions.env").read_text().splitlines():
        if line.startswith("PULUMI_VERSION="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("PULUMI_VERSION missing from tools/versions.env")


@pytest.mark.process
def test_actionlint_passes() -> None:
    script = ROOT / "tools" / "actionlint.sh"
    version = next(
        line.split("=", 1)[1] for line in script.read_text().splitlines() if line.startswith("ACTIONLINT_VERSION=")
    )
    # Where the script keeps it (TOOLCHAIN_CACHE is shared with tools/toolchain.sh).
    cache = Path(
        os.environ.get("TOOLCHAIN_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "runai-cluster-toolchain"
    )
    expected = cache / f"actionlint-v{version}" / "actionlint"
    if shutil.which("go") is None and not expected.exists():
        pytest.skip("actionlint is not built and Go is not installed to build it")
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed; actionlint would not check the run: blocks")
    result = subprocess.run([str(script)], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, f"actionlint failed:\n{result.stdout}\n{result.stderr}"
    binary = result.stdout.splitlines()[0]
    assert binary == str(expected)
    assert expected.is_file()
    # A second run reuses the cached binary.
    again = subprocess.run([str(script)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and "building" not in again.stderr
    assert again.stdout.splitlines()[0] == binary


def test_pr_workflow() -> None:
    wf = load("pr.yml")
    assert "pull_request" in wf["on"]
    test, preview = wf["jobs"]["test"], wf["jobs"]["preview"]
    assert "make test" in run_lines(test)

    assert preview["needs"] == "test"
    assert preview["runs-on"] == SITE_RUNNER
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"] == example_stacks()
    assert preview["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}
    assert preview["permissions"]["pull-requests"] == "write"
    assert preview["env"]["PULUMI_BACKEND_URL"] == "${{ secrets.PULUMI_BACKEND_URL }}"
    assert preview["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}"

    action = steps(preview)[index_of(preview, "pulumi/actions@")]
    assert action["uses"] == "pulumi/actions@v6"
    assert action["with"]["command"] == "preview"
    assert action["with"]["comment-on-pr"] is True
    assert action["with"]["diff"] is True
    assert action["with"]["policyPacks"] == "policy"
    assert action["with"]["stack-name"] == "${{ matrix.stack }}"
    assert action["with"]["work-dir"] == "."
    # The action must find our CLI on PATH and not download another.
    assert str(action["with"]["pulumi-version"]) == pinned_pulumi_version()
    assert index_of(preview, "make --no-print-directory toolchain") < index_of(preview, "pulumi/actions@")

    summary = steps(preview)[index_of(preview, "tools.preview_summary")]
    assert summary["if"] == "${{ !cancelled() }}"
    assert '>> "$GITHUB_STEP_SUMMARY"' in summary["run"]
    assert "--policy-pack policy" in summary["run"]


def test_main_workflow_deploys_dev_only() -> None:
    wf = load("main.yml")
    assert wf["on"] == {"push": {"branches": ["main"]}}
    assert "make test" in run_lines(wf["jobs"]["test"])
    up = wf["jobs"]["up-dev"]
    assert up["needs"] == "test"
    assert up["runs-on"] == SITE_RUNNER
    assert up["concurrency"] == {"group": "pulumi-dev", "cancel-in-progress": False}
    assert up["env"]["STACK"] == "dev"
    assert 'pulumi up --yes --non-interactive --diff --stack "$STACK" --policy-pack policy' in run_lines(up)
    assert index_of(up, "toolchain") < index_of(up, "pulumi up")


def test_drift_workflow() -> None:
    wf = load("drift.yml")
    assert wf["on"]["schedule"][0]["cron"]
    assert "workflow_dispatch" in wf["on"]
    drift = wf["jobs"]["drift"]
    assert drift["runs-on"] == SITE_RUNNER
    assert drift["strategy"]["matrix"]["stack"] == example_stacks()
    assert drift["concurrency"] == {"group": "pulumi-${{ matrix.stack }}", "cancel-in-progress": False}
    assert "pulumi refresh --preview-only --expect-no-changes" in run_lines(drift)


def test_stack_jobs_share_one_concurrency_group_per_stack() -> None:
    groups = set()
    for name in ("pr.yml", "main.yml", "drift.yml"):
        for job in load(name)["jobs"].values():
            if job["runs-on"] == SITE_RUNNER:
                groups.add(job["concurrency"]["group"])
                assert job["concurrency"]["cancel-in-progress"] is False
    assert groups == {"pulumi-${{ matrix.stack }}", "pulumi-dev"}


def test_actions_are_pinned_to_major_tags() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        for job in load(path.name)["jobs"].values():
            for step in steps(job):
                if "uses" in step:
                    ref = step["uses"].rsplit("@", 1)[1]
                    assert ref.startswith("v") and ref[1:].isdigit(), f"{path.name}: {step['uses']}"
