#!/usr/bin/env bash
# One phase of one node's upgrade: of Kubernetes (UPGRADE=kubernetes), the way
# kubeadm's upgrade guide orders it, or of the NVIDIA driver installed on the
# host (UPGRADE=nvidia-driver). Every phase compares first, so a rollout that
# failed half way resumes where it stopped and a finished node is left alone:
#   kubeadm   (on the node) package source moved to the new minor, kubeadm
#             installed; on the first control plane an etcd snapshot, then
#             `kubeadm upgrade apply`; elsewhere `kubeadm upgrade node`
#   drain     (on the first control plane) Run:ai's drain taint when Run:ai
#             schedules, cordon, drain; what was already there is recorded on
#             the Node so uncordon gives back only what we took, and so is
#             the Node's boot ID
#   kubelet   (on the node) kubelet and kubectl installed, kubelet restarted
#   driver    (on the node) the driver package installed, then a reboot when
#             the loaded module is not the new one; prints "rebooting" or
#             "loaded" last (captured as REBOOT for uncordon)
#   uncordon  (on the first control plane) wait until the Node is Ready (and,
#             after a reboot, reports a new boot ID), mark it done, then undo
#             what drain recorded
#
# Parameters, assigned above this header by components/scripts.py:
#   UPGRADE, PHASE, NODE_NAME, ROLE (first-control-plane, control-plane or
#   worker); for kubernetes KUBERNETES_VERSION, KUBERNETES_MINOR,
#   KUBERNETES_PACKAGE_REVISION; for nvidia-driver NVIDIA_DRIVER_PACKAGE and
#   NVIDIA_DRIVER_VERSION (an apt version: 570.172.08-0ubuntu1 loads module
#   570.172.08)
# and exported by the runner (a change of these alone re-runs nothing):
#   KUBERNETES_APT_REPO, KUBERNETES_APT_KEY_URL
#   IGNORE_PREFLIGHT_ERRORS  kubeadm checks reported, not enforced (comma list)
#   DRAIN_TAINT         Run:ai's drain taint (runai=drain:NoExecute), put on
#                       before draining; empty without Run:ai
#   DRAIN_TIMEOUT, READY_TIMEOUT   kubectl durations (600s)
# include: ../remote/preamble.sh

: "${UPGRADE:?}"
: "${PHASE:?}"
: "${NODE_NAME:?}"
: "${ROLE:?}"
: "${KUBERNETES_VERSION=}"
: "${KUBERNETES_MINOR=}"
: "${KUBERNETES_PACKAGE_REVISION=}"
: "${KUBERNETES_APT_REPO=}"
: "${KUBERNETES_APT_KEY_URL=}"
: "${IGNORE_PREFLIGHT_ERRORS=}"
: "${NVIDIA_DRIVER_PACKAGE=}"
: "${NVIDIA_DRIVER_VERSION=}"
: "${REBOOT=}"
: "${DRAIN_TAINT=}"
: "${DRAIN_TIMEOUT:?}"
: "${READY_TIMEOUT:?}"
say_as "upgrade $NODE_NAME $PHASE"
export DEBIAN_FRONTEND=noninteractive
export KUBECONFIG=$R/etc/kubernetes/admin.conf
changed=()
package=$KUBERNETES_VERSION-$KUBERNETES_PACKAGE_REVISION
# What drain took from the Node, for uncordon to give back; the boot ID then.
undo_key=runai-cluster.io/upgrade-undo
boot_key=runai-cluster.io/upgrade-boot-id
# The driver a Node runs, set once its rollout finished there.
driver_key=runai-cluster.io/nvidia-driver
driver_target=$NVIDIA_DRIVER_PACKAGE=$NVIDIA_DRIVER_VERSION

# include: ../node_prep/helpers.sh

done_here() {
  [[ "$(installed_version kubelet)" == "$package" ]]
}

node_field() {
  kubectl get node "$NODE_NAME" -o "jsonpath=$1"
}

node_at_target() {
  if [[ $UPGRADE == kubernetes ]]; then
    [[ "$(node_field '{.status.nodeInfo.kubeletVersion}')" == "v$KUBERNETES_VERSION" ]]
  else
    [[ "$(node_field "{.metadata.annotations.runai-cluster\\.io/nvidia-driver}")" == "$driver_target" ]]
  fi
}

boot_id() {
  node_field '{.status.nodeInfo.bootID}'
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
  apt_source "$KUBERNETES_APT_KEY_URL" /etc/apt/keyrings/kubernetes-apt-keyring.gpg "$KUBERNETES_APT_REPO" \
    /etc/apt/sources.list.d/kubernetes.list
  refresh_sources
  ensure_packages kubeadm hold "kubeadm=$package"
  if [[ $ROLE != worker ]] && static_pods_at_target; then
    say "control-plane static pods already at v$KUBERNETES_VERSION"
  elif [[ $ROLE == first-control-plane ]]; then
    snapshot_etcd
    say "kubeadm upgrade apply v$KUBERNETES_VERSION"
    kubeadm upgrade apply "v$KUBERNETES_VERSION" --yes ${IGNORE_PREFLIGHT_ERRORS:+"--ignore-preflight-errors=$IGNORE_PREFLIGHT_ERRORS"}
    changed+=(upgrade-apply)
  else
    say "kubeadm upgrade node"
    kubeadm upgrade node ${IGNORE_PREFLIGHT_ERRORS:+"--ignore-preflight-errors=$IGNORE_PREFLIGHT_ERRORS"}
    changed+=(upgrade-node)
  fi
}

phase_drain() {
  if node_at_target; then
    say "Node already upgraded"
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
    kubectl annotate node "$NODE_NAME" --overwrite "$undo_key=${undo[*]}" "$boot_key=$(boot_id)" >/dev/null
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

phase_driver() {
  local loaded="" target=${NVIDIA_DRIVER_VERSION%%-*}
  if [[ -f $R/sys/module/nvidia/version ]]; then loaded=$(<"$R/sys/module/nvidia/version"); fi
  if [[ $loaded == "$target" ]]; then
    say "driver $target loaded" >&2
    echo loaded
    return 0
  fi
  ensure_packages nvidia-driver hold "$driver_target" >&2
  say "driver $target installed (module loaded: ${loaded:-none}); rebooting" >&2
  # Detached, so that this session ends cleanly before the machine goes down.
  systemd-run --on-active=5 --unit=upgrade-reboot systemctl reboot >/dev/null
  echo rebooting
}

rebooted() {
  [[ "$(boot_id)" != "$(node_field "{.metadata.annotations.runai-cluster\\.io/upgrade-boot-id}")" ]]
}

phase_uncordon() {
  local undo
  if [[ $REBOOT == rebooting ]]; then
    wait_up_to "${READY_TIMEOUT%s}" 5 "the machine to come back from its reboot" rebooted
  fi
  kubectl wait --for=condition=Ready "node/$NODE_NAME" --timeout="$READY_TIMEOUT" >/dev/null
  if [[ $UPGRADE == kubernetes ]]; then
    wait_up_to "${READY_TIMEOUT%s}" 5 "the Node at the target version" node_at_target
  elif ! node_at_target; then
    kubectl annotate node "$NODE_NAME" --overwrite "$driver_key=$driver_target" >/dev/null
    changed+=(driver-recorded)
  fi
  undo=$(node_field "{.metadata.annotations.runai-cluster\\.io/upgrade-undo}")
  if [[ -z $undo ]]; then
    say "Ready"
    return 0
  fi
  if [[ " $undo " == *" uncordon "* ]]; then kubectl uncordon "$NODE_NAME" >/dev/null; fi
  if [[ " $undo " == *" untaint "* ]]; then kubectl taint nodes "$NODE_NAME" "$DRAIN_TAINT-" >/dev/null; fi
  kubectl annotate node "$NODE_NAME" "$undo_key-" "$boot_key-" >/dev/null
  say "Ready; gave back: $undo"
  changed+=(uncordoned)
}

case $UPGRADE in
  kubernetes)
    [[ -n $KUBERNETES_VERSION && $KUBERNETES_VERSION == "$KUBERNETES_MINOR".* ]] ||
      die "KUBERNETES_VERSION '$KUBERNETES_VERSION' is not in minor '$KUBERNETES_MINOR'"
    ;;
  nvidia-driver)
    [[ -n $NVIDIA_DRIVER_PACKAGE && $NVIDIA_DRIVER_VERSION =~ ^[0-9]+\.[0-9.]+- ]] ||
      die "the driver rollout needs NVIDIA_DRIVER_PACKAGE and an apt NVIDIA_DRIVER_VERSION like 570.172.08-0ubuntu1"
    ;;
  *) die "unknown upgrade '$UPGRADE'" ;;
esac
[[ -z $DRAIN_TAINT || $DRAIN_TAINT =~ ^[A-Za-z0-9./_-]+=[A-Za-z0-9._-]*:NoExecute$ ]] ||
  die "DRAIN_TAINT '$DRAIN_TAINT' is not key=value:NoExecute"
[[ $DRAIN_TIMEOUT =~ ^[0-9]+s$ && $READY_TIMEOUT =~ ^[0-9]+s$ ]] || die "timeouts are whole seconds like 600s"
case $PHASE in
  kubeadm) phase_kubeadm ;;
  drain) phase_drain ;;
  kubelet) phase_kubelet ;;
  driver) phase_driver ;;
  uncordon) phase_uncordon ;;
  *) die "unknown phase '$PHASE'" ;;
esac
summary=nothing
if ((${#changed[@]})); then
  printf -v summary '%s, ' "${changed[@]}"
  summary=${summary%, }
fi
# The driver phase's standard output is its verdict alone (captured).
if [[ $PHASE == driver ]]; then exec >&2; fi
say "done (changed: $summary)"
