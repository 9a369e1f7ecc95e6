"""Tournament selection against MF-PBT on one preset, the same members and env steps, over seeds.

Each (selection, seed) runs the whole pipeline (envspec, init_population, evolve, evaluate) in
a temporary folder with tracking off, on the preset with ``evolution.selection`` set, and reports
the evaluate stage's score (the elite's mean return over ``evaluate.episodes`` fresh episodes)
and the elite's last selection fitness. Both selections see the same generation-0 population,
the same env steps per member and generation and the same generations: only who is cloned,
kept, migrated and mutated differs.

    python experiments/selection_comparison.py --seeds 0 1 2 --generations 16 \
        --steps-per-generation 2000 --json runs/selection_comparison.json

An experiment (scores), not a benchmark: it lives in ``experiments/`` and does not use
``benchmarks/harness.py``. docs/python-api.md ("MF-PBT") has what it found, with its command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from marlpipe.config import load_params, with_overrides
from marlpipe.pipeline.experiment import Experiment

REPO = Path(__file__).resolve().parents[1]
SELECTIONS = ("tournament", "mf_pbt")


def run(preset: Path, selection: str, seed: int, overrides: dict) -> dict:
    """One pipeline run; its score, the elite's fitness, env steps and seconds."""
    params = with_overrides(load_params(preset), {
        **overrides, "seed": seed, "evolution": {**overrides.get("evolution", {}),
                                                 "selection": selection},
        "tracking": {"enabled": False},
    }, f"{preset.name} ({selection}, seed {seed})")  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="marlpipe-selection-") as folder:
        done = Experiment(params, folder, resume=False).run()
    members = params.population.size
    steps = params.evolution.steps_per_generation * params.evolution.generations * members
    return {
        "selection": selection, "seed": seed, "score": float(done.metrics["score"]),
        "elite_fitness": float(done.evolve.elite_fitness), "members": members,
        "env_steps_budget": steps, "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", type=Path,
                        default=REPO / "configs" / "speaker_listener_mf_pbt.yaml")  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--generations", type=int, default=None)
    parser.add_argument("--steps-per-generation", type=int, default=None)
    parser.add_argument("--eval-episodes", type=int, default=None,
                        help="evaluate.episodes (default: the preset's)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=None, help="write every run's figures here")
    args = parser.parse_args()
    evolution = {k: v for k, v in (("generations", args.generations),
                                   ("steps_per_generation", args.steps_per_generation))
                 if v is not None}  # fmt: skip
    overrides: dict = {"evolution": evolution}
    if args.eval_episodes is not None:
        overrides["evaluate"] = {"episodes": args.eval_episodes}
    rows = []
    for seed in args.seeds:
        for selection in SELECTIONS:
            rows.append(run(args.preset, selection, seed, overrides))
            print(json.dumps(rows[-1]), flush=True)
    for selection in SELECTIONS:
        scores = [r["score"] for r in rows if r["selection"] == selection]
        spread = statistics.stdev(scores) if len(scores) > 1 else 0.0
        print(f"{selection:>10}: score {statistics.mean(scores):8.2f} +- {spread:.2f} "
              f"over seeds {args.seeds}: {[round(s, 2) for s in scores]}")  # fmt: skip
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
