"""The one episode runner: greedy episodes of an agent, with no side effects on the agent.

Fitness evaluation (:mod:`marlpipe.evolution.fitness`), the evaluate stage, rendering and the
AgileRL-style ``agent.test()`` all play their episodes through :func:`run_episodes`, on a vector
env of any backend (:class:`~marlpipe.envs.protocols.VecEnv`); a PettingZoo ``ParallelEnv`` is
played as a one-copy vector env (:meth:`~marlpipe.envs.vector.SyncVecEnv.over`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from marlpipe.envs.vector import SyncVecEnv
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

    ``env`` is a vector env (anything with ``num_envs``) or a PettingZoo ParallelEnv, played as
    a one-copy vector env with its rewards as the env gives them. The episodes are played in
    rounds over the env's copies: each round resets the env, and every copy plays until its
    episode ends (by the env, or after ``max_steps`` steps); a copy the env reset goes on with
    another episode while more are wanted. Agent masks and env-defined actions from the env's
    infos are honoured. Nothing of the agent changes: its fitness history is the evolution
    layer's.

    Seeding: with ``seed`` the same seed always plays the same episodes. A copy's stream is
    seeded first (a one-copy env's with ``seed`` itself, as a single env's ``reset(seed=seed)``;
    more copies each with their seed derived from it); the rounds' resets then continue the
    streams. A batched simulator (``env.batched_simulator``, VMAS) resets state its copies share,
    so there every round is seeded instead and each copy plays one episode per round: episode
    ``k`` starts from copy seed ``spawn_seeds(seed, episodes)[k]``, so its return does not
    depend on how many copies play beside it (copies left over in the last round play unseeded
    and are not counted).

    ``on_step(env)`` (a one-copy env only, e.g. to grab frames) is called after every reset and
    every step after which the round goes on; after an episode's last step the env has
    auto-reset the copy already, so that frame is the next episode's.
    """
    vec = env if hasattr(env, "num_envs") else SyncVecEnv.over(env)  # the one conversion
    loop, n, ids = int(episodes), vec.num_envs, agent.agent_ids
    if on_step is not None and n != 1:
        raise ValueError(f"run_episodes: on_step needs a one-copy env, got {n} copies")
    per_round = bool(getattr(vec, "batched_simulator", False))
    episode_seeds = spawn_seeds(seed, loop) if per_round else []
    if seed is not None and not per_round and n == 1:
        vec.reset(seeds=[seed])  # the copy's own seed: a single env's reset(seed=seed)
    elif seed is not None and not per_round:
        vec.reset(seed=seed)
    returns: list[np.ndarray] = []
    while len(returns) < loop:
        count = min(n, loop - len(returns))
        if per_round:
            seeds = [*episode_seeds[len(returns) : len(returns) + count], *[None] * (n - count)]
            obs, info = vec.reset(seed, seeds=seeds)
        else:
            obs, info = vec.reset()
        active = np.arange(n) < count
        pending = 0 if per_round else loop - len(returns) - count
        ep_return, ep_len = np.zeros((n, len(ids))), np.zeros(n, int)
        ended_episodes: list[tuple[int, np.ndarray]] = []  # (copy, return), as they end
        if on_step is not None:
            on_step(vec)
        while active.any():
            _, actions = agent.get_action(
                obs, agent_mask=info.get("agent_mask"),
                env_defined_actions=info.get("env_defined_actions"), training=False,
            )  # fmt: skip
            obs, rewards, terms, truncs, info = vec.step(actions)
            ep_return += np.stack([rewards[a] for a in ids], axis=1)
            ep_len += 1
            reset = info.get("_final_obs")
            if reset is None:
                reset = np.any([terms[a] | truncs[a] for a in ids], axis=0)
            ended = active & (reset | (ep_len >= max_steps))
            for i in np.flatnonzero(ended):
                ended_episodes.append((int(i), ep_return[i].copy()))
                if reset[i] and pending > 0:
                    pending -= 1
                else:
                    active[i] = False
            ep_return[ended], ep_len[ended] = 0.0, 0
            if on_step is not None and active.any():
                on_step(vec)
        if per_round:  # one episode per copy: episode k is copy k's, whichever ended first
            ended_episodes.sort(key=lambda item: item[0])
        returns.extend(episode for _, episode in ended_episodes)
    return np.stack(returns)


def greedy_score(
    agent: Agent, env: Any, episodes: int = 10, max_steps: int = 25, seed: int | None = None
) -> float:
    """Mean over ``episodes`` greedy episodes of the return summed over agents (no side effects)."""
    return float(run_episodes(agent, env, episodes, max_steps, seed).sum(1).mean())


__all__ = ["OnStep", "greedy_score", "run_episodes"]
