#!/usr/bin/env bash
# Build helm and kustomize from their Go modules (for `make images`, which
# renders every chart and kustomization a stack deploys), cached outside the
# repository keyed by version, like the Pulumi toolchain.
#
# Prints the directory holding both binaries as its last line of stdout;
# progress goes to stderr.
set -euo pipefail

# helm 3.18.6 is the one pulumi-kubernetes 4.25.0 embeds; kustomize 5.6.0
# builds on the same kustomize api (v0.19.0).
HELM_VERSION=${HELM_VERSION:-3.18.6}
KUSTOMIZE_VERSION=${KUSTOMIZE_VERSION:-5.6.0}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/go_build.sh
source "$here/go_build.sh"

out="$cache_root/render-helm-v$HELM_VERSION-kustomize-v$KUSTOMIZE_VERSION"
say() { printf '[render-tools] %s\n' "$*" >&2; }

if [ -x "$out/helm" ] && [ -x "$out/kustomize" ]; then
  printf '%s\n' "$out"
  exit 0
fi
go_env
rm -rf "$out.new"
mkdir -p "$out.new"
say "building helm v$HELM_VERSION and kustomize v$KUSTOMIZE_VERSION (a few minutes, once)"
GOBIN="$out.new" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
GOBIN="$out.new" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kustomize/kustomize/v5@v$KUSTOMIZE_VERSION"
rm -rf "$out"
mv "$out.new" "$out"
say "cached in $out"
printf '%s\n' "$out"
