#!/usr/bin/env bash
# Print "joined-before" when this machine has joined a cluster (kubelet.conf is
# kubeadm's mark of a join), "not-joined" when it never did or was reinstalled.
# (Captured values are scrubbed from logs like secrets: hence unusual words.)
# include: ../remote/preamble.sh
if [[ -f $R/etc/kubernetes/kubelet.conf ]]; then echo joined-before; else echo not-joined; fi
