"""`python -m tools.refdocs` rewrites the generated reference pages;
`--check` lists stale ones and fails."""

from __future__ import annotations

import sys

from tools.refdocs import stale, write


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        pages = stale()
        for page in pages:
            print(f"{page} is stale: run `make docs`", file=sys.stderr)
        return 1 if pages else 0
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
