"""A cluster registration at `version` (stack config), against the control
plane `connection` (a secret) names."""

import pulumi

from components.runai.registration import ClusterRegistration

config = pulumi.Config()
registration = ClusterRegistration(
    "registration",
    cluster_name="gpu-check",
    version=config.require("version"),
    domain="runai.example.com",
    cluster_url="https://runai.example.com",
    connection=config.require_secret("connection"),
)
pulumi.export("uuid", registration.uuid)
