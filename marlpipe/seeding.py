"""One root seed -> independent, named random streams (numpy ``SeedSequence``).

Streams are keyed by name rather than by spawn order, so adding a new consumer never shifts the
numbers that existing consumers draw (a run stays reproducible across code changes that add
streams).
"""

from __future__ import annotations

import random
import zlib

import numpy as np

STREAMS = ("population", "buffer", "envs", "training", "tournament", "mutation", "evaluate")
"""The names the pipeline draws from; any other name is allowed too."""


def stream(seed: int, name: str) -> np.random.SeedSequence:
    """The ``SeedSequence`` of stream ``name`` under root ``seed``."""
    # crc32 is stable across processes (unlike hash()), so streams survive a restart.
    return np.random.SeedSequence(int(seed), spawn_key=(zlib.crc32(name.encode()),))


def derive_seed(seed: int, name: str) -> int:
    """A 31-bit integer seed for stream ``name`` (for APIs that take an int seed)."""
    return int(stream(seed, name).generate_state(1, np.uint32)[0] >> 1)


def rng(seed: int, name: str) -> np.random.Generator:
    """A numpy ``Generator`` for stream ``name``."""
    return np.random.default_rng(stream(seed, name))


def seed_global(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (for libraries that use them)."""
    import torch

    random.seed(derive_seed(seed, "python"))
    np.random.seed(derive_seed(seed, "numpy-global"))
    torch.manual_seed(derive_seed(seed, "torch-global"))


__all__ = ["STREAMS", "derive_seed", "rng", "seed_global", "stream"]
