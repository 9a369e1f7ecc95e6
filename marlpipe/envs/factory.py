"""Build PettingZoo parallel environments from a name that fits in ``params.yaml``."""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from marlpipe.envs.errors import EnvNameError
from marlpipe.registry import env_family

NAMING_HELP = (
    'name an environment as "package.module" with a parallel_env() function '
    '(e.g. "mpe2.simple_speaker_listener_v4"), as "package.module:factory" for your own function '
    'or as "vmas.<scenario>" for a VMAS scenario'
)


def resolve_env_factory(name: str):
    """Return the callable that builds the environment called ``name``."""
    if not isinstance(name, str) or not name.strip():
        raise EnvNameError(f"environment name {name!r} is empty: {NAMING_HELP}")
    module_name, _, attr = name.partition(":")
    attr = attr or "parallel_env"
    if not all(part.isidentifier() for part in module_name.split(".")):
        raise EnvNameError(
            f"unknown environment {name!r}: {module_name!r} is not a module name; {NAMING_HELP}"
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if not _names_module_or_parent(err.name, module_name):  # a dependency is missing
            raise _import_failed(name, module_name, err) from None
        if err.name == module_name.split(".")[0] and "." not in module_name:
            raise EnvNameError(_not_importable(name, module_name)) from None
        raise EnvNameError(f"unknown environment {name!r} ({err}): {NAMING_HELP}") from None
    except Exception as err:  # the module exists but running it failed
        raise _import_failed(name, module_name, err) from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise EnvNameError(
            f"unknown environment {name!r}: module {module_name!r} has no callable {attr!r}; "
            f"{NAMING_HELP}"
        )
    return factory


def _not_importable(name: str, module_name: str) -> str:
    """A user's own module (no package) that Python did not find, and how to make it found."""
    here = os.getcwd()
    where = "the current folder and" if here in sys.path or "" in sys.path else "the"
    return (
        f"environment {name!r}: no module named {module_name!r} in {where} installed packages; "
        f"run from the folder that holds {module_name}.py (marlpipe imports from it, as "
        f"python -m does), add that folder to PYTHONPATH, or pip install -e its package"
    )


def _names_module_or_parent(missing: str | None, module_name: str) -> bool:
    """Whether the module that was not found is ``module_name`` itself or a package above it."""
    return missing is not None and (module_name == missing or module_name.startswith(missing + "."))


def _import_failed(name: str, module_name: str, err: Exception) -> EnvNameError:
    reason = " ".join(f"{type(err).__name__}: {err}".split())  # keep the message on one line
    return EnvNameError(
        f"environment {name!r}: its module {module_name!r} exists but failed to import ({reason})"
    )


def make_env(name: str, **kwargs: Any):
    """Return a PettingZoo ``ParallelEnv`` built by the factory that ``name`` names.

    A factory that returns an AEC env is converted with PettingZoo's ``aec_to_parallel``.
    A VMAS name (``vmas.<scenario>``) is refused with one line: VMAS has no single-env form,
    its copies are one batched simulator (``make_vec_env(name, num_envs)``, or
    :class:`~marlpipe.envs.env_factory.EnvFactory`).
    """
    if env_family(name) == "vmas":
        raise EnvNameError(
            f"environment {name!r} is a VMAS scenario, which has no single-env form: build its "
            f"copies with make_vec_env({name!r}, num_envs) or EnvFactory({name!r}).vec_env()"
        )
    from pettingzoo.utils.conversions import aec_to_parallel  # light once an env module ran
    from pettingzoo.utils.env import AECEnv

    factory = resolve_env_factory(name)
    try:
        env = factory(**kwargs)
    except TypeError as err:
        if "argument" not in str(err):  # a bug inside the env, not a refused keyword
            raise
        raise EnvNameError(
            f"environment {name!r} refused its keyword arguments {kwargs!r} (env.kwargs): {err}"
        ) from None
    if isinstance(env, AECEnv):
        # A turn-based (AEC) env, e.g. "mpe2.simple_spread_v3:env": PettingZoo's own converter
        # makes it the parallel env the rest of marlpipe steps (every agent acts each step).
        try:
            env = aec_to_parallel(env)
        except Exception as err:
            env.close()
            reason = " ".join(f"{type(err).__name__}: {err}".split())
            raise EnvNameError(
                f"environment {name!r} is a PettingZoo AEC env that cannot be converted to a "
                f"parallel env ({reason}); name its parallel_env() factory instead"
            ) from None
    if not (hasattr(env, "step") and hasattr(env, "reset") and hasattr(env, "possible_agents")):
        raise EnvNameError(
            f"environment {name!r} did not return a PettingZoo ParallelEnv "
            f"(got {type(env).__name__}); {NAMING_HELP}"
        )
    return env
