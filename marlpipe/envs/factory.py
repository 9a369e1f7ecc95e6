"""Build PettingZoo parallel environments from a name that fits in ``params.yaml``."""

from __future__ import annotations

import importlib
from typing import Any

NAMING_HELP = (
    'name an environment as "package.module" with a parallel_env() function '
    '(e.g. "mpe2.simple_speaker_listener_v4") or as "package.module:factory" for your own function'
)


class EnvNameError(ValueError):
    """The environment name does not resolve to a PettingZoo parallel environment factory."""


def resolve_env_factory(name: str):
    """Return the callable that builds the environment called ``name``."""
    if not isinstance(name, str) or not name.strip():
        raise EnvNameError(f"environment name {name!r} is empty: {NAMING_HELP}")
    module_name, _, attr = name.partition(":")
    attr = attr or "parallel_env"
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise EnvNameError(f"unknown environment {name!r} ({err}): {NAMING_HELP}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise EnvNameError(
            f"unknown environment {name!r}: module {module_name!r} has no callable {attr!r}; "
            f"{NAMING_HELP}"
        )
    return factory


def make_env(name: str, **kwargs: Any):
    """Return a PettingZoo ``ParallelEnv`` built by the factory that ``name`` names."""
    env = resolve_env_factory(name)(**kwargs)
    if not (hasattr(env, "step") and hasattr(env, "reset") and hasattr(env, "possible_agents")):
        raise EnvNameError(
            f"environment {name!r} did not return a PettingZoo ParallelEnv "
            f"(got {type(env).__name__}); {NAMING_HELP}"
        )
    return env
