#!/usr/bin/env bash
# Delete a Node object, and for a control plane its etcd member (run on a
# surviving control plane). Works when the machine itself is gone.
set -euo pipefail
: "${NODE_NAME:?}"
: "${CONTROL_PLANE:?}"

export KUBECONFIG=/etc/kubernetes/admin.conf
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
