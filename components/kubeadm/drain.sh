#!/usr/bin/env bash
# Drain a node before it leaves the cluster (run on a control plane).
set -euo pipefail
: "${NODE_NAME:?}"
: "${DRAIN_TIMEOUT:=600s}"

export KUBECONFIG=/etc/kubernetes/admin.conf
if kubectl get node "$NODE_NAME" >/dev/null 2>&1; then
  kubectl drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout="$DRAIN_TIMEOUT"
else
  echo "drain: node $NODE_NAME is not in the cluster"
fi
