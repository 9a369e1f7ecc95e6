"""Mutation testing of the core with mutmut: the kill rate of the tests, module by module.

Run by hand, never in CI (an hour or more on two cores; docs/mutation-testing.md):
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

Two passes. The main one runs ``[tool.mutmut]`` as it is, on the fast tests. The modules of
:data:`RESUME_PASS` are tested only by whole evolve runs of ``tests/pipeline/test_pipeline.py``,
too slow for the main pass (they reach nearly every core function): a second mutmut run, in a copy
of the repository under ``./mutants-resume/``, mutates only them and runs those tests; their rows
come from it. Results are kept in ``./mutants/`` and ``./mutants-resume/``: a later run retests only
mutants not yet decided (mutmut redoes the functions whose source changed), so a run after a
few new tests is short; ``--fresh`` removes both first, to measure from scratch. With
``--module`` only those modules' mutants run, all of them again. ``--report-only`` runs nothing
and tabulates the results kept. ``--survivors PATH`` writes each surviving mutant's name and
diff (what ``mutmut show NAME`` prints) to PATH.
"""

from __future__ import annotations

import json
import os
import re
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
RESUME_PASS: dict[str, Any] = {
    "only_mutate": ["marlpipe/pipeline/resume.py"],
    "pytest_add_cli_args_test_selection": [
        "-m", "not slow and not e2e", "-k", "resume or fresh_start",
        "tests/pipeline/test_pipeline.py", "tests/pipeline/test_resume.py",
    ],
}  # fmt: skip
"""The second pass's changes to ``[tool.mutmut]``: the resume module, with the pipeline tests
of resuming (a kill, a fingerprint, a stale or unreadable checkpoint, a fresh start) and the
resume module's own unit tests."""
RESUME_DIR = REPO / "mutants-resume"
"""Where the second pass runs: copies of what the main pass copies, and its own ./mutants/."""
MUTMUT = "import sys; from mutmut.__main__ import cli; sys.exit(cli())"
"""mutmut's command line in this interpreter (``python -m mutmut`` imports its __main__ twice)."""
COLUMNS = ("killed", "timeout", "survived", "no_tests", "unchecked", "other")
"""The table's counts; ``unchecked``: not run yet (an interrupted run), ``other``: suspicious,
segfault, skipped or caught by a type check."""


def mutmut_config() -> dict[str, Any]:
    """``[tool.mutmut]`` of pyproject.toml."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return dict(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mutmut"])


def module_glob(path: str) -> str:
    """mutmut's name pattern for every mutant of the module at ``path``."""
    return path.removesuffix(".py").replace("/", ".") + ".*"


def prepare_resume_pass(config: dict[str, Any]) -> None:
    """Refresh :data:`RESUME_DIR`'s copies of the sources, tests and data (mtimes kept, so mutmut
    still sees which functions changed) and its pyproject.toml: the repository's, with
    ``[tool.mutmut]`` changed by :data:`RESUME_PASS`."""
    RESUME_DIR.mkdir(exist_ok=True)
    for name in [*config["source_paths"], "tests", *config.get("also_copy", [])]:
        source, target = REPO / name, RESUME_DIR / name
        if target.is_dir():
            shutil.rmtree(target)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copy2(source, target)
    settings = {**config, **RESUME_PASS}
    table = "[tool.mutmut]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items())
    text = (REPO / "pyproject.toml").read_text()
    text = re.sub(r"^\[tool\.mutmut\]\n.*?(?=^\[)", table + "\n", text, flags=re.S | re.M)
    (RESUME_DIR / "pyproject.toml").write_text(text)


def run_mutmut(cwd: Path, modules: list[str] | None, max_children: int) -> None:
    """``mutmut run`` in ``cwd`` over ``modules`` (``None``: every one it mutates). Its
    progress goes straight to the terminal."""
    command = [sys.executable, "-c", MUTMUT, "run", "--max-children", str(max_children)]
    command += [module_glob(path) for path in modules or []]
    done = subprocess.run(command, cwd=cwd)
    print()
    if done.returncode != 0:
        sys.exit(f"mutmut run in {cwd} failed (exit code {done.returncode}); no table written")


def count(path: str) -> dict[str, Any]:
    """A module's mutants by outcome, from mutmut's own record (``mutants/<path>.meta`` under
    the current directory)."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import collect_stat

    data = SourceFileMutationData(path=path)
    data.load()
    stat = collect_stat(data)
    row = {"total": stat.total, "killed": stat.killed, "timeout": stat.timeout,
           "survived": stat.survived, "no_tests": stat.no_tests,
           "unchecked": stat.not_checked}  # fmt: skip
    row["other"] = stat.total - sum(row[c] for c in COLUMNS if c != "other")
    row["kill_rate"] = (stat.killed + stat.timeout) / stat.total if stat.total else None
    row["survivors"] = sorted(k for k, v in data.exit_code_by_key.items() if v == 0)
    if row["survivors"]:
        from mutmut.mutation.diff_apply import get_diff_for_mutant

        row["diffs"] = [get_diff_for_mutant(name, path=path) for name in row["survivors"]]
    return row


def table_line(name: str, row: dict[str, Any]) -> str:
    rate = "     -" if row["kill_rate"] is None else f"{100 * row['kill_rate']:5.1f}%"
    counts = " ".join(f"{row[c]:>9}" for c in ("total", *COLUMNS))
    return f"{name:33} {counts}  {rate}"


def write_survivors(path: Path, rows: dict[str, dict[str, Any]]) -> None:
    """Each surviving mutant's name and diff, module by module."""
    parts = []
    for module, row in rows.items():
        parts.append(f"##### {module}: {len(row['survivors'])} survived\n")
        for name, diff in zip(row["survivors"], row.get("diffs", []), strict=True):
            parts.append(f"# {name}\n{diff}\n")
    path.write_text("\n".join(parts))
    print(f"surviving mutants written to {path}", file=sys.stderr)


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument(
        "--module", metavar="PATH", nargs="+", default=None,
        help="only these modules of only_mutate, e.g. marlpipe/algos/buffer.py",
    )  # fmt: skip
    cli.add_argument("--max-children", type=int, default=2, help="mutants tested in parallel")
    cli.add_argument("--fresh", action="store_true", help="remove the results kept first")
    cli.add_argument("--report-only", action="store_true",
                     help="run nothing: tabulate the results already kept")  # fmt: skip
    cli.add_argument("--survivors", metavar="PATH", default=None,
                     help="write every surviving mutant's name and diff to PATH")  # fmt: skip
    args = cli.parse_args()
    config = mutmut_config()
    configured = list(config["only_mutate"])
    unknown = sorted(set(args.module or []) - set(configured))
    if unknown:
        cli.error(f"--module {' '.join(unknown)}: not in [tool.mutmut] only_mutate {configured}")
    if args.fresh and args.report_only:
        cli.error("--fresh removes the results that --report-only tabulates")
    modules = args.module or configured
    resumed = [m for m in modules if m in RESUME_PASS["only_mutate"]]
    main_pass = [m for m in modules if m not in resumed]
    survivors = Path(args.survivors).resolve() if args.survivors else None
    if args.json:
        args.json = str(Path(args.json).resolve())  # before the chdir below
    report = Report(__file__, args)
    os.chdir(REPO)
    if args.fresh:
        for folder in (REPO / "mutants", RESUME_DIR):
            shutil.rmtree(folder, ignore_errors=True)
    if not args.report_only:
        start = time.perf_counter()
        if main_pass:
            run_mutmut(REPO, args.module and main_pass, args.max_children)
            wall = report.figure("main_pass_s", time.perf_counter() - start)
            report.line(f"main pass: {wall / 60:.1f} min")
        if resumed:
            prepare_resume_pass(config)
            begin = time.perf_counter()
            run_mutmut(RESUME_DIR, args.module and resumed, args.max_children)
            wall = report.figure("resume_pass_s", time.perf_counter() - begin)
            report.line(f"resume pass: {wall / 60:.1f} min")
        wall = report.figure("wall_s", time.perf_counter() - start)
        report.line(f"mutmut runs: {wall / 60:.1f} min wall time")

    rows = {path: count(path) for path in main_pass}
    if resumed:
        os.chdir(RESUME_DIR)
        rows.update({path: count(path) for path in resumed})
        os.chdir(REPO)
    rows = {path: rows[path] for path in modules}
    report.line(f"{'module':33} {'total':>9} " + " ".join(f"{c:>9}" for c in COLUMNS)
                + "  kill rate")  # fmt: skip
    for path, row in rows.items():
        report.line(table_line(path, row))
    totals = {c: sum(r[c] for r in rows.values()) for c in ("total", *COLUMNS)}
    decided = totals["killed"] + totals["timeout"]
    totals["kill_rate"] = decided / totals["total"] if totals["total"] else None
    report.line(table_line("all", totals))
    skip = ("survivors", "diffs")
    report.figure("modules", {p: {k: v for k, v in r.items() if k not in skip}
                              for p, r in rows.items()})  # fmt: skip
    report.figure("all", totals)
    report.figure("survivors", {p: r["survivors"] for p, r in rows.items()})
    if survivors is not None:
        write_survivors(survivors, rows)
    report.write()


if __name__ == "__main__":
    main()
