#!/usr/bin/env bash
# System packages the tests use: shellcheck for the node scripts, OpenSSH for
# real SSH test hosts. Installed with apt when missing (as root), else named.
set -euo pipefail

missing=()
command -v shellcheck >/dev/null || missing+=(shellcheck)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
command -v go >/dev/null || missing+=(golang-go)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: please install: ${missing[*]} (apt-get install ${missing[*]})" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}" >&2
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
