#!/usr/bin/env bash
# Join this machine to the cluster. JOIN_COMMAND (exported by the step before,
# never stored) carries the fresh token, CA hash and certificate key that fill
# the JoinConfiguration template. A machine already joined is left alone.
# include: ../remote/preamble.sh
: "${JOIN_TEMPLATE:?}"
: "${JOIN_COMMAND:?}"
: "${KUBE_VIP_MANIFEST=}"
: "${NODE_GENERATION:?}"
: "${OIDC_CA_PEM=}" "${OIDC_CA_FILE=}"
say_as kubeadm-join

if [[ -f $R/etc/kubernetes/kubelet.conf ]]; then
  say "already joined (generation $NODE_GENERATION)"
  exit 0
fi
# A join cut off before the kubelet had its credentials (the machine
# restarted, the session lost) leaves files kubeadm's preflight refuses.
if [[ -f $R/etc/kubernetes/bootstrap-kubelet.conf || -f $R/etc/kubernetes/pki/ca.crt ]]; then
  say "an earlier join stopped half way: kubeadm reset first"
  kubeadm reset -f
fi

read -r -a words <<<"$JOIN_COMMAND"
endpoint=${words[2]}
token="" ca_hash="" cert_key=""
for ((i = 3; i < ${#words[@]}; i++)); do
  case ${words[i]} in
    --token) token=${words[i + 1]} ;;
    --discovery-token-ca-cert-hash) ca_hash=${words[i + 1]} ;;
    --certificate-key) cert_key=${words[i + 1]} ;;
  esac
done
if [[ -z $token || -z $ca_hash ]]; then
  die "the join command from the control plane lacks a token or CA hash"
fi

config=${JOIN_TEMPLATE//@ENDPOINT@/$endpoint}
config=${config//@TOKEN@/$token}
config=${config//@CA_HASH@/$ca_hash}
config=${config//@CERT_KEY@/$cert_key}

# include: oidc-ca.sh
write_oidc_ca
manifests=$R/etc/kubernetes/manifests
install -d -m 0755 "$manifests"
umask 077
file=$(mktemp "$R/etc/kubernetes/kubeadm-join.XXXXXX")
trap 'rm -f "$file"' EXIT
printf '%s\n' "$config" >"$file"
if [[ -n $KUBE_VIP_MANIFEST ]]; then
  printf '%s\n' "$KUBE_VIP_MANIFEST" >"$manifests/kube-vip.yaml"
fi
kubeadm join --config "$file"
say "done"
