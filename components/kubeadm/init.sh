#!/usr/bin/env bash
# Initialise the first control plane with kubeadm. A machine that already
# has an admin kubeconfig is left alone, so re-runs are harmless.
set -euo pipefail
: "${KUBEADM_CONFIG:?}"
: "${KUBE_VIP_MANIFEST=}"
: "${NODE_GENERATION:?}"
: "${OIDC_CA_PEM=}" "${OIDC_CA_FILE=}"

if [ -f /etc/kubernetes/admin.conf ]; then
  echo "kubeadm-init: already initialised (generation $NODE_GENERATION)"
  exit 0
fi

# include: oidc-ca.sh
write_oidc_ca
install -d -m 0755 /etc/kubernetes/manifests
config=/etc/kubernetes/kubeadm-init.yaml
umask 077
printf '%s\n' "$KUBEADM_CONFIG" > "$config"

if [ -n "$KUBE_VIP_MANIFEST" ]; then
  # During init only super-admin.conf may act before RBAC exists (1.29+).
  printf '%s\n' "$KUBE_VIP_MANIFEST" \
    | sed 's#/etc/kubernetes/admin.conf#/etc/kubernetes/super-admin.conf#' \
    > /etc/kubernetes/manifests/kube-vip.yaml
fi

kubeadm init --config "$config" --upload-certs

if [ -n "$KUBE_VIP_MANIFEST" ]; then
  printf '%s\n' "$KUBE_VIP_MANIFEST" > /etc/kubernetes/manifests/kube-vip.yaml
fi
echo "kubeadm-init: done"
