"""Arrows point down: the package's floors, and no import circle between its modules.

Every import line of every module counts, at module level and inside functions alike (a
deferred import is still an arrow; ``tests/helpers/module_imports.py`` reads them). Modules named by
strings (``registry.py``'s ``"module:Class"``, the lazy names of ``marlpipe/__init__.py``) are
not import lines and are not checked here.
"""

from __future__ import annotations

import ast

import pytest

from tests.helpers.module_imports import PACKAGE, import_graph

LAYERS: list[tuple[str, ...]] = [
    # the bottom: no marlpipe imports (the lazy top-level ``__init__`` imports by name only)
    ("marlpipe", "marlpipe.errors", "marlpipe.io", "marlpipe.seeding", "marlpipe.code_hash",
     "marlpipe.log"),
    ("marlpipe.registry",),  # algorithms by "module:Class" name, activations; torch-free
    ("marlpipe.config",),  # params.yaml's dataclasses; reads the registry
    ("marlpipe.envs",),
    ("marlpipe.algos",),  # agents read env specs, net configs and the registry
    ("marlpipe.evolution",),
    ("marlpipe.training",),  # the loop and its Tracker protocol
    ("marlpipe.tracking",),  # MLflow: implements training's Tracker
    ("marlpipe.pipeline",),  # the stages: talk to a Tracker
    ("marlpipe.results",),  # the results table runs the stages
    ("marlpipe.cli", "marlpipe.__main__"),
]
"""The floors, from the bottom: a module may import its own floor and those below, never one
above. Within a floor, only circles are forbidden."""


def floor(module: str) -> int:
    """The index in :data:`LAYERS` of the longest name that is ``module`` or a package above
    it (the top-level package only names itself: a new top-level module needs a floor)."""
    best, found = -1, None
    for index, names in enumerate(LAYERS):
        for name in names:
            inside = module.startswith(name + ".") and name != "marlpipe"
            if (module == name or inside) and len(name) > best:
                best, found = len(name), index
    assert found is not None, f"{module} is on no floor: add it to LAYERS"
    return found


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


def test_no_relative_imports():
    """Relative imports would slip past the checks below: the package spells every import out."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            assert not (isinstance(node, ast.ImportFrom) and node.level), f"{path}:{node.lineno}"


def test_every_module_is_on_a_floor():
    graph = import_graph()
    assert {"marlpipe.algos.matd3", "marlpipe.registry", "marlpipe.errors"} <= set(graph)
    for name in graph:
        floor(name)


def test_no_module_imports_a_higher_floor():
    upward = [
        f"{name} (floor {floor(name)}) imports {target} (floor {floor(target)})"
        for name, targets in sorted(import_graph().items())
        for target in sorted(targets)
        if floor(target) > floor(name)
    ]
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("local_imports", [False, True], ids=["module-level", "all"])
def test_no_import_circles(local_imports):
    graph = import_graph(local_imports)
    for name in sorted(graph):
        cycle = cycle_through(graph, name)
        assert cycle is None, " -> ".join(cycle)


def test_the_checks_see_a_circle_and_an_upward_import():
    assert cycle_through({"a": {"b"}, "b": {"a"}}, "a") == ["a", "b", "a"]
    assert floor("marlpipe.pipeline.resume") > floor("marlpipe.training.ray_trainer")
    assert floor("marlpipe.errors") < floor("marlpipe.config.validation") < floor("marlpipe.cli")
    with pytest.raises(AssertionError, match="on no floor"):
        floor("marlpipe.new_module")


MAX_LINES = 300


def test_a_long_module_says_why_its_size_is_earned():
    """A module over :data:`MAX_LINES` lines says in its docstring why ("size ... is earned")."""
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > MAX_LINES:
            doc = " ".join((ast.get_docstring(ast.parse(text)) or "").split())
            assert "is earned" in doc, f"{path.name}: over {MAX_LINES} lines; split it or say why"
