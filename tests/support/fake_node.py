"""A fake Ubuntu machine for running node scripts for real under bash: a
scratch PREP_ROOT plus recording stand-ins for the system commands, first on
PATH. The stand-ins keep a little machine state (installed packages, holds,
units, swap) so that a second run sees what the first one did."""

from __future__ import annotations

import hashlib
import subprocess
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from components.scripts import render_script

_PRELUDE = """\
#!/usr/bin/env bash
set -euo pipefail
{ printf '%s' "${0##*/}"; printf ' %s' "$@"; printf '\\n'; } >>"$FAKE_LOG"
S=$FAKE_STATE
"""

# name -> body run after the prelude. Each keeps just enough state for the
# scripts' read-only queries to see what earlier mutating calls did.
_STAND_INS: dict[str, str] = {
    "apt-get": r"""
case ${1-} in
  update) ;;
  install)
    shift
    skip=0
    for arg in "$@"; do
      if ((skip)); then skip=0; continue; fi
      case $arg in
        -o) skip=1 ;;
        -*) ;;
        *)
          name=${arg%%=*}
          version=${arg#"$name"}
          version=${version#=}
          if [[ -e $S/holds/$name ]]; then
            echo "E: Held packages were changed and -y was used without --allow-change-held-packages." >&2
            exit 100
          fi
          printf '%s\n' "${version:-9.9-candidate}" >"$S/dpkg/$name"
          case $name in
            # Debian postinst scripts enable and start the daemon.
            containerd | containerd.io) touch "$S/enabled/containerd" "$S/active/containerd" ;;
            nvidia-container-toolkit-base)
              mkdir -p "$PREP_ROOT/etc/nvidia-container-runtime"
              printf '%s\n' '#accept-nvidia-visible-devices-as-volume-mounts = false' \
                '#accept-nvidia-visible-devices-envvar-when-unprivileged = true' '' \
                '[nvidia-container-cli]' 'ldconfig = "@/sbin/ldconfig.real"' \
                >"$PREP_ROOT/etc/nvidia-container-runtime/config.toml"
              ;;
          esac
          ;;
      esac
    done
    ;;
  *) echo "fake apt-get: unsupported: $*" >&2; exit 1 ;;
esac
""",
    "dpkg-query": r"""
name=${!#}
if [[ -f $S/dpkg/$name ]]; then
  printf 'installed %s' "$(<"$S/dpkg/$name")"
else
  echo "dpkg-query: no packages found matching $name" >&2
  exit 1
fi
""",
    "dpkg": r"""
[[ ${1-} == --print-architecture ]] || { echo "fake dpkg: unsupported: $*" >&2; exit 1; }
echo amd64
""",
    "apt-mark": r"""
cmd=$1
shift
case $cmd in
  hold) for p in "$@"; do touch "$S/holds/$p"; done ;;
  unhold) for p in "$@"; do rm -f "$S/holds/$p"; done ;;
  showhold) ls "$S/holds" ;;
  *) echo "fake apt-mark: unsupported: $cmd" >&2; exit 1 ;;
esac
""",
    "systemctl": r"""
words=()
now=0
for arg in "$@"; do
  case $arg in
    --now) now=1 ;;
    -*) ;;
    *) words+=("$arg") ;;
  esac
done
unit=${words[1]-}
case ${words[0]} in
  daemon-reload) ;;
  is-enabled) [[ -e $S/enabled/$unit ]] ;;
  is-active) [[ -e $S/active/$unit ]] ;;
  enable)
    touch "$S/enabled/$unit"
    if ((now)); then touch "$S/active/$unit"; fi
    ;;
  start | restart) touch "$S/active/$unit" ;;
  *) echo "fake systemctl: unsupported: $*" >&2; exit 1 ;;
esac
""",
    "swapon": r"""
if [[ -f $S/swap ]]; then cat "$S/swap"; fi
""",
    "swapoff": r"""
rm -f "$S/swap"
""",
    "modprobe": r"""
mkdir -p "$PREP_ROOT/sys/module/$1"
""",
    "sysctl": "true\n",
    "curl": r"""
echo "-----BEGIN PGP PUBLIC KEY BLOCK----- fake key from ${!#}"
""",
    "gpg": r"""
sed 's/^/dearmored: /'
""",
    # `containerd --config PATH config dump`: the file plus its imported drop-ins.
    "containerd": r"""
[[ $1 == --config && $3 == config && $4 == dump ]] || { echo "fake containerd: unsupported: $*" >&2; exit 1; }
cat "$2"
if grep -q '^imports' "$2"; then
  for f in "$PREP_ROOT"/etc/containerd/conf.d/*.toml; do
    if [[ -f $f ]]; then cat "$f"; fi
  done
fi
""",
    # Toolkit 1.17 edits config.toml in place (re-serialising it, which drops
    # comments); with FAKE_NVCTK_DROPIN set it behaves like 1.18 and writes a
    # drop-in that config.toml imports.
    "nvidia-ctk": r"""
case $1 in
  runtime)
    for arg in "$@"; do
      if [[ $arg == --help ]]; then
        echo "--config value  path to the config file for the target runtime"
        if [[ -n ${FAKE_NVCTK_DROPIN-} ]]; then echo "--drop-in-config value  path to the drop-in"; fi
        exit 0
      fi
    done
    config="" drop_in=""
    for arg in "$@"; do
      case $arg in
        --config=*) config=${arg#*=} ;;
        --drop-in-config=*) drop_in=${arg#*=} ;;
      esac
    done
    version=$(sed -n 's/^version = //p' "$config")
    if [[ $version == 2 ]]; then plugin='"io.containerd.grpc.v1.cri"'; else plugin='"io.containerd.cri.v1.runtime"'; fi
    stanza="
[plugins.$plugin.containerd]
  default_runtime_name = \"nvidia\"

[plugins.$plugin.containerd.runtimes.nvidia]
  runtime_type = \"io.containerd.runc.v2\"

[plugins.$plugin.containerd.runtimes.nvidia.options]
  BinaryName = \"/usr/bin/nvidia-container-runtime\"
  SystemdCgroup = true"
    if [[ -n $drop_in ]]; then
      mkdir -p "$(dirname "$drop_in")"
      printf '%s\n' "$stanza" >"$drop_in"
      { printf 'imports = ["%s/*.toml"]\n' "$(dirname "$drop_in")"; grep -v '^#' "$config"; } >"$config.new"
    else
      { grep -v '^#' "$config"; printf '%s\n' "$stanza"; } >"$config.new"
    fi
    mv "$config.new" "$config"
    ;;
  config)
    file="" setting=""
    while (($#)); do
      case $1 in
        --config-file=*) file=${1#*=} ;;
        --set) setting=$2; shift ;;
      esac
      shift
    done
    key=${setting%%=*}
    mkdir -p "$(dirname "$file")"
    touch "$file"
    {
      printf '%s = %s\n' "$key" "${setting#*=}"
      grep -Ev "^#?[[:space:]]*$key[[:space:]]*=" "$file" || true
    } >"$file.new"
    mv "$file.new" "$file"
    ;;
  *) echo "fake nvidia-ctk: unsupported: $*" >&2; exit 1 ;;
esac
""",
}

# Calls that only read state; anything else a script runs counts as a change.
_READ_ONLY: tuple[tuple[str, ...], ...] = (
    ("dpkg-query",),
    ("dpkg", "--print-architecture"),
    ("apt-mark", "showhold"),
    ("systemctl", "is-enabled"),
    ("systemctl", "is-active"),
    ("swapon", "--show"),
    ("containerd", "config", "dump"),
    ("nvidia-ctk", "runtime", "configure", "--help"),
    ("kubectl", "get"),
    ("kubectl", "wait"),
)


def _matches(call: list[str], name: str, *words: str) -> bool:
    return bool(call) and call[0] == name and all(word in call[1:] for word in words)


@dataclass
class Run:
    calls: list[list[str]]
    stdout: str

    def called(self, name: str, *words: str) -> bool:
        return any(_matches(call, name, *words) for call in self.calls)

    def mutating(self) -> list[str]:
        return [" ".join(call) for call in self.calls if not any(_matches(call, *pattern) for pattern in _READ_ONLY)]


class FakeNode:
    """A scratch root plus stand-in commands, seeded as a fresh Ubuntu 24.04."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.state = base / "state"
        self.bin = base / "bin"
        self.log = base / "calls.log"
        for directory in ("dpkg", "holds", "enabled", "active"):
            (self.state / directory).mkdir(parents=True)
        self.bin.mkdir()
        for name, body in _STAND_INS.items():
            self.stand_in(name, body)
        for package, version in {"ca-certificates": "20240203", "curl": "8.5.0-2ubuntu10", "gpg": "2.4.4"}.items():
            (self.state / "dpkg" / package).write_text(version + "\n")
        (self.state / "swap").write_text("/swap.img file 8G 0B -2\n")
        etc = self.root / "etc"
        etc.mkdir(parents=True)
        (etc / "fstab").write_text(
            "UUID=0f3a / ext4 defaults 0 1\n/swap.img\tnone\tswap\tsw\t0\t0\n# /old.swap none swap sw 0 0\n"
        )
        (etc / "os-release").write_text('NAME="Ubuntu"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n')
        (self.root / "sys" / "module").mkdir(parents=True)
        self.scripts = base / "scripts"
        self.scripts.mkdir()

    def stand_in(self, name: str, body: str) -> None:
        """Put a recording stand-in for command `name` on PATH."""
        path = self.bin / name
        path.write_text(_PRELUDE + textwrap.dedent(body))
        path.chmod(0o755)

    def execute(
        self, script: Path, params: Mapping[str, str], extra_env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        rendered = self.scripts / script.name
        rendered.write_text(render_script(script, params))
        self.log.write_text("")
        env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "PREP_ROOT": str(self.root),
            "FAKE_STATE": str(self.state),
            "FAKE_LOG": str(self.log),
            "HOME": str(self.base),
            "LC_ALL": "C",
            **(extra_env or {}),
        }
        return subprocess.run(
            ["bash", str(rendered)], env=env, capture_output=True, text=True, check=False, timeout=120
        )

    def run(self, script: Path, params: Mapping[str, str], extra_env: Mapping[str, str] | None = None) -> Run:
        result = self.execute(script, params, extra_env)
        assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
        calls = [line.split() for line in self.log.read_text().splitlines() if line.strip()]
        return Run(calls=calls, stdout=result.stdout)

    def snapshot(self) -> dict[str, tuple[str, int, int]]:
        """Content hash, inode and mtime of every file under the scratch root:
        rewriting a file with the same content counts as a change too."""
        snapshot = {}
        for path in sorted(self.root.rglob("*")):
            if path.is_file():
                stat = path.stat()
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                snapshot[str(path.relative_to(self.root))] = (digest, stat.st_ino, stat.st_mtime_ns)
        return snapshot

    def read(self, path: str) -> str:
        return (self.root / path.lstrip("/")).read_text()

    def installed(self, package: str) -> str | None:
        path = self.state / "dpkg" / package
        return path.read_text().strip() if path.exists() else None

    def held(self) -> set[str]:
        return {path.name for path in (self.state / "holds").iterdir()}


def assert_idempotent(node: FakeNode, script: Path, params: Mapping[str, str], **env: str) -> Run:
    before = node.snapshot()
    again = node.run(script, params, env)
    assert again.mutating() == [], f"second {script.name} run changed the machine:\n" + "\n".join(again.mutating())
    assert node.snapshot() == before, f"second {script.name} run changed files"
    assert "changed: nothing" in again.stdout
    return again
