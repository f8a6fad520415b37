#!/usr/bin/env bash
# Undo kubeadm on a machine leaving the cluster.
set -euo pipefail

if [ -f /etc/kubernetes/kubelet.conf ] || [ -f /etc/kubernetes/admin.conf ]; then
  kubeadm reset -f
  rm -rf /etc/cni/net.d
  echo "reset: done"
else
  echo "reset: nothing to undo"
fi
