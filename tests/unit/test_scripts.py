"""Rendering scripts: parameters quoted at the top, helpers inlined."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from components.scripts import render_script, script_hash


@pytest.mark.process
def test_parameters_are_quoted_and_includes_inlined(tmp_path: Path) -> None:
    (tmp_path / "lib.sh").write_text("#!/usr/bin/env bash\nshout() { printf '%s!\\n' \"$1\"; }\n")
    (tmp_path / "main.sh").write_text(
        '#!/usr/bin/env bash\nset -euo pipefail\n: "${GREETING:?}"\n# include: lib.sh\nshout "$GREETING"\n'
    )
    text = render_script(tmp_path / "main.sh", {"GREETING": "it's $(not run) `either`"})
    assert text.count("#!/usr/bin/env bash") == 1
    result = subprocess.run(["bash", "-c", text], capture_output=True, text=True, check=True)
    assert result.stdout == "it's $(not run) `either`!\n"


def test_hash_follows_parameters(tmp_path: Path) -> None:
    (tmp_path / "s.sh").write_text("#!/usr/bin/env bash\necho hi\n")
    one = render_script(tmp_path / "s.sh", {"A": "1"})
    assert script_hash(one) == script_hash(render_script(tmp_path / "s.sh", {"A": "1"}))
    assert script_hash(one) != script_hash(render_script(tmp_path / "s.sh", {"A": "2"}))


@pytest.mark.parametrize("name", ["lower", "1ST", "WITH-DASH", ""])
def test_bad_parameter_names_are_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "s.sh").write_text("#!/usr/bin/env bash\n")
    with pytest.raises(ValueError, match="bad parameter name"):
        render_script(tmp_path / "s.sh", {name: "x"})


COMPONENTS = Path(__file__).parents[2] / "components"
PREAMBLE = "# include: ../remote/preamble.sh"
# Inlined into scripts after the preamble, not run on their own.
INCLUDED = {"preamble.sh", "helpers.sh", "oidc-ca.sh"}


def test_every_node_script_starts_with_the_shared_preamble() -> None:
    """One dialect (bash, strict mode), one place for say/die and the root
    every path is under (R, from PREP_ROOT)."""
    for path in sorted(COMPONENTS.rglob("*.sh")):
        if path.name in INCLUDED:
            continue
        lines = path.read_text().splitlines()
        assert lines[0] == "#!/usr/bin/env bash", path
        first = next(line for line in lines[1:] if line.strip() and (line == PREAMBLE or not line.startswith("#")))
        assert first == PREAMBLE, path
        assert "PREP_ROOT" not in path.read_text() and "set -euo pipefail" not in path.read_text(), path
