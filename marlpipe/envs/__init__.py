"""Environments: names -> PettingZoo parallel envs, their spec, and vectorised copies, all made
by one :class:`EnvFactory`."""

from marlpipe.envs.async_vector import AsyncVecEnv
from marlpipe.envs.env_factory import EnvFactory, make_vec_env
from marlpipe.envs.factory import EnvNameError, make_env
from marlpipe.envs.mpe_fast import FastMpeVecEnv
from marlpipe.envs.protocols import VecEnv
from marlpipe.envs.spec import ActionSpec, EnvSpec, ObservationSpec, UnsupportedSpaceError
from marlpipe.envs.vector import SyncVecEnv, random_actions

__all__ = [
    "ActionSpec",
    "AsyncVecEnv",
    "EnvFactory",
    "EnvNameError",
    "EnvSpec",
    "FastMpeVecEnv",
    "ObservationSpec",
    "SyncVecEnv",
    "UnsupportedSpaceError",
    "VecEnv",
    "make_env",
    "make_vec_env",
    "random_actions",
]
