#!/usr/bin/env bash
# GPU worker host software, after node-prep.sh: the NVIDIA driver and the NVIDIA
# Container Toolkit from apt, pinned and held, containerd's "nvidia" runtime,
# and GPU requests from unprivileged containers accepted only as volume mounts.
# Idempotent: compares first, acts only on a difference, restarts containerd
# only when its runtime config changed.
#
# Parameters (assigned above this header by components/scripts.py; the two
# NVIDIA_DRIVER_* ones exported by the runner instead, so that a new driver
# does not re-run this script on running nodes):
#   NVIDIA_DRIVER_PACKAGE     e.g. nvidia-driver-570-server; empty: the GPU
#                             Operator manages the driver, skipped here
#   NVIDIA_DRIVER_VERSION     apt version; empty: the candidate (still held)
#   NVIDIA_CONTAINER_TOOLKIT_VERSION
#                             e.g. 1.17.8-1; empty: the GPU Operator manages
#                             the toolkit and containerd's runtime, skipped here
#   NVIDIA_APT_REPO           the rest of a deb line after its options: "URI
#       [SUITE [COMPONENT...]]", e.g. "https://nvidia.github.io/libnvidia-container/stable/deb/{arch} /".
#       {arch} becomes this node's dpkg architecture and {codename} its
#       VERSION_CODENAME; apt's own $(ARCH) works too but, as a literal in a
#       single-quoted assignment, draws shellcheck's SC2016 on the rendered
#       script. A lone URI is a flat repository (suite "/").
#   NVIDIA_APT_KEY_URL        the repository's signing key
#   CONTAINERD_CONFIG_VERSION 2 or 3, as given to node-prep.sh
#
# The nvidia runtime is added by `nvidia-ctk runtime configure`, which edits
# /etc/containerd/config.toml (toolkit 1.17) or writes the drop-in
# /etc/containerd/conf.d/99-nvidia.toml and imports it (1.18+). Whether it is
# configured is read from `containerd config dump`, the merged config containerd
# will actually run, so the check holds for both layouts and notices when
# node-prep.sh rewrote config.toml without it. It is set as the default
# runtime: Run:ai workloads name no runtime class, and the volume-mount device
# requests below only reach the GPU through nvidia-container-runtime.
# include: ../remote/preamble.sh

: "${NVIDIA_DRIVER_PACKAGE=}"
: "${NVIDIA_DRIVER_VERSION=}"
: "${NVIDIA_CONTAINER_TOOLKIT_VERSION=}"
: "${NVIDIA_APT_REPO=}"
: "${NVIDIA_APT_KEY_URL=}"
: "${CONTAINERD_CONFIG_VERSION:?}"
say_as gpu-host
export DEBIAN_FRONTEND=noninteractive
changed=()

# --- parameter checks: fail before touching anything ------------------------
[[ -n $R || $EUID -eq 0 ]] || die "must run as root"
[[ $CONTAINERD_CONFIG_VERSION == 2 || $CONTAINERD_CONFIG_VERSION == 3 ]] ||
  die "CONTAINERD_CONFIG_VERSION must be 2 or 3, not '$CONTAINERD_CONFIG_VERSION'"
[[ -n $NVIDIA_DRIVER_PACKAGE || -z $NVIDIA_DRIVER_VERSION ]] ||
  die "NVIDIA_DRIVER_VERSION is set but NVIDIA_DRIVER_PACKAGE is empty"
ctd_config=$R/etc/containerd/config.toml
drop_in=$R/etc/containerd/conf.d/99-nvidia.toml
if [[ -n $NVIDIA_CONTAINER_TOOLKIT_VERSION ]]; then
  [[ -n $NVIDIA_APT_REPO && -n $NVIDIA_APT_KEY_URL ]] ||
    die "NVIDIA_CONTAINER_TOOLKIT_VERSION needs NVIDIA_APT_REPO and NVIDIA_APT_KEY_URL"
  [[ -f $ctd_config ]] || die "no /etc/containerd/config.toml: run node-prep.sh first"
  grep -qx "version = $CONTAINERD_CONFIG_VERSION" "$ctd_config" ||
    die "/etc/containerd/config.toml is not config version $CONTAINERD_CONFIG_VERSION: run node-prep.sh first"
fi

# --- helpers ----------------------------------------------------------------
# include: helpers.sh

# top_level_value KEY FILE: KEY's value among FILE's top-level TOML keys (those
# before the first [table]); nothing when unset or commented out.
top_level_value() {
  [[ -f $2 ]] || return 0
  awk -v key="$1" '
    /^[[:space:]]*\[/ { exit }
    {
      line = $0
      sub(/^[[:space:]]+/, "", line)
      if (index(line, key) != 1) next
      rest = substr(line, length(key) + 1)
      if (rest !~ /^[[:space:]]*=/) next
      sub(/^[[:space:]]*=[[:space:]]*/, "", rest)
      sub(/[[:space:]]+$/, "", rest)
      print rest
      exit
    }' "$2"
}

# fingerprint FILE...: content checksums, "absent" for missing files.
fingerprint() {
  local file
  for file in "$@"; do
    if [[ -f $file ]]; then cksum <"$file"; else echo absent; fi
  done
}

if [[ -z $NVIDIA_DRIVER_PACKAGE && -z $NVIDIA_CONTAINER_TOOLKIT_VERSION ]]; then
  say "done (the GPU Operator manages driver and toolkit, nothing to do here)"
  exit 0
fi

# --- 1. NVIDIA's apt source, first so that one apt-get update serves all -----
if [[ -n $NVIDIA_CONTAINER_TOOLKIT_VERSION ]]; then
  apt_source "$NVIDIA_APT_KEY_URL" /etc/apt/keyrings/nvidia-container-toolkit-keyring.gpg "$NVIDIA_APT_REPO" \
    /etc/apt/sources.list.d/nvidia-container-toolkit.list
  refresh_sources
fi

# --- 2. driver --------------------------------------------------------------
if [[ -n $NVIDIA_DRIVER_PACKAGE && -f $R/etc/kubernetes/kubelet.conf && -d $R/sys/module/nvidia ]]; then
  # A cluster member with a driver loaded: a new one comes with the driver
  # rollout (upgrade.sh, drained and rebooted one node at a time).
  say "driver: a member's driver is the rollout's to change, left as it is"
elif [[ -n $NVIDIA_DRIVER_PACKAGE ]]; then
  ensure_packages nvidia-driver hold "$NVIDIA_DRIVER_PACKAGE${NVIDIA_DRIVER_VERSION:+=$NVIDIA_DRIVER_VERSION}"
  if [[ ! -d $R/sys/module/nvidia ]]; then
    say "the nvidia kernel module is not loaded: reboot this node to load the driver"
  fi
else
  say "driver: managed by the GPU Operator, skipped"
fi

# --- 3. container toolkit ---------------------------------------------------
if [[ -z $NVIDIA_CONTAINER_TOOLKIT_VERSION ]]; then
  say "container toolkit: managed by the GPU Operator, skipped"
else
  # All four pinned: the toolkit package alone would let apt pick newer libs.
  v=$NVIDIA_CONTAINER_TOOLKIT_VERSION
  ensure_packages nvidia-container-toolkit hold \
    "nvidia-container-toolkit=$v" "nvidia-container-toolkit-base=$v" \
    "libnvidia-container-tools=$v" "libnvidia-container1=$v"

  # --- 4. containerd's nvidia runtime ---------------------------------------
  # has_nvidia_default DUMP: the merged config names nvidia and makes it the default.
  has_nvidia_default() {
    grep -Eq '\.runtimes\.nvidia\]' <<<"$1" && grep -Eq "default_runtime_name = [\"']nvidia[\"']" <<<"$1"
  }
  dump=$(containerd --config "$ctd_config" config dump)
  if ! has_nvidia_default "$dump"; then
    say "adding the nvidia runtime to containerd"
    before=$(fingerprint "$ctd_config" "$drop_in")
    args=(runtime configure --runtime=containerd --config="$ctd_config" --set-as-default)
    help=$(nvidia-ctk runtime configure --help 2>&1 || true)
    if [[ $help == *--drop-in-config* ]]; then
      # Named explicitly: 1.18.0 defaulted to /etc/containerd/config.d, which
      # containerd never reads.
      args+=(--drop-in-config="$drop_in")
    fi
    nvidia-ctk "${args[@]}" >/dev/null
    dump=$(containerd --config "$ctd_config" config dump)
    has_nvidia_default "$dump" ||
      die "nvidia-ctk ran but containerd's merged config still lacks the nvidia default runtime"
    after=$(fingerprint "$ctd_config" "$drop_in")
    if [[ $before != "$after" ]]; then
      say "restarting containerd for the nvidia runtime"
      systemctl restart containerd
      changed+=(containerd-nvidia-runtime)
    fi
  fi

  # --- 5. GPU requests: volume mounts only --------------------------------
  # An unprivileged pod could otherwise reach any GPU by setting
  # NVIDIA_VISIBLE_DEVICES itself; the device plugin's volume-mount strategy
  # is the only way left in. nvidia-container-runtime reads this file on
  # every container start, so no restart is needed.
  runtime_toml=$R/etc/nvidia-container-runtime/config.toml
  for setting in accept-nvidia-visible-devices-as-volume-mounts=true \
    accept-nvidia-visible-devices-envvar-when-unprivileged=false; do
    key=${setting%%=*}
    if [[ "$(top_level_value "$key" "$runtime_toml")" != "${setting#*=}" ]]; then
      say "setting $setting"
      nvidia-ctk config --config-file="$runtime_toml" --set "$setting" --in-place
      changed+=("$key")
    fi
  done
fi

summary=nothing
if ((${#changed[@]})); then
  printf -v summary '%s, ' "${changed[@]}"
  summary=${summary%, }
fi
say "done (changed: $summary)"
