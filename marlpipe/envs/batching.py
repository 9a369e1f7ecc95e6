"""Helpers both vector-env backends share: per-copy seeds, batched dtypes, the checked run of
copies a step covers, and the batching of the masking info (``agent_mask`` /
``env_defined_actions``) that envs report per copy."""

from __future__ import annotations

from typing import Any

import numpy as np

from marlpipe.envs.spec import ActionSpec, EnvSpec

MASK_KEYS = ("agent_mask", "env_defined_actions")


def check_vec_args(
    num_envs: int, seeds: list[int | None] | None = None, num_workers: int | None = None
) -> None:
    """The constructor checks every vector env makes: at least one copy, one reset seed per copy
    when ``seeds`` are given, at least one worker when ``num_workers`` is (async only)."""
    if num_envs < 1:
        raise ValueError(f"num_envs must be at least 1, got {num_envs}")
    if seeds is not None and len(seeds) != num_envs:
        raise ValueError(f"seeds: expected {num_envs} seeds, got {len(seeds)}")
    if num_workers is not None and num_workers < 1:
        raise ValueError(f"num_workers must be at least 1, got {num_workers}")


def observation_dtype(env: Any, spec: EnvSpec, agent: str) -> np.dtype:
    """dtype of an agent's batched observations: int64 indices for Discrete, else the space's."""
    if spec.observations[agent].kind == "discrete":
        return np.dtype(np.int64)
    return np.dtype(env.observation_space(agent).dtype)


def action_dtype(env: Any, spec: EnvSpec, agent: str) -> np.dtype:
    """dtype of an agent's batched actions: int64 indices for Discrete, else the Box's."""
    if spec.actions[agent].discrete:
        return np.dtype(np.int64)
    return np.dtype(env.action_space(agent).dtype)


def copies_slice(copies: slice | None, num_envs: int, pending: list[slice]) -> slice:
    """``copies`` (``None``: all of them) as ``slice(lo, hi)``, checked to be a non-empty run of
    the ``num_envs`` copies that shares none with a step still ``pending``."""
    lo, hi, stride = (copies or slice(None)).indices(num_envs)
    if stride != 1 or hi <= lo:
        raise ValueError(f"copies must be a non-empty slice of the {num_envs} copies, got {copies}")
    for other in pending:
        if lo < other.stop and other.start < hi:
            raise RuntimeError(
                f"copies {lo}:{hi} are still stepping ({other.start}:{other.stop} is pending): "
                "call step_wait() first"
            )
    return slice(lo, hi)


def mask_info(info: dict, key: str, agent: str):
    """Masking info sits at the top level of ``info`` (keyed by agent) or in each agent's info."""
    top = info.get(key)
    if isinstance(top, dict) and agent in top:
        return top[agent]
    per_agent = info.get(agent)
    if isinstance(per_agent, dict):
        return per_agent.get(key)
    return None


def default_masks(spec: EnvSpec, num_envs: int) -> dict[str, dict[str, np.ndarray]]:
    """Batched masking info for copies that report none: every agent acts (mask True) and has
    no env-defined action (-1 for discrete, NaN for continuous; only read where a mask is False).
    """
    defined = {}
    for agent in spec.agent_ids:
        act = spec.actions[agent]
        if act.discrete:
            defined[agent] = np.full(num_envs, -1, np.int64)
        else:
            defined[agent] = np.full((num_envs, *act.shape), np.nan, np.float32)
    return {
        "agent_mask": {a: np.ones(num_envs, bool) for a in spec.agent_ids},
        "env_defined_actions": defined,
    }


def batch_masks(spec: EnvSpec, raw_infos: list[dict]) -> dict[str, Any]:
    """Batch ``agent_mask`` / ``env_defined_actions`` of one info per copy.

    Empty when no copy reports either key; otherwise both keys, with :func:`default_masks` for
    what a copy does not report, so the batch never depends on which copies report masking.
    """
    if all(
        mask_info(info, key, a) is None
        for info in raw_infos
        for key in MASK_KEYS
        for a in spec.agent_ids
    ):
        return {}
    batched = default_masks(spec, len(raw_infos))
    masks, defined = batched["agent_mask"], batched["env_defined_actions"]
    for i, info in enumerate(raw_infos):
        for agent in spec.agent_ids:
            mask = mask_info(info, "agent_mask", agent)
            if mask is not None:
                masks[agent][i] = bool(mask)
            action = mask_info(info, "env_defined_actions", agent)
            if action is not None:
                defined[agent][i] = _defined_action(agent, action, spec.actions[agent])
            elif mask is not None and not mask:
                raise ValueError(
                    f"agent {agent!r} is masked out (agent_mask False) in env copy {i}, but the "
                    "info gives no env_defined_actions for it: the env must say what it does"
                )
    return batched


def _defined_action(agent: str, action: Any, spec: ActionSpec) -> Any:
    """An env-defined action as the batch holds it: discrete ones may come as an index or as a
    one-hot vector (the reference format) and are stored as the index."""
    if not spec.discrete:
        return action
    value = np.asarray(action)
    if value.shape == (spec.n,):  # one-hot (with a single action, an index of shape (1,) is too)
        return int(value.argmax())
    if value.shape in ((), (1,)):
        return int(value.reshape(-1)[0])
    raise ValueError(
        f"agent {agent!r}: env-defined action {action!r} is neither an index nor a one-hot "
        f"vector of length {spec.n}"
    )
