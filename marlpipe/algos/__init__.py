"""MADDPG / MATD3 agents, their networks, replay buffer and checkpoints."""

from marlpipe.algos.base import LearnStats
from marlpipe.algos.checkpoint import (
    CheckpointError,
    load_agent,
    load_population,
    save_population,
)
from marlpipe.algos.maddpg import MADDPG
from marlpipe.algos.matd3 import MATD3

__all__ = [
    "MADDPG",
    "MATD3",
    "CheckpointError",
    "LearnStats",
    "load_agent",
    "load_population",
    "save_population",
]
