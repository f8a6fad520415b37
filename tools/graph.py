"""`make graph`: the dependency graph the program declares, drawn from a
mocked run of a stack as Mermaid (or Graphviz dot with `--dot`). One box
per component type, an edge where a resource of one depends on a resource
of another; edges implied by others are left out."""

from __future__ import annotations

import argparse
import functools
import sys

from tools.mocked_program import Recorded, run_program, stack_settings

ROOT_TYPE = "runai-cluster:cluster:Cluster"


def _owner(recorded: Recorded, urn: str) -> str | None:
    """The component type a resource belongs to (its nearest component
    ancestor below the root)."""
    current = recorded.resources.get(urn)
    while current is not None:
        if current.type.startswith("runai-cluster:") and current.type != ROOT_TYPE:
            return current.type.rsplit(":", 1)[1]
        current = recorded.resources.get(current.parent)
    return None


def edges(recorded: Recorded) -> set[tuple[str, str]]:
    """(needed, needing) between component types, transitively reduced."""
    found: set[tuple[str, str]] = set()
    for urn, resource in recorded.resources.items():
        after = _owner(recorded, urn)
        for dependency in resource.dependencies:
            before = _owner(recorded, dependency)
            if after and before and after != before:
                found.add((before, after))
    for edge in sorted(found):
        if _implied(edge, found - {edge}):
            found.discard(edge)
    return found


def _implied(edge: tuple[str, str], others: set[tuple[str, str]]) -> bool:
    seen, todo = set(), [edge[0]]
    while todo:
        current = todo.pop()
        for before, after in others:
            if before == current and after not in seen:
                if after == edge[1]:
                    return True
                seen.add(after)
                todo.append(after)
    return False


def mermaid(graph: set[tuple[str, str]]) -> str:
    return "\n".join(["flowchart TD", *(f"  {before} --> {after}" for before, after in sorted(graph))]) + "\n"


def dot(graph: set[tuple[str, str]]) -> str:
    lines = ["digraph runai_cluster {", "  rankdir=TB;", *(f"  {a} -> {b};" for a, b in sorted(graph)), "}"]
    return "\n".join(lines) + "\n"


@functools.cache  # one evaluation per process, however many pages ask
def draw(stack: str = "prod") -> str:
    """The Mermaid graph of an example stack, for docs/architecture.md."""
    recorded, _ = run_program(stack_settings(stack), stack=stack)
    return f"```mermaid\n{mermaid(edges(recorded))}```\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.graph", description=__doc__.split("\n\n")[0])
    parser.add_argument("stack", nargs="?", default="prod", help="the example stack to draw (Pulumi.<stack>.yaml)")
    parser.add_argument("--dot", action="store_true", help="Graphviz dot instead of Mermaid")
    args = parser.parse_args(argv)
    recorded, _ = run_program(stack_settings(args.stack), stack=args.stack)
    graph = edges(recorded)
    sys.stdout.write(dot(graph) if args.dot else mermaid(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
