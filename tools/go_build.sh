# Shared by the scripts that compile Go modules (sourced, not run): where
# their outputs are cached, and the Go environment they build in.
# shellcheck shell=bash

cache_root=${TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/runai-cluster-toolchain}
export cache_root

go_env() {
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
  # Module checksums are verified against go.sum; the public checksum
  # database is only consulted where it can be reached.
  if [ -z "${GOSUMDB:-}" ] && ! curl -fsS -m 5 -o /dev/null https://sum.golang.org/lookup/golang.org/x/text@v0.3.0 2>/dev/null; then
    export GOSUMDB=off
  fi
}

# cached_build BUILT BUILD: unless BUILT (a function) finds $out complete, run
# BUILD (a function writing into $out.new, with a scratch directory $work)
# and move its result into place; print $out. The callers set $out and say().
cached_build() {
  local built=$1 build=$2
  : "${out:?the caller sets out}"
  if "$built"; then
    say "cached in $out"
  else
    work=$(mktemp -d) # global: the EXIT trap runs after the caller returns
    trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
    go_env
    rm -rf "$out.new" && mkdir -p "$out.new"
    "$build"
    rm -rf "$out" && mv "$out.new" "$out"
  fi
  printf '%s\n' "$out"
}
