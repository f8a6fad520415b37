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
