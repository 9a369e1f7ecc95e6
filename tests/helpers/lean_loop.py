"""The lean training loop the learning tests share: collect on a vector env, store every copy's
transition, and learn once per ``agent.learn_step`` collected transitions once the buffer holds
a batch."""

from __future__ import annotations

from typing import Any

from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer


def lean_train(agent: Any, env: Any, env_steps: int, seed: int = 0, **act: Any) -> None:
    """Train ``agent`` on ``env`` for ``env_steps`` transitions (``act``: keywords of
    ``get_action``, e.g. ``epsilon``), with a 200,000-transition buffer seeded ``seed``."""
    buffer = MultiAgentReplayBuffer(200_000, TRANSITION_FIELDS, env.agent_ids, seed=seed)
    obs, _ = env.reset(seed=seed)
    collected, due = 0, 0
    while collected < env_steps:
        store, actions = agent.get_action(obs, **act)
        next_obs, rewards, terms, _, infos = env.step(actions)
        buffer.save_to_memory(obs, store, rewards, infos["final_obs"], terms, is_vectorised=True)
        obs = next_obs
        collected += env.num_envs
        due += env.num_envs
        if len(buffer) >= agent.batch_size:
            while due >= agent.learn_step:
                agent.learn(buffer.sample(agent.batch_size))
                due -= agent.learn_step
