#!/usr/bin/env bash
# Build the scheduling tier's processes from Go modules: KAI Scheduler's
# scheduler, binder, podgrouper and queuecontroller, and KWOK (simulated
# nodes), cached outside the repository keyed by version (like the lab's
# control plane).
#
#   tools/scheduler_binaries.sh [KAI_VERSION] [KWOK_VERSION]
#
# Prints the directory holding the binaries (and KAI's CRDs from the same
# module, under crds/) as its last line of stdout; progress goes to stderr.
set -euo pipefail

# The newest KAI release the module proxy serves under its old path (later
# tags and the kai-scheduler organisation's path are refused by the proxy).
KAI_VERSION=${1:-0.12.0}
KWOK_VERSION=${2:-0.7.0}
KAI_MODULE=github.com/NVIDIA/KAI-scheduler
# The checksum database cannot always be reached: pin the module's hash.
declare -A KAI_SUMS=([0.12.0]="h1:3rhB0TdbJYNgOiZ6E0cAa+VJnr4srhoigJI/PkY85vI=")
KAI_COMMANDS=(scheduler binder podgrouper queuecontroller)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tools/go_build.sh
source "$here/go_build.sh"

recipe=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-8)
out="$cache_root/scheduler-kai-v$KAI_VERSION-kwok-v$KWOK_VERSION-$recipe"

say() { printf '[scheduler-binaries] %s\n' "$*" >&2; }

# Prints the module's source directory after checking its hash.
kai_source() {
  local json sum dir
  json=$(go mod download -json "$KAI_MODULE@v$KAI_VERSION")
  sum=$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p' <<<"$json")
  dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$json")
  local want=${KAI_SUMS[$KAI_VERSION]:-}
  if [ -z "$want" ] || [ "$sum" != "$want" ]; then
    say "$KAI_MODULE@v$KAI_VERSION: hash $sum is not the pinned one (${want:-none pinned})"
    exit 1
  fi
  printf '%s\n' "$dir"
}

build_kai() {
  local src=$1 commands=()
  say "building KAI Scheduler v$KAI_VERSION (about 10 min on 2 cores)"
  cp -r "$src" "$work/kai"
  chmod -R u+w "$work/kai"
  for command in "${KAI_COMMANDS[@]}"; do commands+=("./cmd/$command"); done
  (cd "$work/kai" && go build -trimpath -ldflags "-s -w" -o "$out.new/" "${commands[@]}")
}

build_kwok() {
  say "building kwok v$KWOK_VERSION"
  GOBIN="$out.new" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@v$KWOK_VERSION"
}

built() {
  local command
  for command in "${KAI_COMMANDS[@]}" kwok; do
    [ -x "$out/$command" ] || return 1
  done
  [ -d "$out/crds" ]
}

build() {
  local src
  src=$(kai_source)
  build_kai "$src"
  build_kwok
  cp -r "$src/deployments/kai-scheduler/crds" "$out.new/crds"
  chmod -R u+w "$out.new/crds"  # copied from the read-only module cache
}

cached_build built build
