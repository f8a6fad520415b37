#!/usr/bin/env bash
# Print a fresh join command on an existing control plane. For a control-plane
# join the certificates are uploaded again: their key expires after two hours.
# include: ../remote/preamble.sh
: "${CONTROL_PLANE_JOIN:?}"

export KUBECONFIG=$R/etc/kubernetes/admin.conf
command=$(kubeadm token create --ttl 30m --print-join-command)
if [[ $CONTROL_PLANE_JOIN == true ]]; then
  key=$(kubeadm init phase upload-certs --upload-certs | tail -n 1)
  command="$command --control-plane --certificate-key $key"
fi
printf '%s\n' "$command"
