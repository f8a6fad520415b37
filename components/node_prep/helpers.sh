#!/usr/bin/env bash
# Helpers shared by node-prep.sh and gpu-host.sh. components/scripts.py inlines
# this file where a script says "# include: helpers.sh" (the rendered script
# travels over SSH as one piece), after the preamble (../remote/preamble.sh,
# for say, die and R). They add to the including script's changed array.
# shellcheck disable=SC2034  # WROTE and friends are read by the includer

# write_file MODE PATH < CONTENT: replace PATH only when the content differs, so
# callers restart services only on real changes. Sets WROTE to 1 or 0 (a
# variable rather than the exit status, which would switch off set -e inside).
WROTE=0
write_file() {
  local mode=$1 path=$2 tmp
  mkdir -p "$(dirname "$path")"
  tmp=$(mktemp "$path.XXXXXX")
  cat >"$tmp"
  if [[ -f $path ]] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    WROTE=0
    return 0
  fi
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
  WROTE=1
}

# installed_version PKG: its version if dpkg has it installed, else nothing.
installed_version() {
  local out
  # shellcheck disable=SC2016 # ${...} is dpkg-query's format syntax, not ours
  out=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$1" 2>/dev/null) || return 0
  if [[ $out == "installed "* ]]; then
    printf '%s\n' "${out#installed }"
  fi
}

APT_UPDATED=0
apt_update() {
  say "apt-get update"
  apt-get update -qq >/dev/null
  APT_UPDATED=1
}

apt_install() {
  # Lists may be stale or missing on a fresh machine; refresh once per run,
  # and only when something is actually installed.
  if ((!APT_UPDATED)); then
    apt_update
  fi
  say "installing $*"
  apt-get install -y -qq --allow-downgrades \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >/dev/null
}

# ensure_packages LABEL HOLD SPEC...: SPEC is NAME or NAME=VERSION. Installs
# what is missing or at another version; HOLD=hold pins them so unattended
# upgrades cannot move them under a running cluster.
ensure_packages() {
  local label=$1 hold=$2 spec name want have held
  shift 2
  local install=() unhold=() tohold=()
  held=$(apt-mark showhold)
  for spec in "$@"; do
    name=${spec%%=*}
    want=${spec#"$name"}
    want=${want#=}
    have=$(installed_version "$name")
    local is_held=0
    if grep -qxF "$name" <<<"$held"; then is_held=1; fi
    if [[ -z $have || (-n $want && $have != "$want") ]]; then
      install+=("$spec")
      if ((is_held)); then
        unhold+=("$name")
        is_held=0
      fi
    fi
    if [[ $hold == hold ]] && ((!is_held)); then tohold+=("$name"); fi
  done
  if ((${#unhold[@]})); then
    say "unholding ${unhold[*]} to change their version"
    apt-mark unhold "${unhold[@]}" >/dev/null
  fi
  if ((${#install[@]})); then
    apt_install "${install[@]}"
    for spec in "${install[@]}"; do
      name=${spec%%=*}
      want=${spec#"$name"}
      want=${want#=}
      have=$(installed_version "$name")
      [[ -n $have && (-z $want || $have == "$want") ]] ||
        die "$name is at '${have:-nothing}' after installing $spec"
    done
    changed+=("$label")
  fi
  if ((${#tohold[@]})); then
    apt-mark hold "${tohold[@]}" >/dev/null
    changed+=("$label-hold")
  fi
}

SOURCES_CHANGED=0

# fetch_key URL KEYRING: fetched only when the keyring is missing; a rotated
# key means deleting the keyring file so the next run fetches it again.
fetch_key() {
  local url=$1 keyring=$R$2 tmp
  if [[ -s $keyring ]]; then
    return 0
  fi
  say "fetching apt key $url"
  mkdir -p "$(dirname "$keyring")"
  tmp=$(mktemp "$keyring.XXXXXX")
  curl -fsSL --retry 3 "$url" | gpg --batch --dearmor >"$tmp"
  chmod 0644 "$tmp"
  mv -f "$tmp" "$keyring"
  SOURCES_CHANGED=1
}

# apt_line KEYRING SPEC: a deb line for SPEC ("URI [SUITE [COMPONENT...]]").
apt_line() {
  local keyring=$1 spec=$2 value words=()
  if [[ $spec == *'{codename}'* ]]; then
    value=$(awk -F= '$1 == "VERSION_CODENAME" { gsub(/"/, "", $2); print $2 }' "$R/etc/os-release")
    [[ -n $value ]] || die "no VERSION_CODENAME in /etc/os-release for {codename}"
    spec=${spec//'{codename}'/$value}
  fi
  if [[ $spec == *'{arch}'* ]]; then
    value=$(dpkg --print-architecture)
    spec=${spec//'{arch}'/$value}
  fi
  read -r -a words <<<"$spec"
  ((${#words[@]})) || die "empty apt repository"
  if ((${#words[@]} == 1)); then
    words+=(/)
  fi
  printf 'deb [signed-by=%s] %s\n' "$keyring" "${words[*]}"
}

# apt_source KEY_URL KEYRING SPEC LIST: one repository's keyring and its deb
# line in LIST (a path under /etc/apt/sources.list.d); SOURCES_CHANGED=1 when
# either changed.
apt_source() {
  local line
  fetch_key "$1" "$2"
  line=$(apt_line "$2" "$3")
  write_file 0644 "$R$4" <<<"$line"
  if ((WROTE)); then SOURCES_CHANGED=1; fi
}

# refresh_sources: one apt-get update after the sources changed.
refresh_sources() {
  if ((SOURCES_CHANGED)); then
    apt_update
    changed+=(apt-sources)
  fi
}
