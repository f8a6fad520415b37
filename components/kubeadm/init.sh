#!/usr/bin/env bash
# Initialise the first control plane with kubeadm. A machine that already
# has an admin kubeconfig is left alone, so re-runs are harmless.
# include: ../remote/preamble.sh
: "${KUBEADM_CONFIG:?}"
: "${KUBE_VIP_MANIFEST=}"
: "${NODE_GENERATION:?}"
: "${OIDC_CA_PEM=}" "${OIDC_CA_FILE=}"
say_as kubeadm-init

if [[ -f $R/etc/kubernetes/admin.conf ]]; then
  say "already initialised (generation $NODE_GENERATION)"
  exit 0
fi

# include: oidc-ca.sh
write_oidc_ca
manifests=$R/etc/kubernetes/manifests
install -d -m 0755 "$manifests"
config=$R/etc/kubernetes/kubeadm-init.yaml
umask 077
printf '%s\n' "$KUBEADM_CONFIG" >"$config"

if [[ -n $KUBE_VIP_MANIFEST ]]; then
  # During init only super-admin.conf may act before RBAC exists (1.29+).
  printf '%s\n' "$KUBE_VIP_MANIFEST" |
    sed 's#/etc/kubernetes/admin.conf#/etc/kubernetes/super-admin.conf#' \
      >"$manifests/kube-vip.yaml"
fi

kubeadm init --config "$config" --upload-certs

if [[ -n $KUBE_VIP_MANIFEST ]]; then
  printf '%s\n' "$KUBE_VIP_MANIFEST" >"$manifests/kube-vip.yaml"
fi
say "done"
