#!/usr/bin/env bash
# Ensure the Pulumi toolchain this project pins (tools/versions.env): the CLI,
# the Python language host with its helper scripts, and the kubernetes
# resource plugin. A matching `pulumi` already on PATH is used as it is;
# otherwise the binaries are compiled from their Go modules once and cached
# outside the repository, keyed by version, so later runs take seconds.
#
# Prints the directory to put first on PATH as its last line of stdout;
# progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/versions.env
source "$here/versions.env"
# shellcheck source=tools/go_build.sh
source "$here/go_build.sh"

pulumi_dir="$cache_root/pulumi-v$PULUMI_VERSION"
k8s_dir="$cache_root/kubernetes-v$KUBERNETES_PROVIDER_VERSION"

say() { printf '[toolchain] %s\n' "$*" >&2; }

# Download MODULE@VERSION and print a writable copy of it under $work.
module_copy() {
  local module=$1 version=$2 name=$3 src
  src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] || { say "could not download $module@$version"; exit 1; }
  rm -rf "${work:?}/$name"
  cp -r "$src" "$work/$name"
  chmod -R u+w "$work/$name"
  printf '%s\n' "$work/$name"
}

build_cli() {
  local src
  say "building pulumi v$PULUMI_VERSION (10-15 min on 2 cores)"
  src=$(module_copy github.com/pulumi/pulumi/pkg/v3 "v$PULUMI_VERSION" pkg)
  (
    cd "$src"
    go mod edit -dropreplace=github.com/pulumi/pulumi/sdk/v3 \
      -require="github.com/pulumi/pulumi/sdk/v3@$PULUMI_GO_SDK_VERSION"
    go build -trimpath -o "$pulumi_dir/bin.new/pulumi" \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
      ./cmd/pulumi
  )
}

build_language_host() {
  local src sdk
  say "building pulumi-language-python v$PULUMI_VERSION"
  src=$(module_copy github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 \
    "$PULUMI_LANGUAGE_PYTHON_MODULE_VERSION" language-python)
  (
    cd "$src"
    go mod edit -dropreplace=github.com/pulumi/pulumi/sdk/v3 \
      -dropreplace=github.com/pulumi/pulumi/pkg/v3 \
      -require="github.com/pulumi/pulumi/sdk/v3@$PULUMI_GO_SDK_VERSION" \
      -require="github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION"
    go build -trimpath -o "$pulumi_dir/bin.new/pulumi-language-python" \
      -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" .
  )
  install_python_helpers "$pulumi_dir/bin.new"
}

# The host refuses to start without its executor beside it; dynamic providers
# need pulumi-resource-pulumi-python and policy packs
# pulumi-analyzer-policy-python on PATH. All three ship in sdk/v3.
PYTHON_HELPERS=(cmd/pulumi-language-python-exec dist/pulumi-resource-pulumi-python dist/pulumi-analyzer-policy-python)

install_python_helpers() {
  local target=$1 sdk helper
  sdk=$(module_copy github.com/pulumi/pulumi/sdk/v3 "v$PULUMI_VERSION" sdk)
  for helper in "${PYTHON_HELPERS[@]}"; do
    install -m 0755 "$sdk/python/$helper" "$target/"
  done
}

python_helpers_present() {
  local helper
  for helper in "${PYTHON_HELPERS[@]}"; do
    [ -x "$1/$(basename "$helper")" ] || return 1
  done
}

build_kubernetes_provider() {
  local src
  say "building pulumi-resource-kubernetes v$KUBERNETES_PROVIDER_VERSION (10-20 min on 2 cores)"
  src=$(module_copy github.com/pulumi/pulumi-kubernetes/provider/v4 \
    "$KUBERNETES_PROVIDER_MODULE_VERSION" kubernetes-provider)
  (
    cd "$src"
    go mod edit -dropreplace=github.com/pulumi/pulumi-kubernetes/sdk/v4
    # The embedded schema files are generated, not part of the module.
    (cd cmd/pulumi-resource-kubernetes && VERSION="$KUBERNETES_PROVIDER_VERSION" go run generate.go)
    mkdir -p "$k8s_dir.new"
    go build -trimpath -o "$k8s_dir.new/pulumi-resource-kubernetes" \
      -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" \
      ./cmd/pulumi-resource-kubernetes
  )
  mv "$k8s_dir.new" "$k8s_dir"
}

installed_pulumi_matches() {
  command -v pulumi >/dev/null && [ "$(pulumi version 2>/dev/null)" = "v$PULUMI_VERSION" ] \
    && command -v pulumi-language-python >/dev/null && command -v pulumi-analyzer-policy-python >/dev/null
}

main() {
  local bin_dir
  work=$(mktemp -d)
  trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

  if installed_pulumi_matches; then
    bin_dir=$(dirname "$(command -v pulumi)")
    say "using the installed pulumi v$PULUMI_VERSION in $bin_dir"
  else
    bin_dir="$pulumi_dir/bin"
    if [ -x "$bin_dir/pulumi" ] && [ -x "$bin_dir/pulumi-language-python" ]; then
      say "pulumi v$PULUMI_VERSION cached in $bin_dir"
      python_helpers_present "$bin_dir" || { go_env; install_python_helpers "$bin_dir"; }
    else
      go_env
      rm -rf "$pulumi_dir/bin.new" && mkdir -p "$pulumi_dir/bin.new"
      build_cli
      build_language_host
      rm -rf "$bin_dir" && mv "$pulumi_dir/bin.new" "$bin_dir"
    fi
  fi
  export PATH="$bin_dir:$PATH" PULUMI_SKIP_UPDATE_CHECK=true

  if pulumi plugin ls 2>/dev/null | grep -Eq "^kubernetes +resource +$KUBERNETES_PROVIDER_VERSION "; then
    say "kubernetes plugin v$KUBERNETES_PROVIDER_VERSION installed"
  else
    if [ ! -x "$k8s_dir/pulumi-resource-kubernetes" ]; then
      go_env
      build_kubernetes_provider
    fi
    pulumi plugin install resource kubernetes "v$KUBERNETES_PROVIDER_VERSION" \
      --file "$k8s_dir/pulumi-resource-kubernetes" >&2
  fi

  say "$(pulumi version) ready; plugins:"
  pulumi plugin ls >&2
  printf '%s\n' "$bin_dir"
}

main "$@"
