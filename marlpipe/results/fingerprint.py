"""The behaviour fingerprint: does today's code still compute the results table's numbers?

A results cell takes an hour; the fingerprint takes seconds. For every row of the table (a preset
and an algorithm, :data:`ROWS`) it runs the row's preset end to end (envspec, init_population,
evolve, evaluate; seed 0, tracking off) on a short budget (:data:`BUDGET`: 3 generations of 1,536
env steps per member), scores the random and no-op baselines and, for a competitive preset, the
elite with one side random, on a few episodes, and hashes what came out:

- ``params_sha256``: the row's resolved params (package defaults, preset, budget) less the
  result-neutral settings. It depends on no CPU, so it is compared on every machine: a changed
  default is a change of numbers; another default backend is not.
- ``model_sha256``: every tensor of the elite's checkpoint (networks, targets, optimisers, its
  random generator), by name, dtype, shape and bytes.
- ``fitness_sha256``: every member's fitness in every generation, the elite's evaluated returns,
  the baselines' and the versus scores, as the exact floats (``float.hex``).

Floats differ in the last bits between CPU kinds (other SIMD kernels, AMX or not, another
vendor's BLAS path) and between library builds, and a few thousand updates carry such a bit into
every weight. So the hashes are recorded per CPU kind (:func:`cpu_kind`), in
``results/fingerprints/<kind>/<row>.json`` with the library versions that made them, and compared
only on the same kind with the same versions; elsewhere the check says so in one line.

The table's cells depend (``results/dvc.yaml``) on the row's fingerprint file of one kind, the
one the table was checked on, and on their preset, not on the package's sources: a refactor that
computes the same numbers leaves every cell current, a change of numbers changes the files
(``marlpipe results fingerprint --record``) and ``dvc status results/dvc.yaml`` lists the cells to
rerun. A recorded file holds no time or date, so recording unchanged numbers rewrites the same
bytes and stales nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from marlpipe.config import Params, load_params, with_overrides
from marlpipe.io import read_json, write_json
from marlpipe.results.machine import cpu_kind, versions

log = logging.getLogger(__name__)

ROWS: tuple[tuple[str, str], ...] = (
    ("speaker_listener", "MATD3"),
    ("speaker_listener", "MADDPG"),
    ("speaker_listener_discrete", "MATD3"),
    ("spread", "MATD3"),
    ("adversary", "MATD3"),
    ("reference", "MATD3"),
    ("vmas_speaker_listener", "MATD3"),
)
"""(preset, algorithm) of every row of ``results/RESULTS.md`` (``results/dvc.yaml``'s cells)."""

BUDGET: dict[str, Any] = {
    "seed": 0,
    "evolution": {"generations": 3, "steps_per_generation": 1536, "eval_episodes": 2},
    "evaluate": {"episodes": 4},
    "tracking": {"enabled": False},
}
"""What a fingerprint run changes in the row's preset: seed 0, a short budget, tracking off.
Everything else (population, networks, hyperparameters, mutations, env copies) is the preset's,
so the run goes through the code paths the cell takes; the preset's batch sizes are reached in
the first generation, so every run learns, selects and mutates."""

FOLDER = Path("results") / "fingerprints"
"""Where the fingerprints live, relative to the repository."""


def row_name(preset: str, algorithm: str) -> str:
    """File stem of a row, e.g. ``speaker_listener-matd3``."""
    return f"{preset}-{algorithm.lower()}"


def row_params(preset: str | Path, algorithm: str) -> Params:
    """The row's preset with ``algorithm`` and :data:`BUDGET` applied."""
    return with_overrides(
        load_params(preset), {**BUDGET, "algorithm": algorithm}, f"{preset} (fingerprint)"
    )


def params_sha256(params: Params) -> str:
    """Hash (JSON, sorted keys) of the resolved params that can change a number: every key but
    the result-neutral ones and the opt-in ones while off (at their ``off`` value or default,
    where they compute what the code did before they existed; :mod:`marlpipe.config.keys`)."""
    from marlpipe.config.keys import leaf_keys, off_values, result_neutral_keys, select, value_at

    data = params.resolved_dict()
    left_out = set(result_neutral_keys())
    left_out |= {k for k, off in off_values().items() if value_at(data, k) == off}
    kept = select(data, [k for k in leaf_keys() if k not in left_out])
    text = json.dumps(kept, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _floats(value: Any) -> Any:
    """``value`` with every float written exactly (``float.hex``), for hashing."""
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _floats(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_floats(v) for v in value]
    return value


def tensors_sha256(checkpoint: str | Path) -> str:
    """Hash of every tensor in an agent checkpoint's ``state``, by key path, dtype, shape and
    bytes (the metadata JSON is left out: its layout may change without any number changing)."""
    import torch

    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    digest = hashlib.sha256()

    def walk(path: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            data = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{path}|{value.dtype}|{tuple(value.shape)}|".encode())
            digest.update(data.view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                walk(f"{path}/{key}", value[key])
        elif isinstance(value, (list, tuple)):
            for pos, item in enumerate(value):
                walk(f"{path}/{pos}", item)
        elif isinstance(value, (int, float, bool, str)) or value is None:
            digest.update(f"{path}={_floats(value)!r}|".encode())

    walk("", payload["state"])
    return digest.hexdigest()


def compute(preset: str | Path, algorithm: str) -> dict[str, Any]:
    """Run one row's fingerprint in a temporary folder and return its record."""
    from marlpipe.pipeline.experiment import Experiment
    from marlpipe.pipeline.paths import ELITE_FILE, Paths
    from marlpipe.results.baselines import baseline_scores, measured
    from marlpipe.results.versus import versus_scores

    params = row_params(preset, algorithm)
    with tempfile.TemporaryDirectory(prefix="marlpipe-fingerprint-") as folder:
        done = Experiment(params, folder, resume=False).run()
        paths = Paths(Path(folder))
        fitness = read_json(paths.fitness_report)
        lineage = read_json(paths.lineage_report)
        numbers: dict[str, Any] = {
            "fitness": fitness,
            "evaluation": {k: v for k, v in done.metrics.items() if k != "registered_version"},
            "baselines": measured(baseline_scores(params)),
        }
        if params.evolution.fitness_agents is not None:
            numbers["versus"] = versus_scores(params, folder)
        model = tensors_sha256(paths.elite / ELITE_FILE)
    mutations = sorted(
        {
            str(child.get("mutation") or "none")
            for row in lineage
            for child in row.get("children", [])
        }
    )
    return {
        "row": row_name(Path(preset).stem, algorithm),
        "params_sha256": params_sha256(params),
        "model_sha256": model,
        "fitness_sha256": hashlib.sha256(
            json.dumps(_floats(numbers), sort_keys=True).encode()
        ).hexdigest(),
        "score": round(float(done.metrics["score"]), 6),
        "elite_fitness": [round(float(r["elite_fitness"]), 6) for r in fitness],
        "mutations_drawn": mutations,
    }


@dataclass(frozen=True)
class Outcome:
    """One row's check."""

    row: str
    status: str
    """``same``, ``differs``, ``params-differ``, ``not-recorded`` or ``other-versions``."""
    detail: str = ""


def _presets(root: Path) -> list[tuple[Path, str]]:
    return [(root / "configs" / f"{preset}.yaml", algo) for preset, algo in ROWS]


def record(root: str | Path = ".", rows: list[str] | None = None) -> list[Path]:
    """Compute the fingerprints of ``rows`` (default: all) on this machine and write them to
    ``results/fingerprints/<cpu kind>/``; return the files written."""
    root = Path(root)
    kind, written = cpu_kind(), []
    header = {"cpu_kind": kind, "versions": versions()}
    for preset, algorithm in _presets(root):
        name = row_name(preset.stem, algorithm)
        if rows and name not in rows:
            continue
        log.info("fingerprint %s on %s", name, kind)
        path = root / FOLDER / kind / f"{name}.json"
        write_json(path, {**header, **compute(preset, algorithm)})
        written.append(path)
    return written


def check(root: str | Path = ".", rows: list[str] | None = None) -> list[Outcome]:
    """Compare this code's fingerprints with the files recorded for this machine's CPU kind.

    The params hashes are compared on every machine; the runs' hashes only where a file of this
    CPU kind was recorded with the same library versions (else ``not-recorded`` or
    ``other-versions``, and no run is made)."""
    root = Path(root)
    kind, here = cpu_kind(), versions()
    outcomes = []
    for preset, algorithm in _presets(root):
        name = row_name(preset.stem, algorithm)
        if rows and name not in rows:
            continue
        recorded = sorted((root / FOLDER).glob(f"*/{name}.json"))
        if not recorded:
            outcomes.append(Outcome(name, "not-recorded", "no fingerprint file for this row"))
            continue
        expected_params = read_json(recorded[0])["params_sha256"]
        if params_sha256(row_params(preset, algorithm)) != expected_params:
            outcomes.append(Outcome(name, "params-differ", "its resolved params changed"))
            continue
        mine = root / FOLDER / kind / f"{name}.json"
        if not mine.is_file():
            kinds = ", ".join(p.parent.name for p in recorded)
            outcomes.append(Outcome(name, "not-recorded", f"recorded on {kinds}"))
            continue
        saved = read_json(mine)
        if saved.get("versions") != here:
            diff = [
                f"{lib} {saved.get('versions', {}).get(lib)} (here {ver})"
                for lib, ver in here.items()
                if saved.get("versions", {}).get(lib) != ver
            ]
            outcomes.append(Outcome(name, "other-versions", "recorded with " + ", ".join(diff)))
            continue
        now = compute(preset, algorithm)
        changed = [k for k in ("model_sha256", "fitness_sha256") if now[k] != saved.get(k)]
        if changed:
            detail = (
                f"elite fitness {now['elite_fitness']} (recorded {saved.get('elite_fitness')}), "
                f"score {now['score']} (recorded {saved.get('score')})"
            )
            outcomes.append(Outcome(name, "differs", detail))
        else:
            outcomes.append(Outcome(name, "same"))
    return outcomes


FAILING = ("differs", "params-differ")
"""Outcomes that fail the check: the code computes other numbers than the recorded ones."""

_SAY = {
    "same": "same numbers as recorded",
    "differs": "OTHER NUMBERS than recorded",
    "params-differ": "OTHER PARAMS than recorded",
    "not-recorded": "cannot compare",
    "other-versions": "cannot compare",
}


def summary(outcomes: list[Outcome]) -> str:
    """What the check found, one line per row, and one closing line: what it means and, when
    numbers changed, what to do."""
    kind = cpu_kind()
    lines = [
        f"{o.row}: {_SAY[o.status]}" + (f" ({o.detail})" if o.detail else "") for o in outcomes
    ]
    failed = [o.row for o in outcomes if o.status in FAILING]
    unsure = [o.row for o in outcomes if o.status in ("not-recorded", "other-versions")]
    if failed:
        lines.append(
            f"fingerprint: this code computes other numbers than {FOLDER} records for "
            f"{', '.join(failed)} on {kind}. If that is deliberate, run `marlpipe results "
            "fingerprint --record` and commit the files with ci/fitness-baseline.json and "
            "dvc.lock; `dvc status results/dvc.yaml` then lists the cells to rerun."
        )
    elif unsure:
        lines.append(
            f"fingerprint: cannot compare on this machine ({kind}, {_short_versions()}): no "
            "fingerprint was recorded here with these library versions; the params of every "
            "row match."
        )
    else:
        lines.append(f"fingerprint: this code computes the recorded numbers on {kind}.")
    return "\n".join(lines)


def _short_versions() -> str:
    return ", ".join(f"{k} {v}" for k, v in versions().items() if k in ("torch", "numpy"))


__all__ = ["BUDGET", "FAILING", "ROWS", "Outcome", "check", "compute", "record"]
__all__ += ["params_sha256", "row_params", "summary", "tensors_sha256"]
