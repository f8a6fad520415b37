#!/usr/bin/env bash
# Read-only checks of one machine before anything changes it. Each check
# prints "status name: detail" (status ok, warn or fail); the last line is a
# JSON report. Exits 1 when any check fails, so the node's preparation does
# not start; warnings are things node preparation fixes or that only degrade.
#
# Parameters (assigned above this header by components/scripts.py):
#   NODE_NAME, ROLES (comma-separated), MIN_CPUS, MIN_MEMORY_GB, MIN_DISK_GB,
#   DISK_PATH (where images and data go), PORTS (space-separated TCP ports the
#   node's Kubernetes components will listen on), EXPECTED_GPUS (0 on non-GPU
#   nodes), GPUS_SIMULATED (true: a lab; no driver looked for), DRIVER_ON_HOST
#   (true: node prep installs the driver, so a missing one is only a warning),
#   DNS_NAMES (space-separated names that must resolve), NFS_SERVER (empty:
#   no NFS check), IGNORE (space-separated check names reported as "ignored"
#   instead of failing), CLUSTER_EXISTS (true: the machine already runs its
#   cluster's components, so their ports are not checked).
# Its reads of /etc, /proc and /sys are under R, so tests replay recorded
# system files.
# include: ../remote/preamble.sh

: "${NODE_NAME:?}"
: "${ROLES:?}"
: "${MIN_CPUS:?}"
: "${MIN_MEMORY_GB:?}"
: "${MIN_DISK_GB:?}"
: "${DISK_PATH:?}"
: "${PORTS=}"
: "${EXPECTED_GPUS:=0}"
: "${GPUS_SIMULATED:=false}"
: "${DRIVER_ON_HOST:=true}"
: "${DNS_NAMES=}"
: "${NFS_SERVER=}"
: "${IGNORE=}"
: "${CLUSTER_EXISTS:=false}"
say_as preflight
results=()
failed=0

record() { # record STATUS NAME DETAIL
  if [[ $1 == fail && " $IGNORE " == *" $2 "* ]]; then set -- ignored "$2" "$3"; fi
  printf '%s %s: %s\n' "$1" "$2" "$3"
  results+=("$(printf '{"check":"%s","status":"%s","detail":"%s"}' "$2" "$1" "${3//\"/\'}")")
  if [[ $1 == fail ]]; then
    failed=1
    say "$NODE_NAME failed $2: $3" >&2
  fi
}

# --- operating system and kernel ---------------------------------------------
os_field() { sed -n "s/^$1=//p" "$R/etc/os-release" | tr -d '"'; }
os_id="$(os_field ID) $(os_field VERSION_ID)"
case $os_id in
  "ubuntu 22.04" | "ubuntu 24.04" | "debian 12") record ok os "$os_id" ;;
  ubuntu* | debian*) record warn os "$os_id: not a tested release (Ubuntu 22.04 or 24.04, Debian 12 are)" ;;
  *) record fail os "$os_id: node preparation needs Ubuntu or Debian (apt)" ;;
esac
kernel=$(uname -r)
kernel_major=${kernel%%.*}
kernel_minor=${kernel#*.}
kernel_minor=${kernel_minor%%.*}
if ((kernel_major > 5 || (kernel_major == 5 && kernel_minor >= 4))); then
  record ok kernel "$kernel"
else
  record fail kernel "$kernel is older than 5.4"
fi

# --- swap, cgroups, kernel modules -------------------------------------------
if [[ -n $(swapon --show --noheadings 2>/dev/null) ]]; then
  record warn swap "on; node preparation turns it off and keeps it off"
else
  record ok swap "off"
fi
cgroup_fs=$(stat -fc %T "$R/sys/fs/cgroup" 2>/dev/null || echo unknown)
if [[ $cgroup_fs == cgroup2fs ]]; then
  record ok cgroup "v2"
else
  record warn cgroup "$cgroup_fs: cgroup v1 is deprecated by Kubernetes; boot with systemd.unified_cgroup_hierarchy=1"
fi
for module in overlay br_netfilter; do
  if [[ -d $R/sys/module/$module ]] || modinfo "$module" >/dev/null 2>&1; then
    record ok "module-$module" "available"
  else
    record fail "module-$module" "not available in kernel $kernel"
  fi
done

# --- sizing against the role's minimum -----------------------------------------
cpus=$(nproc)
if ((cpus >= MIN_CPUS)); then
  record ok cpus "$cpus (minimum $MIN_CPUS for $ROLES)"
else
  record fail cpus "$cpus, below the minimum of $MIN_CPUS for $ROLES"
fi
memory_kb=$(awk '/^MemTotal:/ {print $2}' "$R/proc/meminfo")
memory_gb=$((memory_kb / 1000 / 1000))
if ((memory_gb >= MIN_MEMORY_GB)); then
  record ok memory "${memory_gb} GB (minimum $MIN_MEMORY_GB)"
else
  record fail memory "${memory_gb} GB, below the minimum of $MIN_MEMORY_GB GB for $ROLES"
fi
probe=$DISK_PATH
while [[ ! -e $probe ]]; do probe=$(dirname "$probe"); done
disk_gb=$(df -BG --output=avail "$probe" | tail -n 1 | tr -dc '0-9')
if ((disk_gb >= MIN_DISK_GB)); then
  record ok disk "${disk_gb} GB free for $DISK_PATH (minimum $MIN_DISK_GB)"
else
  record fail disk "${disk_gb} GB free for $DISK_PATH, below the minimum of $MIN_DISK_GB GB"
fi

# --- ports: free, unless this node already runs its Kubernetes parts -----------
if [[ -f $R/etc/kubernetes/kubelet.conf || $CLUSTER_EXISTS == true ]]; then
  record ok ports "node already in the cluster; its ports belong to it"
else
  busy=()
  listening=$(ss -ltnH 2>/dev/null | awk '{print $4}')
  for port in $PORTS; do
    if grep -Eq "[:.]$port\$" <<<"$listening"; then busy+=("$port"); fi
  done
  if ((${#busy[@]})); then
    record fail ports "in use: ${busy[*]} (needed by Kubernetes on this node)"
  else
    record ok ports "free: ${PORTS:-none needed}"
  fi
fi

# --- time, names, NFS --------------------------------------------------------------
synced=$(timedatectl show -p NTPSynchronized --value 2>/dev/null || echo unknown)
if [[ $synced == yes ]]; then
  record ok time-sync "NTP synchronised"
else
  record warn time-sync "not confirmed ($synced): certificates and etcd need synchronised clocks"
fi
for name in $DNS_NAMES; do
  if getent hosts "$name" >/dev/null; then
    record ok "dns-$name" "resolves"
  else
    record fail "dns-$name" "does not resolve from this node: create the DNS record"
  fi
done
if [[ -n $NFS_SERVER ]]; then
  if timeout 5 bash -c "exec 3<>/dev/tcp/$NFS_SERVER/2049" 2>/dev/null; then
    record ok nfs "$NFS_SERVER:2049 reachable"
  else
    record fail nfs "$NFS_SERVER:2049 unreachable from this node"
  fi
fi

# --- GPUs against the inventory ---------------------------------------------------
if ((EXPECTED_GPUS > 0)); then
  if [[ $GPUS_SIMULATED == true ]]; then
    record ok gpus "$EXPECTED_GPUS simulated (lab)"
  elif ! command -v nvidia-smi >/dev/null; then
    if [[ $DRIVER_ON_HOST == true ]]; then
      record warn gpus "no driver yet; node preparation installs it"
    else
      record fail gpus "no nvidia-smi, and the driver is not installed by node preparation"
    fi
  else
    found=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | wc -l)
    driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n 1)
    if ((found == EXPECTED_GPUS)); then
      record ok gpus "$found GPUs, driver $driver"
    else
      record fail gpus "$found GPUs found, the inventory says $EXPECTED_GPUS"
    fi
  fi
fi

report=$(
  IFS=,
  printf '{"node":"%s","passed":%s,"checks":[%s]}' "$NODE_NAME" "$([[ $failed == 0 ]] && echo true || echo false)" "${results[*]}"
)
printf 'PREFLIGHT %s\n' "$report"
if ((failed)); then
  die "$NODE_NAME failed; fix the checks marked fail, then run pulumi up again"
fi
