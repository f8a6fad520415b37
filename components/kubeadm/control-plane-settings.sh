#!/usr/bin/env bash
# Apply the stack's API-server settings to a running control plane: kubeadm
# only reads them at init and join, so a flag added later (researcher
# authentication's OIDC flags, say) or a rotated OIDC CA would otherwise never
# arrive. The way kubeadm's "reconfiguring a cluster" guide does it: the
# cluster's kubeadm-config ConfigMap updated from the first control plane (so
# joins and upgrades keep the settings), then this node's kube-apiserver
# manifest written again (the kubelet restarts the pod), then wait until it
# answers.
#
# Parameters (assigned above this header by components/scripts.py): FIRST
# (true on the first control plane), LIVEZ_TIMEOUT (seconds). Exported by the
# runner: KUBEADM_CONFIG (this node's InitConfiguration and the cluster's
# ClusterConfiguration), OIDC_CA_PEM (may be empty), OIDC_CA_FILE.
# include: ../remote/preamble.sh
: "${FIRST:?}"
: "${LIVEZ_TIMEOUT:?}"
: "${KUBEADM_CONFIG:?}"
: "${OIDC_CA_PEM=}"
: "${OIDC_CA_FILE=}"
say_as control-plane-settings

# include: oidc-ca.sh
write_oidc_ca
umask 077
config=$(mktemp "$R/etc/kubernetes/kubeadm-settings.XXXXXX")
trap 'rm -f "$config"' EXIT
printf '%s\n' "$KUBEADM_CONFIG" >"$config"
if [[ $FIRST == true ]]; then
  kubeadm init phase upload-config kubeadm --config "$config"
fi
kubeadm init phase control-plane apiserver --config "$config"
waited=0
until kubectl --kubeconfig "$R/etc/kubernetes/admin.conf" get --raw /livez >/dev/null 2>&1; do
  if ((waited >= LIVEZ_TIMEOUT)); then
    die "kube-apiserver not live ${LIVEZ_TIMEOUT}s after its new manifest"
  fi
  sleep 5
  waited=$((waited + 5))
done
say "kube-apiserver live with the stack's settings"
