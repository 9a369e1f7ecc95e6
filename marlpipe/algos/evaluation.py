"""Greedy evaluation of a multi-agent algorithm on a ParallelEnv or a vec env (``agent.test``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from marlpipe.envs.batching import mask_info


def evaluate(agent: Any, env: Any, max_steps: int = 25, loop: int = 3) -> float:
    """Greedy episodes on a PettingZoo ParallelEnv or a vec env; see ``MATD3.test``.

    Records the mean summed return in ``agent.fitness`` and per-agent means in
    ``agent.last_test_returns``. A vec env is reset here, so give it one kept for evaluation.
    """
    if hasattr(env, "num_envs"):
        returns = _vector_episodes(agent, env, max_steps, loop)
    else:
        returns = _single_episodes(agent, env, max_steps, loop)
    agent.last_test_returns = dict(zip(agent.agent_ids, returns.mean(0).tolist(), strict=True))
    score = float(returns.sum(1).mean())
    agent.fitness.append(score)
    return score


def _single_episodes(agent: Any, env: Any, max_steps: int, loop: int) -> np.ndarray:
    ids = agent.agent_ids
    returns = np.zeros((loop, len(ids)))
    for episode in range(loop):
        obs, info = env.reset()
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
            if not env.agents or all(terms.get(a, False) or truncs.get(a, False) for a in rewards):
                break
    return returns


def _vector_episodes(agent: Any, env: Any, max_steps: int, loop: int) -> np.ndarray:
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
