"""The kubeconfig researchers start from on the Run:ai path: the cluster's
address and CA, and a user who signs in through Run:ai's identity service
(the `runai` CLI or kubectl's OIDC flow fills in the tokens)."""

from __future__ import annotations

import pulumi
import yaml

from stacks.runai import RunaiConfig


def researcher_kubeconfig(runai: RunaiConfig, cluster_name: str, admin: str) -> str:
    """From the admin kubeconfig, everything but its credentials."""
    config = yaml.safe_load(admin)
    current = next(c for c in config["contexts"] if c["name"] == config["current-context"])["context"]
    cluster = next(c for c in config["clusters"] if c["name"] == current["cluster"])["cluster"]
    user = "runai-authenticated-user"
    template = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": cluster}],
        "users": [
            {
                "name": user,
                "user": {
                    "auth-provider": {
                        "name": "oidc",
                        "config": {
                            "client-id": "runai-cli",
                            "idp-issuer-url": runai.issuer_url,
                            "redirect-uri": f"{runai.url}/oauth-code",
                            "auth-flow": "remote-browser",
                        },
                    }
                },
            }
        ],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user}}],
        "current-context": cluster_name,
    }
    return yaml.safe_dump(template, sort_keys=False)


def researcher_kubeconfig_output(
    runai: RunaiConfig, cluster_name: str, admin: pulumi.Output[str]
) -> pulumi.Output[str]:
    # The address and CA are not secret; the admin's credentials never leave.
    return pulumi.Output.unsecret(admin.apply(lambda text: researcher_kubeconfig(runai, cluster_name, text)))
