#!/usr/bin/env bash
# kubeadm's certificates on one control plane.
#   PHASE=probe   print "CERT <name> <notAfter, seconds since the epoch>" for
#                 each certificate kubeadm renews (read-only)
#   PHASE=renew   `kubeadm certs renew all` (for a lifetime other than
#                 kubeadm's year: with the cluster's ClusterConfiguration from
#                 kubeadm-config and that lifetime), then each control-plane static
#                 pod restarted in turn (the kubelet stops a pod whose manifest
#                 is gone and starts it again when it is back; not every
#                 component reloads its certificates): each waited for, by
#                 its container in the runtime, then probe
# Parameters (assigned above this header by components/scripts.py):
#   PHASE, STATIC_POD_TIMEOUT (seconds a static pod may take to stop, or to run
#   again, after its manifest left or came back)
# Exported by the runner: CERTIFICATE_DAYS (the lifetime renewed certificates
# get; 365 is kubeadm's own).
# include: ../remote/preamble.sh
: "${PHASE:?}"
: "${STATIC_POD_TIMEOUT:?}"
: "${CERTIFICATE_DAYS:=365}"
say_as certificates
pki=$R/etc/kubernetes/pki

not_after() {
  date -d "$(openssl x509 -enddate -noout | cut -d= -f2)" +%s
}

probe() {
  local file name conf data
  for file in apiserver apiserver-kubelet-client apiserver-etcd-client front-proxy-client \
    etcd/server etcd/peer etcd/healthcheck-client; do
    if [[ -f $pki/$file.crt ]]; then
      printf 'CERT %s %s\n' "$file" "$(not_after <"$pki/$file.crt")"
    fi
  done
  for name in admin super-admin controller-manager scheduler; do
    conf=$R/etc/kubernetes/$name.conf
    [[ -f $conf ]] || continue
    data=$(awk '$1 == "client-certificate-data:" { print $2; exit }' "$conf")
    if [[ -n $data ]]; then
      printf 'CERT %s.conf %s\n' "$name" "$(base64 -d <<<"$data" | not_after)"
    fi
  done
}

manifests=$R/etc/kubernetes/manifests
aside=""
put_back() {
  if [[ -n $aside ]]; then
    mv "$aside"/*.yaml "$manifests/" 2>/dev/null || true
    rmdir "$aside"
  fi
}
# Whatever happens, no manifest stays aside (its component would stay down).
trap put_back EXIT

# The running container of a static pod's component (crictl's ID), if any.
running() {
  [[ -n "$(crictl ps --name "^$1\$" --state running -q 2>/dev/null)" ]]
}

stopped() {
  ! running "$1"
}

restart_static_pods() {
  local component
  aside=$(mktemp -d "$R/etc/kubernetes/restarting.XXXXXX")
  for component in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    [[ -f $manifests/$component.yaml ]] || continue
    say "restarting $component"
    mv "$manifests/$component.yaml" "$aside/"
    wait_up_to "$STATIC_POD_TIMEOUT" 1 "$component to stop" stopped "$component"
    mv "$aside/$component.yaml" "$manifests/"
    wait_up_to "$STATIC_POD_TIMEOUT" 1 "$component to run again" running "$component"
  done
}

# The cluster's configuration as kubeadm keeps it (kubeadm-config), with the
# stack's certificate lifetime: renewal takes the lifetime from there.
renew_for_days() {
  local cluster config
  cluster=$(kubectl --kubeconfig "$R/etc/kubernetes/admin.conf" get configmap kubeadm-config -n kube-system \
    -o 'jsonpath={.data.ClusterConfiguration}')
  config=$(umask 077 && mktemp "$R/etc/kubernetes/kubeadm-renew.XXXXXX")
  printf '%s\ncertificateValidityPeriod: %sh0m0s\n' \
    "$(grep -v '^certificateValidityPeriod:' <<<"$cluster" || true)" "$((CERTIFICATE_DAYS * 24))" >"$config"
  kubeadm certs renew all --config "$config" || {
    rm -f "$config"
    return 1
  }
  rm -f "$config"
}

case $PHASE in
  probe) probe ;;
  renew)
    if [[ $CERTIFICATE_DAYS == 365 ]]; then
      kubeadm certs renew all
    else
      renew_for_days
    fi
    restart_static_pods
    probe
    ;;
  *)
    die "unknown phase '$PHASE'"
    ;;
esac
