#!/usr/bin/env bash
# Delete a Node object, and for a control plane its etcd member (run on a
# surviving control plane). Works when the machine itself is gone.
# With ONLY_STALE=true it is the first step of a join: it forgets the record of
# a machine that was reinstalled under the same name (MACHINE_STATE, captured
# from the machine, is "not-joined" while a Node of that name exists), so the new
# install joins cleanly; a member, or a name with no Node, is left alone.
# include: ../remote/preamble.sh
: "${NODE_NAME:?}"
: "${CONTROL_PLANE:?}"
: "${ONLY_STALE:=false}"
say_as remove-node

export KUBECONFIG=$R/etc/kubernetes/admin.conf
# Behind a load balancer a request can land on a control plane that is
# leaving this very moment (its API server stops mid-answer): ask again.
again() {
  local attempt
  for attempt in 1 2 3 4 5; do
    if "$@"; then return 0; fi
    say "'$*' failed (attempt $attempt); retrying" >&2
    sleep 3
  done
  return 1
}
if [[ $ONLY_STALE == true ]]; then
  if [[ ${MACHINE_STATE:?} != not-joined ]] || ! kubectl get node "$NODE_NAME" >/dev/null 2>&1; then
    say "nothing stale for $NODE_NAME"
    exit 0
  fi
  ready=$(kubectl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')
  if [[ $ready == True ]]; then
    die "Node $NODE_NAME is Ready, yet the machine at this node's address never joined:" \
      "another machine holds the name, or the address is wrong. Nothing removed."
  fi
  say "$NODE_NAME was reinstalled; forgetting its previous install"
fi
if [[ $CONTROL_PLANE == true ]]; then
  pki=/etc/kubernetes/pki/etcd # in the etcd pod
  etcdctl_in_pod() {
    local pod
    pod=$(kubectl -n kube-system get pods -l component=etcd -o name | grep -v "etcd-$NODE_NAME\$" | head -n 1)
    kubectl -n kube-system exec "$pod" -- etcdctl --endpoints=https://127.0.0.1:2379 \
      --cacert="$pki/ca.crt" --cert="$pki/server.crt" --key="$pki/server.key" "$@"
  }
  forget_member() {
    local members member
    members=$(etcdctl_in_pod member list) || return 1
    member=$(awk -F', ' -v n="$NODE_NAME" '$3 == n {print $1}' <<<"$members")
    if [[ -n $member ]]; then
      etcdctl_in_pod member remove "$member"
    fi
  }
  again forget_member
fi
again kubectl delete node "$NODE_NAME" --ignore-not-found
say "$NODE_NAME removed"
