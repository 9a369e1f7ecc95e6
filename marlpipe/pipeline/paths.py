"""Where each stage's artefacts live, and recovery of an interrupted directory swap."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ELITE_FILE = "elite.pt"
ELITE_CARD = "elite.json"
__all__ = [
    "ELITE_CARD", "ELITE_FILE", "Paths", "env_short_name", "recover_dir",
    "set_torch_threads",
]  # fmt: skip


@dataclass(frozen=True)
class Paths:
    """Artefact locations under one project ``root`` (what ``dvc.yaml`` declares)."""

    root: Path = Path(".")

    @property
    def envspec(self) -> Path:
        """The env spec JSON written by ``envspec``."""
        return self.root / "models" / "envspec.json"

    @property
    def population(self) -> Path:
        """Checkpoints of every member (generation 0 from ``init_population``, then the last)."""
        return self.root / "models" / "population"

    @property
    def initial_population(self) -> Path:
        """Generation-0 population written by ``init_population``."""
        return self.root / "models" / "initial_population"

    @property
    def elite(self) -> Path:
        """Elite checkpoint and its JSON card."""
        return self.root / "models" / "elite"

    @property
    def fitness_report(self) -> Path:
        """Per-generation fitness table (DVC plots)."""
        return self.root / "reports" / "fitness.json"

    @property
    def lineage_report(self) -> Path:
        """Per generation, every member's index, fitness, parent, mutation and elite flag."""
        return self.root / "reports" / "lineage.json"

    @property
    def fitness_figure(self) -> Path:
        """The fitness report drawn as a PNG (``dvc plots show`` draws it offline)."""
        return self.root / "reports" / "fitness.png"

    @property
    def lineage_figure(self) -> Path:
        """The population's family tree, drawn from the lineage report."""
        return self.root / "reports" / "lineage.png"

    @property
    def fitness_members_figure(self) -> Path:
        """Every member's fitness per generation, and the elite's."""
        return self.root / "reports" / "fitness_members.png"

    @property
    def eval_report(self) -> Path:
        """Final metrics (DVC metrics)."""
        return self.root / "reports" / "eval.json"

    @property
    def evolve_run(self) -> Path:
        """Resume state of ``evolve`` and its MLflow link (git-ignored)."""
        return self.root / "runs" / "evolve"

    @property
    def evolve_link(self) -> Path:
        """Which MLflow run produced the current elite. Kept out of ``models/``, whose hashes
        must not change from one run of the same params to the next; ``evaluate`` depends on it,
        so a new evolve run (a fresh clone's, say) is always evaluated and registered."""
        return self.evolve_run / "mlflow_run.json"


def env_short_name(env_name: str) -> str:
    """The env's own name without its package or module: ``mpe2.simple_spread_v3`` ->
    ``simple_spread_v3``, ``pkg.mod:factory`` -> ``factory`` (run and model names use it)."""
    return env_name.split(":")[-1].split(".")[-1]


def set_torch_threads(threads: int) -> None:
    """Limit torch's CPU threads (``0`` leaves torch's default).

    With networks this small, a second intra-op thread mostly spins waiting for the first, and
    on a busy machine it slows each op by orders of magnitude.
    """
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def recover_dir(path: str | os.PathLike) -> None:
    """Put back ``path`` from its ``.old`` copy if a swap was killed between its two renames."""
    path = Path(path)
    old = path.with_name(f".{path.name}.old")
    if not path.exists() and old.exists():
        os.replace(old, path)
