#!/usr/bin/env bash
# Print the cluster's admin kubeconfig (kept as a Pulumi secret).
set -euo pipefail
cat /etc/kubernetes/admin.conf
