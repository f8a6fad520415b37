#!/usr/bin/env bash
# Delete a Node object, and for a control plane its etcd member (run on a
# surviving control plane). Works when the machine itself is gone.
# With ONLY_STALE=true it is the first step of a join: it forgets the record of
# a machine that was reinstalled under the same name (MACHINE_STATE, captured
# from the machine, is "not-joined" while a Node of that name exists), so the new
# install joins cleanly; a member, or a name with no Node, is left alone.
set -euo pipefail
: "${NODE_NAME:?}"
: "${CONTROL_PLANE:?}"
: "${ONLY_STALE:=false}"

export KUBECONFIG=/etc/kubernetes/admin.conf
if [ "$ONLY_STALE" = "true" ]; then
  if [ "${MACHINE_STATE:?}" != "not-joined" ] || ! kubectl get node "$NODE_NAME" >/dev/null 2>&1; then
    echo "remove-node: nothing stale for $NODE_NAME"
    exit 0
  fi
  ready=$(kubectl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')
  if [ "$ready" = "True" ]; then
    echo "remove-node: Node $NODE_NAME is Ready, yet the machine at this node's address never joined:" \
      "another machine holds the name, or the address is wrong. Nothing removed." >&2
    exit 1
  fi
  echo "remove-node: $NODE_NAME was reinstalled; forgetting its previous install"
fi
if [ "$CONTROL_PLANE" = "true" ]; then
  pki=/etc/kubernetes/pki/etcd
  etcdctl_in_pod() {
    local pod
    pod=$(kubectl -n kube-system get pods -l component=etcd -o name | grep -v "etcd-$NODE_NAME\$" | head -n 1)
    kubectl -n kube-system exec "$pod" -- etcdctl --endpoints=https://127.0.0.1:2379 \
      --cacert="$pki/ca.crt" --cert="$pki/server.crt" --key="$pki/server.key" "$@"
  }
  member=$(etcdctl_in_pod member list | awk -F', ' -v n="$NODE_NAME" '$3 == n {print $1}')
  if [ -n "$member" ]; then
    etcdctl_in_pod member remove "$member"
  fi
fi
kubectl delete node "$NODE_NAME" --ignore-not-found
echo "remove-node: $NODE_NAME removed"
