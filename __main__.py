"""Entry point: everything happens in components.program.build()."""

from components.program import build

build()
