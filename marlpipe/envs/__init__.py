"""Environments: names -> PettingZoo parallel envs, their spec, and vectorised copies."""

from marlpipe.envs.async_vector import AsyncVecEnv
from marlpipe.envs.factory import EnvNameError, make_env
from marlpipe.envs.make_vec import make_vec_env
from marlpipe.envs.mpe_fast import FastMpeVecEnv
from marlpipe.envs.spec import ActionSpec, EnvSpec, ObservationSpec, UnsupportedSpaceError
from marlpipe.envs.vector import SyncVecEnv, random_actions

__all__ = [
    "ActionSpec",
    "AsyncVecEnv",
    "EnvNameError",
    "EnvSpec",
    "FastMpeVecEnv",
    "ObservationSpec",
    "SyncVecEnv",
    "UnsupportedSpaceError",
    "make_env",
    "make_vec_env",
    "random_actions",
]
