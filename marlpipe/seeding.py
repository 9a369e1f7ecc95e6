"""One root seed -> independent, named random streams (numpy ``SeedSequence``).

Streams are keyed by name rather than by spawn order, so adding a new consumer never shifts the
numbers that existing consumers draw (a run stays reproducible across code changes that add
streams). The pipeline draws "population", "buffer", "envs", "training", "tournament" and
"mutation" from ``params.yaml``'s ``seed``.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str) -> np.random.SeedSequence:
    """The ``SeedSequence`` of stream ``name`` under root ``seed``."""
    # crc32 is stable across processes (unlike hash()), so streams survive a restart.
    return np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(name.encode()),))


def derive_seed(seed: int, name: str) -> int:
    """A 31-bit integer seed for stream ``name`` (for APIs that take an int seed)."""
    return int(stream(seed, name).generate_state(1, np.uint32)[0] >> 1)


def spawn_seeds(seed: int | None, count: int) -> list[int | None]:
    """Independent integer seeds for ``count`` children of ``seed`` (env copies, population
    members), from ``SeedSequence(seed).spawn``; ``None`` gives ``None`` for each (unseeded)."""
    if seed is None:
        return [None] * count
    children = np.random.SeedSequence(seed).spawn(count)
    return [int(child.generate_state(1)[0]) for child in children]


__all__ = ["derive_seed", "spawn_seeds", "stream"]
