"""The VMAS speaker-listener preset against the mpe2 default run: wall time and score, one machine.

Run (about 10 minutes on a 2-core AVX-512 machine, 25 on an AVX2 one; let nothing else run):

    python benchmarks/vmas_vs_mpe2.py [--runs mpe2,vmas] [--keep] [--set KEY=VALUE ...]
        [--repeats N] [--json PATH]

A benchmark, not an experiment: its figure is the side-by-side wall time of the two runs (the
ratio), the scores only check that the faster run still learns. ``--repeats N`` runs them N
times in alternating order (mpe2, vmas, mpe2, ...) and compares medians.

``--set evolution.generations=18`` (repeatable; dotted keys, YAML values) changes the VMAS run's
params in its clone: how preset variants are tried (``--runs vmas`` to time only those).

Each run is a fresh ``git clone`` of this repository's HEAD (commit first: uncommitted changes are
not in it) with the params file copied to ``params.yaml``, then ``dvc repro`` timed from start to
end: the four stages, their imports and MLflow, but not the install. The random policy of each
task is scored by the same code as the results table (``marlpipe results baseline``, 100 episodes
with ``evaluate.seed``), because the two envs reward differently (mpe2: squared distance, VMAS:
twice the distance), so scores compare as fractions of their own random policy's score.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import Report, alternate, compare, parser

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "mpe2": ("mpe2 default", "params.yaml"),
    "vmas": ("VMAS preset", "configs/vmas_speaker_listener.yaml"),
}


def apply_overrides(path: Path, overrides: list[str]) -> None:
    """Set each ``a.b.c=value`` (value parsed as YAML) in the params file at ``path``, through
    marlpipe's own ``--set`` parser (``marlpipe.config.files.apply_overrides``), so a wrong key or
    value fails as ``marlpipe params show --set`` would."""
    from marlpipe.config import ConfigError, dump_params, load_params
    from marlpipe.config.files import apply_overrides as with_set

    try:
        params = with_set(load_params(path), overrides, source=f"--set on {path.name}")
    except ConfigError as err:
        raise SystemExit(str(err)) from None
    path.write_text(dump_params(params))


def run_one(
    key: str, workdir: Path, overrides: list[str] | None = None, folder: str | None = None
) -> dict[str, float | str]:
    """Clone into ``workdir/folder``, copy the params, time ``dvc repro``, read the score and
    measure the random policy."""
    label, params_file = RUNS[key]
    clone = workdir / (folder or key)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    if params_file != "params.yaml":  # a preset holds only what it changes: write it whole
        from marlpipe.config import dump_params, load_params

        (clone / "params.yaml").write_text(dump_params(load_params(clone / params_file)))
    if overrides:
        apply_overrides(clone / "params.yaml", overrides)
        label, params_file = f"{label}, {' '.join(overrides)}", f"{params_file} + --set"
    start = time.perf_counter()
    subprocess.run(["dvc", "repro", "-q"], cwd=clone, check=True)
    wall = time.perf_counter() - start
    score = json.loads((clone / "reports" / "eval.json").read_text())["score"]
    baseline = clone / "random.json"
    subprocess.run(
        [sys.executable, "-m", "marlpipe.cli", "results", "baseline", "params.yaml", str(baseline)],
        cwd=clone, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    random_score = json.loads(baseline.read_text())["random"]["score"]
    return {"run": label, "params": params_file, "wall_s": wall, "score": score,
            "random": random_score, "fraction": score / random_score}  # fmt: skip


def main() -> None:
    cli = parser(__doc__)
    cli.add_argument("--runs", default="mpe2,vmas", help="comma-separated: mpe2, vmas")
    cli.add_argument("--keep", action="store_true", help="keep the clones (printed path)")
    cli.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="change the VMAS run's params (repeatable)",
    )  # fmt: skip
    cli.add_argument("--repeats", type=int, default=1, help="runs of each, alternating")
    args = cli.parse_args()
    keys = [k.strip() for k in args.runs.split(",") if k.strip()]
    unknown = sorted(set(keys) - set(RUNS))
    if unknown:
        cli.error(f"--runs: unknown {unknown}; expected some of {sorted(RUNS)}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    report = Report(__file__, args)
    report.figure("commit", commit, f"commit {commit}")
    workdir = Path(tempfile.mkdtemp(prefix="vmas-vs-mpe2-"))

    def one(key: str) -> dict[str, float | str]:
        index = len(list(workdir.glob(f"{key}*")))
        return run_one(key, workdir, args.overrides if key == "vmas" else [], f"{key}{index}")

    def show(repeat: int, key: str, row: dict[str, float | str]) -> None:
        print(f"[{repeat + 1}/{args.repeats}] {row['run']}: {row['wall_s']:.1f} s, score "
              f"{row['score']:.2f}, random {row['random']:.2f}, score/random "
              f"{row['fraction']:.3f}", flush=True)  # fmt: skip

    try:
        runs = alternate({key: (lambda key=key: one(key)) for key in keys}, args.repeats, show)
    finally:
        if args.keep:
            print(f"clones kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report.figure("runs", runs)
    print("\n| run | params | dvc repro wall time | elite score | random policy | score / random |")
    print("|---|---|---:|---:|---:|---:|")
    for rows in runs.values():
        for row in rows:
            print(f"| {row['run']} | `{row['params']}` | {row['wall_s']:.1f} s "
                  f"| {row['score']:.2f} | {row['random']:.1f} | {row['fraction']:.3f} |")
    if set(runs) == {"mpe2", "vmas"}:
        walls = {key: [float(row["wall_s"]) for row in rows] for key, rows in runs.items()}
        against = compare(walls, "mpe2")["vmas"]
        fraction = {key: float(rows[0]["fraction"]) for key, rows in runs.items()}
        report.figure(
            "vmas_over_mpe2_wall", against,
            f"\nVMAS / mpe2 wall time (medians): {against['ratio_of_medians']:.1%} (aim: 25 % or "
            f"less); score fraction {fraction['vmas']:.3f} against {fraction['mpe2']:.3f} (aim: "
            f"at least as good, i.e. a fraction no larger)",
        )  # fmt: skip
    report.write()


if __name__ == "__main__":
    main()
