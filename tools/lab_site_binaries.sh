#!/usr/bin/env bash
# Build what the machines lab's air-gapped site serves besides Kubernetes,
# from Go modules, cached outside the repository keyed by version: the
# distribution registry (the site's image registry), crictl (the cri-tools
# package kubeadm depends on) and etcdctl (in the etcd image, where the
# upgrade's etcd snapshot runs it).
#
#   tools/lab_site_binaries.sh ETCD_VERSION   (kubeadm's, e.g. 3.5.16)
#
# Prints the directory holding the binaries as its last line of stdout.
set -euo pipefail

ETCD_VERSION=${1:?usage: lab_site_binaries.sh ETCD_VERSION}
# The newest the module proxy serves here (it refuses v1.30 to v1.33);
# crictl speaks the stable CRI v1 to any containerd of these years.
CRI_TOOLS_VERSION=1.34.0
DISTRIBUTION_VERSION=3.0.0

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/go_build.sh
source "$here/go_build.sh"

recipe=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-8)
out="$cache_root/lab-site-registry-v$DISTRIBUTION_VERSION-crictl-v$CRI_TOOLS_VERSION-etcdctl-v$ETCD_VERSION-$recipe"
say() { printf '[lab-site-binaries] %s\n' "$*" >&2; }

# One scratch module per command: their dependency graphs disagree (and
# tidying them together drags in the test imports of their dependencies).
build_command() {
  local dir=$1 module=$2 package=$3
  mkdir -p "$dir"
  (
    cd "$dir"
    go mod init "lab/$(basename "$dir")" >/dev/null 2>&1
    go get "$package@$module" >/dev/null
    go build -trimpath -ldflags "-s -w" -o "$out.new/" "$package"
  )
}

build_registry() {
  local dir=$1
  mkdir -p "$dir/registry"
  cat >"$dir/registry/main.go" <<'GO'
// The site's image registry for the local lab: the upstream registry command
// with the filesystem storage driver, nothing more.
package main

import (
	"os"

	"github.com/distribution/distribution/v3/registry"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

func main() {
	if err := registry.RootCmd.Execute(); err != nil {
		os.Exit(1)
	}
}
GO
  (
    cd "$dir"
    go mod init lab/registry >/dev/null 2>&1
    go get "github.com/distribution/distribution/v3/registry@v$DISTRIBUTION_VERSION" >/dev/null
    go build -trimpath -ldflags "-s -w" -o "$out.new/" ./registry
  )
}

built() {
  [ -x "$out/registry" ] && [ -x "$out/crictl" ] && [ -x "$out/etcdctl" ] && [ -f "$out/versions.env" ]
}

build() {
  say "building registry v$DISTRIBUTION_VERSION, crictl v$CRI_TOOLS_VERSION, etcdctl v$ETCD_VERSION"
  build_registry "$work/registry"
  build_command "$work/crictl" "v$CRI_TOOLS_VERSION" sigs.k8s.io/cri-tools/cmd/crictl
  build_command "$work/etcdctl" "v$ETCD_VERSION" go.etcd.io/etcd/etcdctl/v3
  printf 'CRI_TOOLS_VERSION=%s\n' "$CRI_TOOLS_VERSION" >"$out.new/versions.env"
}

cached_build built build
