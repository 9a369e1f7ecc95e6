"""The envs' name error, below both ``factory.py`` and ``vmas_env.py`` that raise it."""

from __future__ import annotations

from marlpipe.errors import MarlpipeError


class EnvNameError(MarlpipeError, ValueError):
    """The environment name does not resolve to a PettingZoo parallel environment factory."""


__all__ = ["EnvNameError"]
