"""Fingerprints of the package's own sources (imports no marlpipe).

:func:`code_hash` is the Ray workers' check that they import the driver's code;
:func:`training_code_hash` is the resume rule's (``marlpipe.pipeline.resume``): a partial run
resumes only under the same training code.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
"""This ``marlpipe`` package's folder."""

_NOT_TRAINING_CODE = ("tracking", "results", "cli.py", "__main__.py")
"""Parts of the package that cannot change a generation's numbers (MLflow logging, the results
table, the command line); edits there keep a partial run resumable."""


def code_hash() -> str:
    """Hash of the package's Python sources, byte for byte (the Ray workers' code check)."""
    digest = hashlib.sha256()
    for source in sorted(PACKAGE.rglob("*.py")):
        digest.update(source.relative_to(PACKAGE).as_posix().encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return tree


def training_code_hash(package: str | Path | None = None) -> str:
    """Hash of the code that shapes a generation: every module of the package (``package``, by
    default this one) except those in ``_NOT_TRAINING_CODE``, each as its syntax tree without
    docstrings, so that comments, docstrings, blank lines and formatting do not count. Any
    other edit does, even one that happens not to change the numbers: that cannot be known
    without running both. A module's tree is parsed again only when its file changed (its size
    or times), so the checkpoint of every generation asks for it at the cost of a few stats."""
    package = Path(package) if package is not None else PACKAGE
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        relative = source.relative_to(package).as_posix()
        if relative.split("/")[0] in _NOT_TRAINING_CODE:
            continue
        digest.update(relative.encode())
        digest.update(_syntax_digest(source, relative))
    return digest.hexdigest()[:16]


_syntax_digests: dict[Path, tuple[tuple[int, int, int], bytes]] = {}
"""Per module file: its (mtime, ctime, size) when last parsed, and its syntax tree's digest."""


def _syntax_digest(source: Path, relative: str) -> bytes:
    """sha256 of ``source``'s syntax tree without docstrings, parsed again only if it changed."""
    stat = source.stat()
    key = (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
    cached = _syntax_digests.get(source)
    if cached is None or cached[0] != key:
        tree = _without_docstrings(ast.parse(source.read_bytes(), filename=relative))
        cached = (key, hashlib.sha256(ast.dump(tree).encode()).digest())
        _syntax_digests[source] = cached
    return cached[1]


__all__ = ["code_hash", "training_code_hash"]
