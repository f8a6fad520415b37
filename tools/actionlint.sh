#!/usr/bin/env bash
# Lint the GitHub workflows with actionlint (and, through it, shellcheck on
# every run: block). actionlint is compiled from its Go module once and cached
# outside the repository, keyed by version, like the Pulumi toolchain.
#
#   tools/actionlint.sh [extra actionlint flags]
#
# Prints the binary's path as the first line of stdout, then actionlint's
# findings; exits with actionlint's status. Progress goes to stderr.
set -euo pipefail

ACTIONLINT_VERSION=1.7.12
# Labels of our self-hosted runners; actionlint rejects labels it does not know.
RUNNER_LABELS=(cluster-site)

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache_root=${TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runai-cluster-toolchain}
bin_dir="$cache_root/actionlint-v$ACTIONLINT_VERSION"
bin="$bin_dir/actionlint"

say() { printf '[actionlint] %s\n' "$*" >&2; }

build() {
  local tmp
  command -v go >/dev/null || { say "go is needed to build actionlint v$ACTIONLINT_VERSION"; exit 1; }
  export GOTOOLCHAIN=local CGO_ENABLED=0
  # Checksums come from the module's go.sum; the public checksum database is
  # only consulted where it can be reached.
  if [ -z "${GOSUMDB:-}" ] && ! curl -fsS -m 5 -o /dev/null https://sum.golang.org/lookup/golang.org/x/text@v0.3.0 2>/dev/null; then
    export GOSUMDB=off
  fi
  say "building actionlint v$ACTIONLINT_VERSION into $bin_dir"
  mkdir -p "$cache_root"
  # Build beside the cache and rename, so a concurrent or interrupted run
  # never sees a half-written binary.
  tmp=$(mktemp -d "$cache_root/.actionlint-build.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  GOBIN="$tmp/bin" go install -trimpath -ldflags "-s -w" \
    "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION"
  if [ ! -x "$bin" ]; then
    rm -rf "$bin_dir"
    mv "$tmp/bin" "$bin_dir"
  fi
  rm -rf "$tmp"
  trap - EXIT
}

main() {
  [ -x "$bin" ] || build
  printf '%s\n' "$bin"

  # Global: the EXIT trap runs after main has returned.
  config=$(mktemp)
  trap 'rm -f "$config"' EXIT
  {
    echo "self-hosted-runner:"
    echo "  labels:"
    printf '    - %s\n' "${RUNNER_LABELS[@]}"
  } >"$config"

  command -v shellcheck >/dev/null || say "warning: shellcheck not found; run: blocks are not checked"
  cd "$root"
  "$bin" -no-color -config-file "$config" "$@" .github/workflows/*.yml
}

main "$@"
