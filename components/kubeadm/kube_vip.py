"""The kube-vip static pod that holds the control plane's virtual IP (ARP mode)."""

from __future__ import annotations

import yaml

from stacks.cluster import ApiEndpoint


def render_kube_vip(endpoint: ApiEndpoint) -> str:
    env = {
        "vip_arp": "true",
        "port": str(endpoint.port),
        "vip_interface": endpoint.interface,
        "vip_cidr": "32",
        "cp_enable": "true",
        "cp_namespace": "kube-system",
        "vip_leaderelection": "true",
        "address": endpoint.host,
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "kube-vip", "namespace": "kube-system"},
        "spec": {
            "hostNetwork": True,
            "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["kubernetes"]}],
            "containers": [
                {
                    "name": "kube-vip",
                    "image": endpoint.kube_vip_image,
                    "args": ["manager"],
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "securityContext": {"capabilities": {"add": ["NET_ADMIN", "NET_RAW"]}},
                    "volumeMounts": [{"mountPath": "/etc/kubernetes/admin.conf", "name": "kubeconfig"}],
                }
            ],
            "volumes": [{"name": "kubeconfig", "hostPath": {"path": "/etc/kubernetes/admin.conf"}}],
        },
    }
    return yaml.safe_dump(pod, sort_keys=False)
