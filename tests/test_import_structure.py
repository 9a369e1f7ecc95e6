"""Arrows point down: no import circle between the package's modules (read from import lines)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "marlpipe"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(local_imports: bool) -> dict[str, set[str]]:
    """Module -> the package modules its import lines name (function bodies too if asked)."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        todo = list(ast.parse(path.read_text()).body)
        while todo:
            node = todo.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not local_imports:
                continue
            if isinstance(node, ast.Import):
                graph[name] |= {a.name for a in node.names if a.name in files}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    graph[name].add(target if target in files else node.module)
            else:
                todo.extend(ast.iter_child_nodes(node))
        graph[name] &= set(files)
    return graph


def cycle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A path ``start -> ... -> start`` along the graph, or None."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph[node]):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


@pytest.mark.parametrize(
    ("local_imports", "prefixes"),
    [(False, ("marlpipe",)),  # module-level import lines of every module
     (True, ("marlpipe.algos", "marlpipe.registry", "marlpipe.config"))],  # and deferred ones
)  # fmt: skip
def test_no_import_circles(local_imports, prefixes):
    graph = import_graph(local_imports)
    assert {"marlpipe.algos.matd3", "marlpipe.registry"} <= set(graph)
    for name in sorted(graph):
        if name.startswith(prefixes) and name != "marlpipe":  # the lazy top-level __init__
            cycle = cycle_through(graph, name)
            assert cycle is None, " -> ".join(cycle)


def test_the_check_sees_a_circle():
    assert cycle_through({"a": {"b"}, "b": {"a"}}, "a") == ["a", "b", "a"]
