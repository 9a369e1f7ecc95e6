"""marlpipe: reproducible, tracked evolutionary training of MADDPG / MATD3 teams.

Heavy names (torch-based algorithms) are imported lazily so that environment workers and
``marlpipe --help`` start fast.
"""

from importlib import import_module

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
