"""marlpipe: reproducible, tracked evolutionary training of MADDPG / MATD3 teams.

Heavy names (torch-based algorithms) are imported lazily so that environment workers and
``marlpipe --help`` start fast.

Imported before torch, marlpipe sets ``OMP_WAIT_POLICY=PASSIVE`` unless you set it yourself:
torch's OpenMP threads then sleep between parallel regions instead of spinning, which left
the async env backend's workers a fraction of their core on small machines (7x slower on 2
cores with torch's default threads). OpenMP reads it once, when torch loads it; with torch
imported first the env factory steps an async env's copies in the calling process instead
(the sync backend's speed and numbers) and logs how to get async's speed back.
"""

import os
import sys
from importlib import import_module

TORCH_LOADED_FIRST = "torch" in sys.modules
"""Whether torch (and its OpenMP) was loaded before marlpipe, too early for the wait policy."""
if not TORCH_LOADED_FIRST:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

_LAZY = {
    "EnvFactory": "marlpipe.envs.env_factory",
    "EnvSpec": "marlpipe.envs.spec",
    "make_env": "marlpipe.envs.factory",
    "make_vec_env": "marlpipe.envs.env_factory",
    "MultiAgentReplayBuffer": "marlpipe.algos.buffer",
    "TRANSITION_FIELDS": "marlpipe.algos.buffer",
    "MATD3": "marlpipe.algos.matd3",
    "MADDPG": "marlpipe.algos.maddpg",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'marlpipe' has no attribute {name!r}")
