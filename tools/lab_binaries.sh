#!/usr/bin/env bash
# Build the lab's Kubernetes from Go modules, cached outside the repository
# keyed by version (like the Pulumi toolchain): every binary of a kubeadm
# cluster (kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager,
# kube-scheduler, kube-proxy), etcd (and etcdutl, for restores), CoreDNS and a
# pause binary. Each is a few-line main of ours around the upstream library
# entry point, built in a scratch module. The fast lab runs the control-plane
# binaries as processes; the machines lab packs them as .debs and images.
#
#   tools/lab_binaries.sh KUBERNETES_VERSION   (e.g. 1.32.8)
#
# Prints the directory holding the binaries as its last line of stdout;
# progress goes to stderr. etcd, CoreDNS and pause are built at the versions
# kubeadm of this release deploys (its constants), recorded in versions.env.
set -euo pipefail

KUBERNETES_VERSION=${1:?usage: lab_binaries.sh KUBERNETES_VERSION}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/go_build.sh
source "$here/go_build.sh"

# Keyed by version and by this script, so a changed build is rebuilt.
recipe=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-8)
out="$cache_root/lab-kubernetes-v$KUBERNETES_VERSION-$recipe"
minor=${KUBERNETES_VERSION#*.}
staging_version="v0.$minor"

say() { printf '[lab-binaries] %s\n' "$*" >&2; }

# A scratch module MODULE in DIR requiring each of the rest (module@version).
scratch_module() {
  local dir=$1 name=$2 requirement
  shift 2
  (
    cd "$dir"
    go mod init "$name" >/dev/null 2>&1
    for requirement in "$@"; do
      go mod edit -require="$requirement"
    done
  )
}

build_etcd() {
  local dir=$1 version=${ETCD_VERSION%-*}
  mkdir -p "$dir/etcd" "$dir/etcdutl"
  cat >"$dir/etcd/main.go" <<'GO'
// etcd for the local lab: the upstream server entry point, nothing more.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  cat >"$dir/etcdutl/main.go" <<'GO'
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
GO
  # Its sibling modules (api, client, pkg, raft) come at the versions the
  # server's go.mod names; its ../ replaces only apply inside etcd's repo.
  scratch_module "$dir" lab/etcd "go.etcd.io/etcd/server/v3@v$version" "go.etcd.io/etcd/etcdutl/v3@v$version"
  (cd "$dir" && go mod tidy >/dev/null && go build -trimpath -ldflags "-s -w" -o "$out.new/" ./etcd ./etcdutl)
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

# kubeadm's constants name the etcd, CoreDNS and pause it deploys.
kubeadm_constant() {
  sed -n "s/^[[:space:]]*$1 = \"v\{0,1\}\([^\"]*\)\"/\1/p" "$2/cmd/kubeadm/app/constants/constants.go"
}

# DIR/NAME/main.go running the upstream cobra command CONSTRUCTOR of PACKAGE.
command_main() {
  local dir=$1/$2 package=$3 constructor=$4
  mkdir -p "$dir"
  cat >"$dir/main.go" <<GO
// $2 for the local lab: the upstream command, nothing more.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	cmd "$package"
)

func main() { os.Exit(cli.Run(cmd.$constructor())) }
GO
}

build_kubernetes() {
  local dir=$1 source=$2
  command_main "$dir" kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver/app NewAPIServerCommand
  command_main "$dir" kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager/app \
    NewControllerManagerCommand
  command_main "$dir" kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler/app NewSchedulerCommand
  command_main "$dir" kube-proxy k8s.io/kubernetes/cmd/kube-proxy/app NewProxyCommand
  command_main "$dir" kubelet k8s.io/kubernetes/cmd/kubelet/app NewKubeletCommand
  command_main "$dir" kubectl k8s.io/kubectl/pkg/cmd NewDefaultKubectlCommand
  mkdir -p "$dir/kubeadm"
  cat >"$dir/kubeadm/main.go" <<'GO'
// kubeadm for the local lab: the upstream entry point, nothing more.
package main

import (
	"os"

	"k8s.io/kubernetes/cmd/kubeadm/app"
)

func main() {
	if err := app.Run(); err != nil {
		os.Exit(1)
	}
}
GO
  scratch_module "$dir" lab/kubernetes "k8s.io/kubernetes@v$KUBERNETES_VERSION"
  (
    cd "$dir"
    # k8s.io/kubernetes points its staging modules at ./staging, which its
    # module zip lacks: use the published module of the same release instead.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$source/go.mod" | while read -r module; do
      go mod edit -replace="$module=$module@$(staging_release "$module")"
    done
    # Stamp the release, so /version, kubeadm and the clients see it.
    local stamp=k8s.io/component-base/version
    go build -trimpath -o "$out.new/" \
      -ldflags "-s -w -X $stamp.gitVersion=v$KUBERNETES_VERSION -X $stamp.gitMajor=1 -X $stamp.gitMinor=${minor%%.*}" \
      ./kube-apiserver ./kube-controller-manager ./kube-scheduler ./kube-proxy ./kubelet ./kubectl ./kubeadm
  )
}

build_coredns() {
  local dir=$1
  mkdir -p "$dir/coredns"
  cat >"$dir/coredns/main.go" <<'GO'
// CoreDNS for the local lab: the upstream plugin set and entry point.
package main

import (
	_ "github.com/coredns/coredns/core/plugin"
	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }
GO
  scratch_module "$dir" lab/coredns "github.com/coredns/coredns@v$COREDNS_VERSION"
  (cd "$dir" && go mod tidy >/dev/null && go build -trimpath -ldflags "-s -w" -o "$out.new/" ./coredns)
}

# A pod sandbox's one process: hold the namespaces until stopped, reap orphans;
# with -v print a version and exit, as kubeadm's upgrade health check expects.
build_pause() {
  local dir=$1
  mkdir -p "$dir/pause"
  cat >"$dir/pause/main.go" <<'GO'
// pause for the local lab: holds a pod's namespaces until stopped.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// kubeadm's upgrade health check runs a Job of this image with -v and
	// waits for it to complete.
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("pause (lab build)")
		return
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			return
		}
		for {
			if pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
GO
  scratch_module "$dir" lab/pause
  (cd "$dir" && go build -trimpath -ldflags "-s -w" -o "$out.new/" ./pause)
}

complete() {
  local binary
  for binary in etcd etcdutl kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubelet kubectl \
    kubeadm coredns pause; do
    [ -x "$out/$binary" ] || return 1
  done
  [ -f "$out/versions.env" ]
}

build() {
  local source
  source=$(go mod download -json "k8s.io/kubernetes@v$KUBERNETES_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  ETCD_VERSION=$(kubeadm_constant DefaultEtcdVersion "$source")
  COREDNS_VERSION=$(kubeadm_constant CoreDNSVersion "$source")
  PAUSE_VERSION=$(kubeadm_constant PauseVersion "$source")
  say "building etcd $ETCD_VERSION, CoreDNS v$COREDNS_VERSION and pause $PAUSE_VERSION"
  build_etcd "$work/etcd"
  build_coredns "$work/coredns"
  build_pause "$work/pause"
  say "building Kubernetes v$KUBERNETES_VERSION (10-20 min on 2 cores)"
  build_kubernetes "$work/kubernetes" "$source"
  printf 'KUBERNETES_VERSION=%s\nETCD_VERSION=%s\nCOREDNS_VERSION=%s\nPAUSE_VERSION=%s\n' \
    "$KUBERNETES_VERSION" "$ETCD_VERSION" "$COREDNS_VERSION" "$PAUSE_VERSION" >"$out.new/versions.env"
}

cached_build complete build
