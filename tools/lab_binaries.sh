#!/usr/bin/env bash
# Build the lab's Kubernetes control plane from Go modules: etcd (and
# etcdutl, for restores), kube-apiserver and kube-controller-manager, cached
# outside the repository keyed by version (like the Pulumi toolchain). Each
# binary is a few-line main of ours around the upstream library entry point,
# built in a scratch module.
#
#   tools/lab_binaries.sh KUBERNETES_VERSION   (e.g. 1.32.8)
#
# Prints the directory holding the three binaries as its last line of stdout;
# progress goes to stderr.
set -euo pipefail

KUBERNETES_VERSION=${1:?usage: lab_binaries.sh KUBERNETES_VERSION}
# Kubernetes 1.31+ wants etcd 3.5.13 or later (watch progress, health endpoints).
ETCD_VERSION=${ETCD_VERSION:-3.5.21}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/go_build.sh
source "$here/go_build.sh"

# Keyed by versions and by this script, so a changed build is rebuilt.
recipe=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-8)
out="$cache_root/lab-kubernetes-v$KUBERNETES_VERSION-etcd-v$ETCD_VERSION-$recipe"
minor=${KUBERNETES_VERSION#*.}
staging_version="v0.$minor"

say() { printf '[lab-binaries] %s\n' "$*" >&2; }

build_etcd() {
  local dir=$1
  mkdir -p "$dir/etcd" "$dir/etcdutl"
  cat >"$dir/etcd/main.go" <<'EOF'
// etcd for the local lab: the upstream server entry point, nothing more.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
  cat >"$dir/etcdutl/main.go" <<'EOF'
// etcdutl for the local lab: the upstream snapshot commands (restore).
package main

import (
	"os"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
)

func main() {
	root := &cobra.Command{Use: "etcdutl"}
	root.AddCommand(etcdutl.NewSnapshotCommand())
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
EOF
  (
    cd "$dir"
    go mod init lab/etcd >/dev/null 2>&1
    # Its sibling modules (api, client, pkg, raft) come at the versions the
    # server's go.mod names; its ../ replaces only apply inside etcd's repo.
    go mod edit -require="go.etcd.io/etcd/server/v3@v$ETCD_VERSION" \
      -require="go.etcd.io/etcd/etcdutl/v3@v$ETCD_VERSION"
    go mod tidy >/dev/null
    go build -trimpath -ldflags "-s -w" -o "$out.new/" ./etcd ./etcdutl
  )
}

# The module proxy refuses some staging releases (k8s.io/cri-client v0.32.8
# is one); step back to the newest earlier patch of the same minor it serves.
staging_release() {
  local module=$1 patch=${staging_version##*.} base=${staging_version%.*}
  while ((patch >= 0)); do
    if curl -fsS -m 20 -o /dev/null "https://proxy.golang.org/$module/@v/$base.$patch.zip" 2>/dev/null; then
      [ "$base.$patch" = "$staging_version" ] || say "$module: using $base.$patch (the proxy refuses $staging_version)"
      printf '%s\n' "$base.$patch"
      return
    fi
    patch=$((patch - 1))
  done
  printf '%s\n' "$staging_version"
}

build_kubernetes() {
  local dir=$1 staging
  mkdir -p "$dir/kube-apiserver" "$dir/kube-controller-manager"
  cat >"$dir/kube-apiserver/main.go" <<'EOF'
// kube-apiserver for the local lab: the upstream command, nothing more.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() { os.Exit(cli.Run(app.NewAPIServerCommand())) }
EOF
  cat >"$dir/kube-controller-manager/main.go" <<'EOF'
// kube-controller-manager for the local lab: the upstream command, nothing more.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() { os.Exit(cli.Run(app.NewControllerManagerCommand())) }
EOF
  (
    cd "$dir"
    go mod init lab/kubernetes >/dev/null 2>&1
    go mod edit -require="k8s.io/kubernetes@v$KUBERNETES_VERSION"
    # k8s.io/kubernetes points its staging modules at ./staging, which its
    # module zip lacks: use the published module of the same release instead.
    staging=$(go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" \
      | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$staging" | while read -r module; do
      go mod edit -replace="$module=$module@$(staging_release "$module")"
    done
    # Stamp the release, so /version and the clients see v$KUBERNETES_VERSION.
    local stamp=k8s.io/component-base/version
    go build -trimpath -o "$out.new/" \
      -ldflags "-s -w -X $stamp.gitVersion=v$KUBERNETES_VERSION -X $stamp.gitMajor=1 -X $stamp.gitMinor=${minor%%.*}" \
      ./kube-apiserver ./kube-controller-manager
  )
}

main() {
  if [ -x "$out/kube-apiserver" ] && [ -x "$out/kube-controller-manager" ] && [ -x "$out/etcd" ]; then
    say "cached in $out"
  else
    work=$(mktemp -d)  # global: the EXIT trap runs after main returns
    trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
    go_env
    rm -rf "$out.new" && mkdir -p "$out.new"
    say "building etcd v$ETCD_VERSION"
    build_etcd "$work/etcd"
    say "building kube-apiserver and kube-controller-manager v$KUBERNETES_VERSION (15-25 min on 2 cores)"
    build_kubernetes "$work/kubernetes"
    rm -rf "$out" && mv "$out.new" "$out"
  fi
  printf '%s\n' "$out"
}

main "$@"
