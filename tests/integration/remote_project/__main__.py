"""Two RemoteScripts on a test host, every value from stack config: one
prepared "at" the Kubernetes version (in `env`, which re-runs nothing), and an
upgrade that runs only when the version changes."""

import json

import pulumi

from components.remote.command import RemoteScript, as_json_object, step

config = pulumi.Config()
marker = config.require("marker")
connection = config.require_secret("privateKey").apply(
    lambda key: json.dumps(
        {
            "target": {
                "host": "127.0.0.1",
                "port": config.require_int("port"),
                "user": "root",
                "host_key": config.require("hostKey"),
            },
            "private_key": key,
            "bastion": None,
            "connect_timeout": 5,
            "dial_attempts": 2,
            "dial_retry_delay": 0.5,
        }
    )
)
script = RemoteScript(
    "check",
    connections=as_json_object({"node": connection}),
    hosts={"node": "root@127.0.0.1"},
    create_steps=[step("create", "node", f"#!/usr/bin/env bash\nset -euo pipefail\necho created >> {marker}\n")],
    delete_steps=[step("delete", "node", f"#!/usr/bin/env bash\nset -euo pipefail\necho deleted >> {marker}\n")],
    triggers=[config.require("trigger")],
    env={"PREPARED_AT": config.require("kubernetesVersion")},
)
upgrade = RemoteScript(
    "upgrade",
    connections=as_json_object({"node": connection}),
    hosts={"node": "root@127.0.0.1"},
    create_steps=[
        step(
            "upgrade",
            "node",
            "#!/usr/bin/env bash\nset -euo pipefail\n"
            f"echo upgraded to {config.require('kubernetesVersion')} from $PREPARED_AT >> {marker}.upgrades\n",
        )
    ],
    env={"PREPARED_AT": config.require("kubernetesVersion")},
    run_on_create=False,
    kubernetes_version=config.require("kubernetesVersion"),
    opts=pulumi.ResourceOptions(depends_on=[script]),
)
pulumi.export("id", script.id)
