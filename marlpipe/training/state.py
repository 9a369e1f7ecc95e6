"""The training loop's own state between generations: counters and the seed root."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class LoopState:
    """The loop's own state between generations (JSON-able via :meth:`to_dict`)."""

    entropy: int
    """Root entropy of every env-reset seed the loop derives."""
    generation: int = 0
    """Generations finished."""
    env_steps: int = 0
    """Env transitions collected, all members together."""

    @classmethod
    def start(cls, seed: int | None) -> LoopState:
        """A fresh state; ``seed=None`` draws fresh entropy (kept, so resuming still replays)."""
        return cls(entropy=int(np.random.SeedSequence(seed).entropy))

    def seed_for(self, *key: int) -> int:
        """A 32-bit seed for this generation and ``key``, independent of every other one."""
        sequence = np.random.SeedSequence(self.entropy, spawn_key=(self.generation, *key))
        return int(sequence.generate_state(1)[0])

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for a JSON checkpoint."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoopState:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)
