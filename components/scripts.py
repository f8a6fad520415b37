"""Render the shell scripts that run on nodes.

Each script is a real `.sh` file next to the component that uses it. Its
parameters are passed explicitly: the renderer inserts one shell-quoted
assignment per parameter right after the shebang, so the rendered text is a
complete script whose hash changes exactly when its body or a parameter does.
A line `# include: NAME` is replaced by the file NAME beside the script
(without its shebang): a script travels over SSH as one piece, so shared
helpers are inlined rather than sourced.
"""

from __future__ import annotations

import functools
import hashlib
import shlex
from collections.abc import Mapping
from pathlib import Path

_INCLUDE = "# include: "
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def render_script(path: Path, params: Mapping[str, str]) -> str:
    """Return the script at `path` with `params` assigned at its top."""
    body = _inline_includes(path)
    shebang, _, rest = body.partition("\n")
    if not shebang.startswith("#!"):
        raise ValueError(f"{path}: scripts must start with a shebang line")
    lines = [shebang, f"# rendered from {path.name}"]
    for name in sorted(params):
        if not name or set(name) - _NAME_CHARS or name[0].isdigit():
            raise ValueError(f"{path.name}: bad parameter name {name!r}")
        lines.append(f"{name}={shlex.quote(str(params[name]))}")
    return "\n".join(lines) + "\n" + rest


@functools.cache
def _inline_includes(path: Path) -> str:
    # Cached: a 512-node program renders the same few files thousands of times.
    lines = []
    for line in path.read_text().splitlines(keepends=True):
        if line.startswith(_INCLUDE):
            included = (path.parent / line.removeprefix(_INCLUDE).strip()).read_text()
            lines.append(included.partition("\n")[2])
        else:
            lines.append(line)
    return "".join(lines)


def script_hash(text: str) -> str:
    """A short content hash, used as a trigger so changed scripts re-run."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]
