#!/usr/bin/env bash
# Print the cluster's admin kubeconfig (kept as a Pulumi secret).
# include: ../remote/preamble.sh
cat "$R/etc/kubernetes/admin.conf"
