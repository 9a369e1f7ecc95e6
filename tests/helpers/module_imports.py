"""The package's import lines read with ``ast``: one graph for the import-structure test and the
code deps of ``dvc.yaml``'s stages (a helper, not a test module: both tests import it).

Every import line counts, at module level and inside functions alike (a deferred import is
still an arrow). Modules named by strings (``registry.py``'s ``"module:Class"``, the lazy names
of ``marlpipe/__init__.py``) are not import lines and are not followed.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "marlpipe"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of ``package`` by dotted name (a package by its ``__init__.py``)."""
    return {module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def _is_type_checking(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(
    path: Path,
    known: set[str],
    local_imports: bool = True,
    type_checking: bool = True,
) -> set[str]:
    """The modules of ``known`` that ``path``'s import lines name: function bodies too if
    ``local_imports``, ``if TYPE_CHECKING:`` blocks if ``type_checking``."""
    found: set[str] = set()
    todo = list(ast.parse(path.read_text()).body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not local_imports:
            continue
        if _is_type_checking(node) and not type_checking:
            todo.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                found.add(target if target in known else node.module)
        else:
            todo.extend(ast.iter_child_nodes(node))
    return found & known


def import_graph(local_imports: bool = True, package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules its import lines name (function bodies too if asked)."""
    files = module_files(package)
    known = set(files)
    return {name: imports_of(path, known, local_imports) for name, path in files.items()}


def closure(entry: Path, package: Path = PACKAGE) -> set[Path]:
    """The files of every package module running ``entry`` can import: its import lines and
    theirs, deferred ones included, ``if TYPE_CHECKING:`` blocks left out (they never run),
    and each module's enclosing packages (their ``__init__.py`` runs first)."""
    files = module_files(package)
    known = set(files)
    seen: set[str] = set()
    todo = sorted(imports_of(entry, known, type_checking=False))
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            module = ".".join(parts[:i])
            if module in known and module not in seen:
                seen.add(module)
                todo.extend(imports_of(files[module], known, type_checking=False))
    return {files[name] for name in seen}
