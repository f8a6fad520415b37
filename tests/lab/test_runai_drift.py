"""The Run:ai path on the real engine against the local fake control plane:
`up` replaces the first administrator's printed password with the stack's,
makes the stack's own application (System administrator on the tenant, its
secret out of the state) and, as that application, creates the pools, a CI
pipeline's application (its secret a secret output), departments, projects, access rules, compute
resources, workload policies, registry credentials (whose password stays
out of the state), a local user (her temporary password a secret output) and
the share's data source; a quota changed in the UI
behind the stack's back shows as drift on refresh and the next `up` puts the
stack's value back; `destroy` removes them."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from tests.support.fake_runai import CLUSTER_ID, FakeRunai, fake_runai
from tools.lab.__main__ import PROJECT, STACK, LabState, stack_settings, stack_workdir, up
from tools.lab.sshd import free_port
from tools.stackrun import checked, engine_env, init_stack, policy_args, run

PASSWORD = "lab-registry-password-31f7"
ADMIN_PASSWORD = "lab-admin-password-c4d2"


def gpus(fake: FakeRunai, collection: str, name: str) -> float:
    item = next(i for i in fake.store[collection].values() if i["name"] == name)
    return float(item["resources"][0]["gpu"]["deserved"])


RUNAI_VERSION = "2.23"


def test_refresh_finds_a_quota_changed_in_the_ui_and_up_restores_it(lab: Path) -> None:
    assert up(lab, 4, free_port(), free_port(), free_port()) == 0
    state = LabState.load(lab)
    assert state is not None
    # The lab's Kubernetes (1.32) is inside what Run:ai 2.23 supports (1.31 to
    # 1.34), not 2.24's: 2.23's applications stand for the stack's accounts.
    with fake_runai(FakeRunai(version=RUNAI_VERSION), tls=lab / "runai-tls") as (url, fake):
        settings = stack_settings(state)
        settings[f"{PROJECT}:scheduler"] = {"kind": "runai"}
        settings[f"{PROJECT}:runai"] = {
            "url": url,
            "version": RUNAI_VERSION,
            "caFile": str(lab / "runai-tls" / "ca.crt"),
            "clusterId": CLUSTER_ID,
            "registries": [{"name": "lab", "url": "registry.lab.example", "user": "puller"}],
        }
        org = copy.deepcopy(settings[f"{PROJECT}:org"])
        # A CI pipeline's application, submitting to speech.
        org["departments"][0]["projects"][1]["access"].append({"application": "ci-pipeline", "role": "researcher"})
        settings[f"{PROJECT}:org"] = {
            **org,
            "applications": ["ci-pipeline"],
            "computeResources": [{"name": f"gpu-{n}", "gpus": n} for n in range(3)],
            # Run:ai's create-user flow: a local user, then the access rule naming her.
            "localUsers": ["alice@example.com"],
            # Failed trainings are not retried behind the user's back.
            "workloadPolicies": [
                {"workload": "trainings", "defaults": {"backoffLimit": 0}},
                {"workload": "workspaces", "project": "vision", "rules": {"gpuDevicesRequest": {"max": 2}}},
            ],
        }
        work = stack_workdir(lab, state, settings)
        env = engine_env()
        init_stack(work, STACK, env, {"runaiAdminPassword": ADMIN_PASSWORD, "runaiRegistryPassword-lab": PASSWORD})
        log = checked(["up", "--yes", "--skip-preview", "--stack", STACK, *policy_args(STACK)], work, env)
        assert fake.admin_password == ADMIN_PASSWORD
        apps = {a["name"]: a for a in fake.store["apps"].values()}
        assert set(apps) == {"runai-cluster-stack", "ci-pipeline"}
        app, pipeline = apps["runai-cluster-stack"], apps["ci-pipeline"]
        assert {p["name"] for p in fake.store["nodepools"].values()} == {"lab"}
        assert {d["name"] for d in fake.store["departments"].values()} == {"research"}
        assert {p["name"]: p["status"]["namespace"] for p in fake.store["projects"].values()} == {
            "vision": "runai-vision",
            "speech": "runai-speech",
        }
        assert gpus(fake, "projects", "vision") == 2
        rules = {(r["scopeName"], r["subjectId"], r["roleName"]) for r in fake.store["accessRules"].values()}
        assert rules == {
            ("tenant", "test@run.ai", "System administrator"),  # the fresh control plane's
            ("1001", "runai-cluster-stack", "System administrator"),  # the stack's, on the same tenant
            ("research", "research-leads", "Department administrator"),
            ("vision", "alice@example.com", "L1 researcher"),
            ("speech", "bob@example.com", "Viewer"),
            ("speech", "ci-pipeline", "L1 researcher"),
        }
        assert sorted(c["meta"]["name"] for c in fake.store["compute"].values()) == ["gpu-0", "gpu-1", "gpu-2"]
        assert fake.store["policies"]["trainings/tenant/"]["policy"]["defaults"] == {"backoffLimit": 0}
        [vision_policy] = [p for key, p in fake.store["policies"].items() if key.startswith("workspaces/project/")]
        vision_id = next(p["id"] for p in fake.store["projects"].values() if p["name"] == "vision")
        assert vision_policy["meta"]["projectId"] == int(vision_id)  # an int32, not the id's string
        [registry] = fake.store["dockerregistry"].values()
        assert registry["spec"]["password"] == PASSWORD
        backend = Path(os.environ["PULUMI_BACKEND_URL"].removeprefix("file://"))
        state = "".join(f.read_text(errors="ignore") for f in backend.rglob("*.json"))
        assert PASSWORD not in state and ADMIN_PASSWORD not in state
        assert app["secret"] not in state and pipeline["secret"] not in state
        assert not [s for s in (ADMIN_PASSWORD, PASSWORD, app["secret"], pipeline["secret"]) if s in log]
        [alice] = fake.store["users"].values()
        assert alice["username"] == "alice@example.com" and alice["tempPassword"] not in state
        outputs = json.loads(checked(["stack", "output", "--json", "--show-secrets", "--stack", STACK], work, env))
        assert outputs["runaiUserPasswords"] == {"alice@example.com": alice["tempPassword"]}
        assert outputs["runaiApplication"] == "runai-cluster-stack"
        assert outputs["runaiApplicationSecrets"] == {"ci-pipeline": pipeline["secret"]}
        [source] = fake.store["nfs"].values()
        assert source["meta"]["name"] == "datasets" and source["spec"]["path"] == "/exports/research"

        # Someone raises a quota in the UI.
        vision = next(p for p in fake.store["projects"].values() if p["name"] == "vision")
        raised = {**vision["resources"][0], "gpu": {**vision["resources"][0]["gpu"], "deserved": 3}}
        fake.put_behind_our_back("projects", "vision", {"resources": [raised]})
        drift = run(["preview", "--refresh", "--diff", "--stack", STACK], work, env)
        assert drift.returncode == 0, drift.stdout + drift.stderr
        assert "lab-runai-org-project-vision" in drift.stdout and "deserved" in drift.stdout
        assert gpus(fake, "projects", "vision") == 3  # a preview changes nothing

        checked(["up", "--refresh", "--yes", "--skip-preview", "--stack", STACK, *policy_args(STACK)], work, env)
        assert gpus(fake, "projects", "vision") == 2
        checked(["preview", "--refresh", "--expect-no-changes", "--stack", STACK], work, env)
        assert ADMIN_PASSWORD not in (work / f"Pulumi.{STACK}.yaml").read_text()

        checked(["destroy", "--yes", "--skip-preview", "--stack", STACK], work, env)
        # Everything the stack made is gone; the cluster registered by hand and
        # the administrator (with the stack's password) stay.
        assert list(fake.store["clusters"]) == [CLUSTER_ID]
        assert [r["subjectId"] for r in fake.store["accessRules"].values()] == ["test@run.ai"]
        assert all(not items for kind, items in fake.store.items() if kind not in ("clusters", "accessRules"))
        assert fake.admin_password == ADMIN_PASSWORD
