#!/usr/bin/env bash
# System packages the tests use: shellcheck for the node scripts, OpenSSH for
# real SSH test hosts; for the machines lab systemd-nspawn, debootstrap (its
# Debian 12 image), apt-ftparchive and gpg (its signed package mirror) and
# iproute2 (its network namespace). Installed with apt when missing (as
# root), else named.
set -euo pipefail

missing=()
command -v shellcheck >/dev/null || missing+=(shellcheck)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh-keygen >/dev/null || missing+=(openssh-client)
command -v go >/dev/null || missing+=(golang-go)
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v apt-ftparchive >/dev/null || missing+=(apt-utils)
command -v gpg >/dev/null || missing+=(gpg)
command -v ip >/dev/null || missing+=(iproute2)

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
