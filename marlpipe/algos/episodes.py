"""The one episode runner: greedy episodes of an agent, with no side effects on the agent.

Fitness evaluation (:mod:`marlpipe.evolution.fitness`), the evaluate stage, rendering and the
AgileRL-style ``agent.test()`` all play their episodes through :func:`run_episodes`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from marlpipe.envs.batching import mask_info
from marlpipe.seeding import spawn_seeds

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent

OnStep = Callable[[Any], None]


def run_episodes(
    agent: Agent,
    env: Any,
    episodes: int,
    max_steps: int = 25,
    seed: int | None = None,
    on_step: OnStep | None = None,
) -> np.ndarray:
    """Returns of ``episodes`` greedy episodes, shape ``(episodes, num_agents)`` (agent_ids order).

    ``env`` is a PettingZoo ParallelEnv or a vec env. With ``seed`` the env is seeded first
    (``env.reset(seed=seed)``), so the same seed always plays the same episodes; every episode
    then starts from a fresh ``reset()``. Each episode ends when the env ends it or after
    ``max_steps`` steps. Agent masks and env-defined actions from the env's ``info`` are
    honoured. ``on_step(env)`` (a ParallelEnv only, e.g. to grab frames) is called after every
    reset and step. Nothing of the agent changes: its fitness history is the evolution layer's.

    A batched simulator (a VMAS env, ``env.batched_simulator``) plays the episodes as parallel
    copies instead (:func:`_batched_episodes`): episode ``k`` starts from copy seed
    ``spawn_seeds(seed, episodes)[k]``, so the returns are the same whatever ``env.num_envs``.
    """
    if getattr(env, "batched_simulator", False):
        if on_step is not None and env.num_envs != 1:
            raise ValueError("run_episodes: on_step needs a one-copy batched simulator")
        return _batched_episodes(agent, env, max_steps, int(episodes), seed, on_step)
    if seed is not None:
        env.reset(seed=seed)
    if hasattr(env, "num_envs"):
        if on_step is not None:
            raise ValueError("run_episodes: on_step needs a single ParallelEnv, not a vec env")
        return _vector_episodes(agent, env, max_steps, int(episodes))
    return _single_episodes(agent, env, max_steps, int(episodes), on_step)


def _single_episodes(
    agent: Agent, env: Any, max_steps: int, loop: int, on_step: OnStep | None
) -> np.ndarray:
    ids = agent.agent_ids
    returns = np.zeros((loop, len(ids)))
    for episode in range(loop):
        obs, info = env.reset()
        if on_step is not None:
            on_step(env)
        for _ in range(max_steps):
            masks = {a: m for a in ids if (m := mask_info(info, "agent_mask", a)) is not None}
            defined = {a: mask_info(info, "env_defined_actions", a) for a in masks}
            _, actions = agent.get_action(
                obs, agent_mask=masks or None, env_defined_actions=defined or None, training=False
            )
            live = set(env.agents)
            actions = {a: int(v) if np.ndim(v) == 0 else v for a, v in actions.items() if a in live}
            obs, rewards, terms, truncs, info = env.step(actions)
            returns[episode] += [rewards.get(a, 0.0) for a in ids]
            if on_step is not None:
                on_step(env)
            if not env.agents or all(terms.get(a, False) or truncs.get(a, False) for a in rewards):
                break
    return returns


def _vector_episodes(agent: Agent, env: Any, max_steps: int, loop: int) -> np.ndarray:
    """Run ``loop`` complete episodes across the copies of a vec env.

    Copies that the env auto-resets go on with another episode while more are needed; a copy cut
    off by ``max_steps`` (not reset by the env) stops, and a new round resets the env if needed.
    """
    ids, n = agent.agent_ids, env.num_envs
    episodes: list[np.ndarray] = []
    while len(episodes) < loop:
        obs, info = env.reset()
        active = np.arange(n) < loop - len(episodes)
        pending = loop - len(episodes) - int(active.sum())
        ep_return, ep_len = np.zeros((n, len(ids))), np.zeros(n, int)
        while active.any():
            _, actions = agent.get_action(
                obs, agent_mask=info.get("agent_mask"),
                env_defined_actions=info.get("env_defined_actions"), training=False,
            )  # fmt: skip
            obs, rewards, terms, truncs, info = env.step(actions)
            ep_return += np.stack([rewards[a] for a in ids], axis=1)
            ep_len += 1
            reset = info.get("_final_obs")
            if reset is None:
                reset = np.any([terms[a] | truncs[a] for a in ids], axis=0)
            ended = active & (reset | (ep_len >= max_steps))
            for i in np.flatnonzero(ended):
                episodes.append(ep_return[i].copy())
                if reset[i] and pending > 0:
                    pending -= 1
                else:
                    active[i] = False
            ep_return[ended], ep_len[ended] = 0.0, 0
    return np.stack(episodes)


def _batched_episodes(
    agent: Agent, env: Any, max_steps: int, loop: int, seed: int | None, on_step: OnStep | None
) -> np.ndarray:
    """Play ``loop`` episodes as parallel copies of a batched simulator, ``env.num_envs`` at a
    time: each round resets the env with ``seed`` (state the copies share, see
    :mod:`marlpipe.envs.vmas_env`) and every copy with its own seed (episode ``k`` gets
    ``spawn_seeds(seed, loop)[k]``; spare copies of the last round play unseeded and are not
    counted) and steps them all until each has ended once (by the env or after ``max_steps``).
    Seeded, an episode's return does not depend on how many copies play beside it.
    ``on_step(env)`` (one copy only) runs after the reset and every step but the last of an
    episode (after that one the env has auto-reset already).
    """
    ids, n = agent.agent_ids, env.num_envs
    seeds = spawn_seeds(seed, loop)
    returns = np.zeros((loop, len(ids)))
    for first in range(0, loop, n):
        count = min(n, loop - first)
        copies = [*seeds[first : first + count], *[None] * (n - count)]
        obs, _ = env.reset(seed, seeds=copies)
        ep_return, running = np.zeros((n, len(ids))), np.ones(n, bool)
        if on_step is not None:
            on_step(env)
        for step in range(max_steps):
            _, actions = agent.get_action(obs, training=False)
            obs, rewards, terms, truncs, _ = env.step(actions)
            step_rewards = np.stack([rewards[a] for a in ids], axis=1).astype(np.float64)
            ep_return[running] += step_rewards[running]
            running &= ~np.any([terms[a] | truncs[a] for a in ids], axis=0)
            if not running[:count].any():
                break
            if on_step is not None and step + 1 < max_steps:
                on_step(env)
        returns[first : first + count] = ep_return[:count]
    return returns


def greedy_score(
    agent: Agent, env: Any, episodes: int = 10, max_steps: int = 25, seed: int | None = None
) -> float:
    """Mean over ``episodes`` greedy episodes of the return summed over agents (no side effects)."""
    return float(run_episodes(agent, env, episodes, max_steps, seed).sum(1).mean())


__all__ = ["OnStep", "greedy_score", "run_episodes"]
