"""Mutation testing of the core with mutmut: the kill rate of the tests, module by module.

Run by hand, never in CI (hours on two cores; docs/mutation-testing.md):
    pip install -e ".[mutation,pipeline,test]"
    python benchmarks/mutation.py [--module PATH ...] [--max-children N] [--fresh]
                                  [--report-only] [--survivors PATH] [--json PATH]

mutmut (its settings: ``[tool.mutmut]`` in pyproject.toml) copies ``marlpipe/`` and ``tests/``
into ``./mutants/``, makes every small change it knows (``+`` to ``-``, ``<`` to ``<=``, a number
plus one, a dropped argument, ...) to each function of the modules in ``only_mutate``, and runs
the tests that reach the function against each change. A mutant is *killed* when a test fails,
a *timeout* when the tests run far past their usual time (an endless loop: counted as killed),
*survived* when every test passes (a change no test notices) and *no tests* when no selected
test reaches the function. The kill rate is (killed + timeout) / all mutants.

Without ``--module`` every mutant not yet decided runs: results are kept in ``./mutants/`` and
mutmut retests only the functions whose source changed, so a second run after a few new tests
is short; ``--fresh`` removes ``./mutants/`` first to measure from scratch. With ``--module``
only those modules' mutants run, all of them again. ``--report-only`` runs nothing and tabulates
the results already in ``./mutants/``. ``--survivors PATH`` writes each surviving mutant's name
and diff (what ``mutmut show NAME`` prints) to PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import Report, parser

REPO = Path(__file__).resolve().parents[1]
"""The repository root: mutmut reads pyproject.toml and writes ./mutants/ in the current
directory, so the script works from here whatever directory it is started in."""
MUTMUT = "import sys; from mutmut.__main__ import cli; sys.exit(cli())"
"""mutmut's command line in this interpreter (``python -m mutmut`` imports its __main__ twice)."""
COLUMNS = ("killed", "timeout", "survived", "no_tests", "unchecked", "other")
"""The table's counts; ``unchecked``: not run yet (an interrupted run), ``other``: suspicious,
segfault, skipped or caught by a type check."""


def configured_modules() -> list[str]:
    """The ``only_mutate`` paths of ``[tool.mutmut]`` in pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"]
    return list(config["only_mutate"])


def module_glob(path: str) -> str:
    """mutmut's name pattern for every mutant of the module at ``path``."""
    return path.removesuffix(".py").replace("/", ".") + ".*"


def run_mutmut(modules: list[str] | None, max_children: int) -> float:
    """``mutmut run`` (over ``modules``, or every configured module) in the repository root;
    its wall time in seconds. Its progress goes straight to the terminal."""
    command = [sys.executable, "-c", MUTMUT, "run", "--max-children", str(max_children)]
    command += [module_glob(path) for path in modules or []]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO)
    wall = time.perf_counter() - start
    print()
    if done.returncode != 0:
        sys.exit(f"mutmut run failed (exit code {done.returncode}); the table is not written")
    return wall


def count(path: str) -> dict[str, Any]:
    """A module's mutants by outcome, from mutmut's own record (``mutants/<path>.meta``)."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import collect_stat

    data = SourceFileMutationData(path=path)
    data.load()  # relative to the current directory: the repository root
    stat = collect_stat(data)
    row = {"total": stat.total, "killed": stat.killed, "timeout": stat.timeout,
           "survived": stat.survived, "no_tests": stat.no_tests,
           "unchecked": stat.not_checked}  # fmt: skip
    row["other"] = stat.total - sum(row[c] for c in COLUMNS if c != "other")
    row["kill_rate"] = (stat.killed + stat.timeout) / stat.total if stat.total else None
    row["survivors"] = sorted(k for k, v in data.exit_code_by_key.items() if v == 0)
    return row


def table_line(name: str, row: dict[str, Any]) -> str:
    rate = "     -" if row["kill_rate"] is None else f"{100 * row['kill_rate']:5.1f}%"
    counts = " ".join(f"{row[c]:>9}" for c in ("total", *COLUMNS))
    return f"{name:33} {counts}  {rate}"


def write_survivors(path: Path, rows: dict[str, dict[str, Any]]) -> None:
    """Each surviving mutant's name and diff, module by module."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    parts = []
    for module, row in rows.items():
        parts.append(f"##### {module}: {len(row['survivors'])} survived\n")
        for name in row["survivors"]:
            parts.append(f"# {name}\n{get_diff_for_mutant(name, path=module)}\n")
    path.write_text("\n".join(parts))
    print(f"surviving mutants written to {path}", file=sys.stderr)


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument(
        "--module", metavar="PATH", nargs="+", default=None,
        help="only these modules of only_mutate, e.g. marlpipe/algos/buffer.py",
    )  # fmt: skip
    cli.add_argument("--max-children", type=int, default=2, help="mutants tested in parallel")
    cli.add_argument("--fresh", action="store_true", help="remove ./mutants/ first")
    cli.add_argument("--report-only", action="store_true",
                     help="run nothing: tabulate the results already in ./mutants/")  # fmt: skip
    cli.add_argument("--survivors", metavar="PATH", default=None,
                     help="write every surviving mutant's name and diff to PATH")  # fmt: skip
    args = cli.parse_args()
    configured = configured_modules()
    unknown = sorted(set(args.module or []) - set(configured))
    if unknown:
        cli.error(f"--module {' '.join(unknown)}: not in [tool.mutmut] only_mutate {configured}")
    if args.fresh and args.report_only:
        cli.error("--fresh removes the results that --report-only tabulates")
    modules = args.module or configured
    survivors = Path(args.survivors).resolve() if args.survivors else None
    if args.json:
        args.json = str(Path(args.json).resolve())  # before the chdir below
    report = Report(__file__, args)
    os.chdir(REPO)
    if args.fresh:
        shutil.rmtree(REPO / "mutants", ignore_errors=True)
    if not args.report_only:
        wall = run_mutmut(args.module, args.max_children)
        report.figure("wall_s", wall, f"mutmut run: {wall / 60:.1f} min wall time")
    rows = {path: count(path) for path in modules}
    report.line(f"{'module':33} {'total':>9} " + " ".join(f"{c:>9}" for c in COLUMNS)
                + "  kill rate")  # fmt: skip
    for path, row in rows.items():
        report.line(table_line(path, row))
    totals = {c: sum(r[c] for r in rows.values()) for c in ("total", *COLUMNS)}
    decided = totals["killed"] + totals["timeout"]
    totals["kill_rate"] = decided / totals["total"] if totals["total"] else None
    report.line(table_line("all", totals))
    report.figure("modules", {p: {k: v for k, v in r.items() if k != "survivors"}
                              for p, r in rows.items()})  # fmt: skip
    report.figure("all", totals)
    report.figure("survivors", {p: r["survivors"] for p, r in rows.items()})
    if survivors is not None:
        write_survivors(survivors, rows)
    report.write()


if __name__ == "__main__":
    main()
