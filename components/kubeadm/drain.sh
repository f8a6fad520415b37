#!/usr/bin/env bash
# Drain a node before it leaves the cluster (run on a control plane).
# include: ../remote/preamble.sh
: "${NODE_NAME:?}"
: "${DRAIN_TIMEOUT:=600s}"
say_as drain

export KUBECONFIG=$R/etc/kubernetes/admin.conf
if kubectl get node "$NODE_NAME" >/dev/null 2>&1; then
  kubectl drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout="$DRAIN_TIMEOUT"
else
  say "node $NODE_NAME is not in the cluster"
fi
