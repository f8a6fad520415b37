#!/usr/bin/env bash
# Undo kubeadm on a machine leaving the cluster.
# include: ../remote/preamble.sh
say_as reset

if [[ -f $R/etc/kubernetes/kubelet.conf || -f $R/etc/kubernetes/admin.conf ]]; then
  kubeadm reset -f
  rm -rf "$R/etc/cni/net.d"
  say "done"
else
  say "nothing to undo"
fi
