#!/usr/bin/env bash
# One phase of one node's Kubernetes upgrade, the way kubeadm's upgrade guide
# orders it. Every phase compares first, so a rollout that failed half way
# resumes where it stopped and a finished node is left alone:
#   kubeadm   (on the node) package source moved to the new minor, kubeadm
#             installed; on the first control plane an etcd snapshot, then
#             `kubeadm upgrade apply`; elsewhere `kubeadm upgrade node`
#   drain     (on the first control plane) Run:ai's drain taint when Run:ai
#             schedules, cordon, drain; what was already there is recorded on
#             the Node so uncordon gives back only what we took
#   kubelet   (on the node) kubelet and kubectl installed, kubelet restarted
#   uncordon  (on the first control plane) wait until the Node is Ready at
#             the new version, then undo what drain recorded
#
# Parameters, assigned above this header by components/scripts.py:
#   PHASE, NODE_NAME, ROLE (first-control-plane, control-plane or worker)
#   KUBERNETES_VERSION, KUBERNETES_MINOR, KUBERNETES_PACKAGE_REVISION
# and exported by the runner (a change of these alone re-runs nothing):
#   KUBERNETES_APT_REPO, KUBERNETES_APT_KEY_URL
#   DRAIN_TAINT         Run:ai's drain taint (runai=drain:NoExecute), put on
#                       before draining; empty without Run:ai
#   DRAIN_TIMEOUT, READY_TIMEOUT   kubectl durations (600s)
# PREP_ROOT (environment, default empty) prefixes every file path, for tests.
set -euo pipefail

: "${PHASE:?}"
: "${NODE_NAME:?}"
: "${ROLE:?}"
: "${KUBERNETES_VERSION:?}"
: "${KUBERNETES_MINOR:?}"
: "${KUBERNETES_PACKAGE_REVISION:?}"
: "${KUBERNETES_APT_REPO:?}"
: "${KUBERNETES_APT_KEY_URL:?}"
: "${DRAIN_TAINT=}"
: "${DRAIN_TIMEOUT:?}"
: "${READY_TIMEOUT:?}"
: "${PREP_ROOT=}"

R=$PREP_ROOT
export DEBIAN_FRONTEND=noninteractive
export KUBECONFIG=$R/etc/kubernetes/admin.conf
changed=()
package=$KUBERNETES_VERSION-$KUBERNETES_PACKAGE_REVISION
# What drain took from the Node, for uncordon to give back.
undo_key=runai-cluster.io/upgrade-undo

say() { printf 'upgrade %s %s: %s\n' "$NODE_NAME" "$PHASE" "$*"; }
die() {
  printf 'upgrade %s %s: %s\n' "$NODE_NAME" "$PHASE" "$*" >&2
  exit 1
}

# include: ../node_prep/helpers.sh

done_here() {
  [[ "$(installed_version kubelet)" == "$package" ]]
}

node_field() {
  kubectl get node "$NODE_NAME" -o "jsonpath=$1"
}

node_at_target() {
  [[ "$(node_field '{.status.nodeInfo.kubeletVersion}')" == "v$KUBERNETES_VERSION" ]]
}

static_pods_at_target() {
  grep -q "kube-apiserver:v$KUBERNETES_VERSION\$" "$R/etc/kubernetes/manifests/kube-apiserver.yaml"
}

snapshot_etcd() {
  local dir=/var/lib/kubeadm-upgrade file id
  file=$dir/etcd-before-v$KUBERNETES_VERSION.db
  if [[ -s $R$file ]]; then
    say "etcd snapshot $file already taken"
    return 0
  fi
  id=$(crictl ps --name '^etcd$' --state running -q | head -n 1)
  [[ -n $id ]] || die "no running etcd container to snapshot: is etcd stacked on this control plane?"
  say "etcd snapshot to $file"
  # The etcd image ships etcdctl; /var/lib/etcd is the pod's host mount.
  crictl exec "$id" etcdctl --endpoints=https://127.0.0.1:2379 \
    --cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt \
    --key=/etc/kubernetes/pki/etcd/server.key snapshot save /var/lib/etcd/upgrade-snapshot.db >/dev/null
  mkdir -p "$R$dir"
  mv "$R/var/lib/etcd/upgrade-snapshot.db" "$R$file"
  changed+=(etcd-snapshot)
}

phase_kubeadm() {
  if [[ $ROLE == worker ]] && done_here; then
    say "kubelet already at $package"
    return 0
  fi
  local keyring=/etc/apt/keyrings/kubernetes-apt-keyring.gpg line
  fetch_key "$KUBERNETES_APT_KEY_URL" "$keyring"
  line=$(apt_line "$keyring" "$KUBERNETES_APT_REPO")
  write_file 0644 "$R/etc/apt/sources.list.d/kubernetes.list" <<<"$line"
  if ((WROTE)); then SOURCES_CHANGED=1; fi
  if ((SOURCES_CHANGED)); then
    apt_update
    changed+=(apt-sources)
  fi
  ensure_packages kubeadm hold "kubeadm=$package"
  if [[ $ROLE != worker ]] && static_pods_at_target; then
    say "control-plane static pods already at v$KUBERNETES_VERSION"
  elif [[ $ROLE == first-control-plane ]]; then
    snapshot_etcd
    say "kubeadm upgrade apply v$KUBERNETES_VERSION"
    kubeadm upgrade apply "v$KUBERNETES_VERSION" --yes
    changed+=(upgrade-apply)
  else
    say "kubeadm upgrade node"
    kubeadm upgrade node
    changed+=(upgrade-node)
  fi
}

phase_drain() {
  if node_at_target; then
    say "Node already runs kubelet v$KUBERNETES_VERSION"
    return 0
  fi
  if [[ -z "$(node_field "{.metadata.annotations.runai-cluster\\.io/upgrade-undo}")" ]]; then
    local undo=()
    if [[ "$(node_field '{.spec.unschedulable}')" != true ]]; then undo+=(uncordon); fi
    if [[ -n $DRAIN_TAINT ]] &&
      ! node_field '{range .spec.taints[*]}{.key}={.value}:{.effect}{"\n"}{end}' | grep -qxF "$DRAIN_TAINT"; then
      undo+=(untaint)
    fi
    undo+=(recorded)
    kubectl annotate node "$NODE_NAME" --overwrite "$undo_key=${undo[*]}" >/dev/null
  fi
  if [[ -n $DRAIN_TAINT ]]; then
    say "tainting $DRAIN_TAINT: Run:ai moves its workloads off"
    kubectl taint nodes "$NODE_NAME" "$DRAIN_TAINT" --overwrite >/dev/null
  fi
  say "draining"
  kubectl drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout="$DRAIN_TIMEOUT"
  changed+=(drained)
}

phase_kubelet() {
  if done_here; then
    say "kubelet already at $package"
    return 0
  fi
  ensure_packages kubelet hold "kubelet=$package" "kubectl=$package"
  systemctl daemon-reload
  systemctl restart kubelet
  changed+=(kubelet-restarted)
}

phase_uncordon() {
  local undo waited=0
  kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout="$READY_TIMEOUT" >/dev/null
  until node_at_target; do
    ((waited < ${READY_TIMEOUT%s})) || die "Node still reports kubelet $(node_field '{.status.nodeInfo.kubeletVersion}')"
    sleep 5
    waited=$((waited + 5))
  done
  undo=$(node_field "{.metadata.annotations.runai-cluster\\.io/upgrade-undo}")
  if [[ -z $undo ]]; then
    say "Ready at v$KUBERNETES_VERSION"
    return 0
  fi
  if [[ " $undo " == *" uncordon "* ]]; then kubectl uncordon "$NODE_NAME" >/dev/null; fi
  if [[ " $undo " == *" untaint "* ]]; then kubectl taint nodes "$NODE_NAME" "$DRAIN_TAINT-" >/dev/null; fi
  kubectl annotate node "$NODE_NAME" "$undo_key-" >/dev/null
  say "Ready at v$KUBERNETES_VERSION; gave back: $undo"
  changed+=(uncordoned)
}

[[ $KUBERNETES_VERSION == "$KUBERNETES_MINOR".* ]] ||
  die "KUBERNETES_VERSION $KUBERNETES_VERSION is not in minor $KUBERNETES_MINOR"
[[ -z $DRAIN_TAINT || $DRAIN_TAINT =~ ^[A-Za-z0-9./_-]+=[A-Za-z0-9._-]*:NoExecute$ ]] ||
  die "DRAIN_TAINT '$DRAIN_TAINT' is not key=value:NoExecute"
[[ $DRAIN_TIMEOUT =~ ^[0-9]+s$ && $READY_TIMEOUT =~ ^[0-9]+s$ ]] || die "timeouts are whole seconds like 600s"
case $PHASE in
  kubeadm) phase_kubeadm ;;
  drain) phase_drain ;;
  kubelet) phase_kubelet ;;
  uncordon) phase_uncordon ;;
  *) die "unknown phase '$PHASE'" ;;
esac
summary=nothing
if ((${#changed[@]})); then
  printf -v summary '%s, ' "${changed[@]}"
  summary=${summary%, }
fi
say "done (changed: $summary)"
