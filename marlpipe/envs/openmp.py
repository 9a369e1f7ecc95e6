"""torch's OpenMP threads beside the async backend's env workers: whether they would spin on the
workers' cores, and the one warning that says so.

``import marlpipe`` before torch sets ``OMP_WAIT_POLICY=PASSIVE`` (see :mod:`marlpipe`); with
torch imported first, OpenMP's idle threads spin, and where they and the workers do not fit the
cores the workers lose most of theirs. The env factory then steps the copies in the calling
process instead (:meth:`~marlpipe.envs.env_factory.EnvFactory.vec_env`); an
:class:`~marlpipe.envs.async_vector.AsyncVecEnv` built directly only warns.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("marlpipe.envs.async_vector")  # where users have seen it so far


def default_workers(num_envs: int, num_workers: int | None) -> int:
    """The async backend's worker count: ``num_workers``, else one per core but one; at least
    one, never more than the copies."""
    return max(1, min(int(num_envs), num_workers or (os.cpu_count() or 1) - 1))


def would_spin(workers: int) -> bool:
    """Whether torch was loaded before marlpipe with OpenMP's default wait policy and its
    threads do not fit the cores beside ``workers`` env workers: its idle threads would then
    spin on the workers' cores (see :mod:`marlpipe`)."""
    import torch

    import marlpipe

    return not (
        not marlpipe.TORCH_LOADED_FIRST
        or workers + torch.get_num_threads() <= (os.cpu_count() or 1)
        or os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"
    )


def warn_if_spinning(workers: int, falling_back: bool = False) -> bool:
    """Warn (once per process) when :func:`would_spin`; ``falling_back``: the env factory steps
    the copies in this process instead (say so). Whether it warned."""
    import torch

    global _warned
    if _warned or not would_spin(workers):
        return False
    _warned = True
    cores, threads = os.cpu_count() or 1, torch.get_num_threads()
    what = (
        "so the copies step in this process instead (the sync backend: same numbers, no worker "
        "to spin beside)" if falling_back else "which can slow training several times"
    )  # fmt: skip
    log.warning(
        "env.backend async: torch was imported before marlpipe, so its %d OpenMP threads would "
        "spin beside %d env worker(s) on %d cores, %s; for the async backend's speed import "
        "marlpipe first, set OMP_WAIT_POLICY=PASSIVE before starting Python, or call "
        "torch.set_num_threads(%d)", threads, workers, cores, what, max(1, cores - workers),
    )  # fmt: skip
    return True


_warned = False
"""Whether :func:`warn_if_spinning` warned already (once per process)."""
