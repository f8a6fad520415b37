#!/usr/bin/env bash
# Make an Ubuntu 22.04/24.04 or Debian 12 machine ready for kubeadm: swap off, kernel modules
# and sysctls, containerd with an explicit config, kubelet/kubeadm/kubectl
# pinned and held, NFS client. Idempotent: every step compares first and acts
# only on a difference, so a second run changes nothing and restarts nothing.
#
# Parameters (assigned above this header by components/scripts.py; the
# KUBERNETES_* ones exported by the runner instead, so that a version bump
# alone does not re-run this script on running nodes):
#   KUBERNETES_VERSION, KUBERNETES_MINOR      1.32.8 and 1.32
#   KUBERNETES_PACKAGE_REVISION               1.1: packages pinned at 1.32.8-1.1
#   KUBERNETES_APT_REPO, KUBERNETES_APT_KEY_URL
#                                             pkgs.k8s.io, one repository per minor
#   CONTAINERD_PACKAGE                        containerd (distro) or containerd.io
#   CONTAINERD_VERSION                        apt version; empty: the candidate,
#                                             installed once and not held
#   CONTAINERD_APT_REPO                       empty: the distro's own packages.
#       Otherwise the rest of a deb line after its options: "URI SUITE
#       [COMPONENT...]", e.g. "https://download.docker.com/linux/ubuntu
#       {codename} stable". {codename} becomes this node's VERSION_CODENAME and
#       {arch} its dpkg architecture, so one value serves 22.04 and 24.04
#       nodes; a lone URI is a flat repository (suite "/"). The script adds
#       [signed-by=] for the key fetched from CONTAINERD_APT_KEY_URL.
#   CONTAINERD_CONFIG_VERSION                 2 (containerd 1.x) or 3 (2.x)
#   CONTAINERD_DATA_ROOT, SANDBOX_IMAGE
#   CONTAINERD_CRI_SETTINGS                   TOML "key = value" lines for the CRI
#       plugin's table (io.containerd.grpc.v1.cri in config version 2, the
#       runtime's io.containerd.cri.v1.runtime in 3), rendered by prep.py
#   REGISTRY_MIRRORS                          lines "host=https://m1,https://m2",
#       one certs.d/<host>/hosts.toml each (docker.io's server is
#       registry-1.docker.io); a mirror whose path holds /v2, like Harbor's
#       https://harbor/v2/<proxy-project>, gets override_path = true
#   REGISTRY_CA_HOST, REGISTRY_CA_PEM         a private registry and its CA
#   NODE_GENERATION                           only reported; bumping it re-runs us
#
# /etc/containerd/config.toml is ours, but gpu-host.sh (nvidia-ctk) and the GPU
# Operator add the NVIDIA runtime to it. Rewriting it on every run would drop
# that runtime and restart containerd each time, so it is rewritten only when
# our own rendering changed since the last run (kept in
# /var/lib/node-prep/containerd-config.toml) or the file no longer carries our
# settings. After such a rewrite gpu-host.sh must run again; NodePrep runs it
# right after this script whenever either script changes.
# include: ../remote/preamble.sh

: "${KUBERNETES_VERSION:?}"
: "${KUBERNETES_MINOR:?}"
: "${KUBERNETES_PACKAGE_REVISION:?}"
: "${KUBERNETES_APT_REPO:?}"
: "${KUBERNETES_APT_KEY_URL:?}"
: "${CONTAINERD_PACKAGE:?}"
: "${CONTAINERD_VERSION=}"
: "${CONTAINERD_APT_REPO=}"
: "${CONTAINERD_APT_KEY_URL=}"
: "${CONTAINERD_CONFIG_VERSION:?}"
: "${CONTAINERD_DATA_ROOT:?}"
: "${CONTAINERD_CRI_SETTINGS=}"
: "${SANDBOX_IMAGE:?}"
: "${REGISTRY_MIRRORS=}"
: "${REGISTRY_CA_HOST=}"
: "${REGISTRY_CA_PEM=}"
: "${NODE_GENERATION:?}"
say_as node-prep
export DEBIAN_FRONTEND=noninteractive
changed=()

# --- parameter checks: fail before touching anything ------------------------
[[ -n $R || $EUID -eq 0 ]] || die "must run as root"
[[ $KUBERNETES_VERSION == "$KUBERNETES_MINOR".* ]] ||
  die "KUBERNETES_VERSION $KUBERNETES_VERSION is not in minor $KUBERNETES_MINOR (the apt repository is per minor)"
[[ $CONTAINERD_CONFIG_VERSION == 2 || $CONTAINERD_CONFIG_VERSION == 3 ]] ||
  die "CONTAINERD_CONFIG_VERSION must be 2 or 3, not '$CONTAINERD_CONFIG_VERSION'"
# These go into TOML strings unescaped, so keep them to plain path/image characters.
[[ $CONTAINERD_DATA_ROOT =~ ^/[A-Za-z0-9._/-]*$ ]] || die "CONTAINERD_DATA_ROOT must be a plain absolute path"
[[ $SANDBOX_IMAGE =~ ^[A-Za-z0-9._/:@-]+$ ]] || die "SANDBOX_IMAGE '$SANDBOX_IMAGE' is not an image reference"
[[ -z $CONTAINERD_APT_REPO || -n $CONTAINERD_APT_KEY_URL ]] || die "CONTAINERD_APT_REPO needs CONTAINERD_APT_KEY_URL"
[[ -n $REGISTRY_CA_HOST || -z $REGISTRY_CA_PEM ]] || die "REGISTRY_CA_PEM is set but REGISTRY_CA_HOST is empty"
[[ -z $REGISTRY_CA_HOST || $REGISTRY_CA_PEM == *"-----BEGIN CERTIFICATE-----"* ]] ||
  die "REGISTRY_CA_HOST is set but REGISTRY_CA_PEM holds no PEM certificate"

# --- helpers ----------------------------------------------------------------
# include: helpers.sh

# --- 1. swap: kubelet refuses to start with swap on -------------------------
if [[ -n "$(swapon --show --noheadings)" ]]; then
  say "turning swap off"
  swapoff -a
  changed+=(swap)
fi
fstab=$R/etc/fstab
if [[ -f $fstab ]] && awk '!/^[[:space:]]*#/ && $3 == "swap" { found = 1 } END { exit !found }' "$fstab"; then
  say "commenting out swap in /etc/fstab"
  content=$(awk '!/^[[:space:]]*#/ && $3 == "swap" { $0 = "#" $0 } { print }' "$fstab")
  write_file 0644 "$fstab" <<<"$content"
  changed+=(fstab)
fi

# --- 2. kernel modules and sysctls for pod networking -----------------------
write_file 0644 "$R/etc/modules-load.d/k8s.conf" <<'EOF'
# Loaded at boot for Kubernetes (node-prep.sh): containerd's overlayfs
# snapshotter and bridged pod traffic seen by iptables.
overlay
br_netfilter
EOF
if ((WROTE)); then changed+=(modules-load); fi
for module in overlay br_netfilter; do
  # /sys/module also lists built-in modules, which lsmod does not.
  if [[ ! -d $R/sys/module/$module ]]; then
    say "loading kernel module $module"
    modprobe "$module"
    changed+=("modprobe-$module")
  fi
done

write_file 0644 "$R/etc/sysctl.d/k8s.conf" <<'EOF'
# Kubernetes networking (node-prep.sh).
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.ipv4.ip_forward = 1
EOF
if ((WROTE)); then
  say "applying sysctls"
  sysctl --system >/dev/null
  changed+=(sysctl)
fi

# --- 3. apt sources ---------------------------------------------------------
ensure_packages prerequisites nohold ca-certificates curl gpg
keyrings=/etc/apt/keyrings
mkdir -p "$R$keyrings"

apt_source "$KUBERNETES_APT_KEY_URL" $keyrings/kubernetes-apt-keyring.gpg "$KUBERNETES_APT_REPO" \
  /etc/apt/sources.list.d/kubernetes.list

ctd_list=/etc/apt/sources.list.d/containerd.list
ctd_keyring=$keyrings/containerd-apt-keyring.gpg
if [[ -n $CONTAINERD_APT_REPO ]]; then
  apt_source "$CONTAINERD_APT_KEY_URL" "$ctd_keyring" "$CONTAINERD_APT_REPO" "$ctd_list"
elif [[ -e $R$ctd_list || -e $R$ctd_keyring ]]; then
  # Back to the distro's containerd: drop the third-party source we added.
  rm -f "$R$ctd_list" "$R$ctd_keyring"
  # shellcheck disable=SC2034 # read by refresh_sources (helpers.sh)
  SOURCES_CHANGED=1
fi
refresh_sources

# --- 4. containerd ----------------------------------------------------------
if [[ -n $CONTAINERD_VERSION ]]; then
  ensure_packages containerd-package hold "$CONTAINERD_PACKAGE=$CONTAINERD_VERSION"
else
  ensure_packages containerd-package nohold "$CONTAINERD_PACKAGE"
fi

# Written whole rather than `containerd config default | sed`: the defaults of
# containerd 2.0.0-2.0.6 and 2.1.0-2.1.4 carry no SystemdCgroup line, so a sed
# would silently leave runc on cgroupfs while kubelet uses systemd.
certs_d=/etc/containerd/certs.d
if [[ $CONTAINERD_CONFIG_VERSION == 2 ]]; then
  ctd_config=$(
    cat <<EOF
# Managed by node-prep.sh (config version 2, containerd 1.x).
version = 2
root = "$CONTAINERD_DATA_ROOT"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
$CONTAINERD_CRI_SETTINGS

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri".registry]
  config_path = "$certs_d"
EOF
  )
else
  ctd_config=$(
    cat <<EOF
# Managed by node-prep.sh (config version 3, containerd 2.x).
version = 3
root = '$CONTAINERD_DATA_ROOT'

[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '$SANDBOX_IMAGE'

[plugins.'io.containerd.cri.v1.images'.registry]
  config_path = '$certs_d'

[plugins.'io.containerd.cri.v1.runtime']
$CONTAINERD_CRI_SETTINGS

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
  runtime_type = 'io.containerd.runc.v2'

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
  SystemdCgroup = true
EOF
  )
fi

config=$R/etc/containerd/config.toml
stamp=$R/var/lib/node-prep/containerd-config.toml
config_changed=0
ours_unchanged=0
if [[ -f $stamp && "$(<"$stamp")" == "$ctd_config" ]]; then ours_unchanged=1; fi
# Tools that add the NVIDIA runtime re-serialise the file, so "still ours" can
# only mean our version line and systemd cgroups are there.
still_ours=0
if [[ -f $config ]] && grep -qx "version = $CONTAINERD_CONFIG_VERSION" "$config" &&
  grep -Eq '^[[:space:]]*SystemdCgroup = true' "$config"; then
  still_ours=1
fi
if ((!ours_unchanged || !still_ours)); then
  if [[ -f $config ]] && grep -q 'runtimes\.nvidia' "$config"; then
    say "config.toml had an NVIDIA runtime: gpu-host.sh must run again to add it back"
  fi
  write_file 0644 "$config" <<<"$ctd_config"
  config_changed=$WROTE
  write_file 0644 "$stamp" <<<"$ctd_config"
  if ((config_changed)); then changed+=(containerd-config); fi
fi

# Registry hosts: containerd reads certs.d on every pull, so no restart needed.
declare -A mirrors_of=()
while IFS= read -r entry; do
  entry=${entry//[[:space:]]/}
  if [[ -z $entry ]]; then continue; fi
  host=${entry%%=*}
  [[ $entry == *=?* && $host =~ ^[A-Za-z0-9.-]+(:[0-9]+)?$ ]] ||
    die "REGISTRY_MIRRORS: '$entry' is not host=https://mirror[,https://mirror...]"
  mirrors_of[$host]=${entry#*=}
done <<<"$REGISTRY_MIRRORS"
ca_path=""
if [[ -n $REGISTRY_CA_HOST ]]; then
  [[ $REGISTRY_CA_HOST =~ ^[A-Za-z0-9.-]+(:[0-9]+)?$ ]] || die "REGISTRY_CA_HOST '$REGISTRY_CA_HOST' is not host[:port]"
  mirrors_of[$REGISTRY_CA_HOST]=${mirrors_of[$REGISTRY_CA_HOST]-}
  ca_path=$certs_d/$REGISTRY_CA_HOST/ca.crt
  pem=$(printf '%s' "$REGISTRY_CA_PEM")
  write_file 0644 "$R$ca_path" <<<"$pem"
  if ((WROTE)); then changed+=(registry-ca); fi
fi

hosts_marker="# Managed by node-prep.sh"
for host in "${!mirrors_of[@]}"; do
  server=https://$host
  if [[ $host == docker.io ]]; then server=https://registry-1.docker.io; fi
  content="$hosts_marker"$'\n'"server = \"$server\""
  if [[ $host == "$REGISTRY_CA_HOST" ]]; then content+=$'\n'"ca = \"$ca_path\""; fi
  IFS=, read -r -a mirrors <<<"${mirrors_of[$host]}"
  for mirror in "${mirrors[@]}"; do
    [[ $mirror =~ ^https?://[^\"[:space:]]+$ ]] || die "REGISTRY_MIRRORS: mirror '$mirror' of $host is not an http(s) URL"
    content+=$'\n\n'"[host.\"$mirror\"]"$'\n'"  capabilities = [\"pull\", \"resolve\"]"
    mirror_host=${mirror#*://}
    mirror_path=${mirror_host#"${mirror_host%%/*}"}
    mirror_host=${mirror_host%%/*}
    # A path holding /v2 (Harbor's .../v2/<proxy-project>) is the API root
    # itself; without override_path containerd would append another /v2.
    if [[ $mirror_path/ == */v2/* ]]; then
      content+=$'\n'"  override_path = true"
    fi
    # A mirror served by the private registry needs its CA too.
    if [[ -n $ca_path && $mirror_host == "$REGISTRY_CA_HOST" ]]; then
      content+=$'\n'"  ca = \"$ca_path\""
    fi
  done
  write_file 0644 "$R$certs_d/$host/hosts.toml" <<<"$content"
  if ((WROTE)); then changed+=("registry-hosts:$host"); fi
done
# Hosts we configured earlier but no longer should: remove what we wrote.
for file in "$R$certs_d"/*/hosts.toml; do
  [[ -f $file ]] || continue
  host=$(basename "$(dirname "$file")")
  if [[ -z ${mirrors_of[$host]+set} ]] && grep -qxF "$hosts_marker" "$file"; then
    say "removing registry host config for $host"
    rm -f "$file"
    if [[ $host != "$REGISTRY_CA_HOST" ]]; then rm -f "$(dirname "$file")/ca.crt"; fi
    rmdir "$(dirname "$file")" 2>/dev/null || true
    changed+=("registry-hosts-removed:$host")
  fi
done

started=0
if ! systemctl is-enabled --quiet containerd || ! systemctl is-active --quiet containerd; then
  say "enabling and starting containerd"
  systemctl --quiet enable --now containerd
  started=1
  changed+=(containerd-started)
fi
if ((config_changed && !started)); then
  say "restarting containerd for its new config"
  systemctl restart containerd
  changed+=(containerd-restarted)
fi

# --- 5. kubelet, kubeadm, kubectl -------------------------------------------
# A cluster member keeps the versions it runs: moving them is the upgrade
# rollout's job (kubeadm-upgrade.sh, one node at a time, drained). A machine
# not yet joined gets the stack's version, whatever it had.
k8s_version=$KUBERNETES_VERSION-$KUBERNETES_PACKAGE_REVISION
if [[ -f $R/etc/kubernetes/kubelet.conf ]]; then
  ensure_packages kubernetes-packages hold kubelet kubeadm kubectl
else
  ensure_packages kubernetes-packages hold "kubelet=$k8s_version" "kubeadm=$k8s_version" "kubectl=$k8s_version"
fi
if ! systemctl is-enabled --quiet kubelet; then
  # Enabled only: it crash-loops until kubeadm init/join writes its config.
  systemctl --quiet enable kubelet
  changed+=(kubelet-enabled)
fi

# --- 6. NFS client for NFS-backed volumes -----------------------------------
ensure_packages nfs-common nohold nfs-common

summary=nothing
if ((${#changed[@]})); then
  printf -v summary '%s, ' "${changed[@]}"
  summary=${summary%, }
fi
say "done (generation $NODE_GENERATION, changed: $summary)"
