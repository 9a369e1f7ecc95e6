"""The VMAS speaker-listener preset against the mpe2 default run: wall time and score, one machine.

Run (about 10 minutes on a 2-core AVX-512 machine, 25 on an AVX2 one; let nothing else run):

    python benchmarks/vmas_vs_mpe2.py [--runs mpe2,vmas] [--keep] [--set KEY=VALUE ...]

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

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_envs import cpu_model  # benchmarks/ is on sys.path when run as a script

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


def run_one(key: str, workdir: Path, overrides: list[str] | None = None) -> dict[str, float | str]:
    """Clone, copy the params, time ``dvc repro``, read the score and measure the random policy."""
    label, params_file = RUNS[key]
    clone = workdir / key
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="mpe2,vmas", help="comma-separated: mpe2, vmas")
    parser.add_argument("--keep", action="store_true", help="keep the clones (printed path)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change the VMAS run's params (repeatable)",
    )
    args = parser.parse_args()
    keys = [k.strip() for k in args.runs.split(",") if k.strip()]
    unknown = sorted(set(keys) - set(RUNS))
    if unknown:
        parser.error(f"--runs: unknown {unknown}; expected some of {sorted(RUNS)}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    print(f"commit {commit}, CPU {cpu_model()}")
    workdir = Path(tempfile.mkdtemp(prefix="vmas-vs-mpe2-"))
    rows = []
    try:
        for key in keys:
            row = run_one(key, workdir, args.overrides if key == "vmas" else [])
            rows.append(row)
            print(f"{row['run']}: {row['wall_s']:.1f} s, score {row['score']:.2f}, random "
                  f"{row['random']:.2f}, score/random {row['fraction']:.3f}",
                  flush=True)  # fmt: skip
    finally:
        if args.keep:
            print(f"clones kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\n| run | params | dvc repro wall time | elite score | random policy | score / random |")
    print("|---|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['run']} | `{row['params']}` | {row['wall_s']:.1f} s | {row['score']:.2f} "
              f"| {row['random']:.1f} | {row['fraction']:.3f} |")  # fmt: skip
    if len(rows) == 2:
        mpe2, vmas = rows
        ratio = vmas["wall_s"] / mpe2["wall_s"]
        print(f"\nVMAS / mpe2 wall time: {ratio:.1%} (aim: 25 % or less); "
              f"score fraction {vmas['fraction']:.3f} against {mpe2['fraction']:.3f} (aim: at "
              f"least as good, i.e. a fraction no larger)")  # fmt: skip


if __name__ == "__main__":
    main()
