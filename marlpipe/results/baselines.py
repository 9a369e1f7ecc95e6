"""Reference scores of a task measured by the evaluation's own code: a random and a zero policy.

Both play the evaluate stage's episodes (same runner, same ``evaluate.seed``, same episode count
and length) and are scored like an elite: the return summed over the scored agents
(``evolution.fitness_agents``), with every agent's and team's mean return alongside.
"""

from __future__ import annotations

import statistics
from typing import Any

import numpy as np

from marlpipe.config import Params


class RandomPolicy:
    """Uniformly random actions from each agent's action space (seeded). ``copies``: the number
    of env copies of a vec env it acts in (``None``: one PettingZoo env, unbatched actions)."""

    def __init__(self, spec: Any, seed: int = 0, copies: int | None = None) -> None:
        self.spec, self.agent_ids, self.copies = spec, tuple(spec.agent_ids), copies
        self.rng = np.random.default_rng(seed)

    def get_action(self, obs: dict[str, Any], **_: Any) -> tuple[dict, dict]:
        from marlpipe.envs import random_actions

        batch = random_actions(self.spec, self.copies or 1, self.rng)
        actions = batch if self.copies else {a: v[0] for a, v in batch.items()}
        return actions, actions


class ZeroPolicy:
    """The "do nothing" action: discrete action 0, continuous actions 0 clipped to the box
    (in MPE both mean no movement and no message)."""

    def __init__(self, spec: Any, copies: int | None = None) -> None:
        self.spec, self.agent_ids = spec, tuple(spec.agent_ids)
        self.actions: dict[str, Any] = {}
        for agent in self.agent_ids:
            act = spec.actions[agent]
            if act.discrete:
                self.actions[agent] = 0
            else:
                zero = np.zeros(act.shape, np.float32)
                self.actions[agent] = np.clip(zero, act.low, act.high).astype(np.float32)
            if copies:
                self.actions[agent] = np.stack([np.asarray(self.actions[agent])] * copies)

    def get_action(self, obs: dict[str, Any], **_: Any) -> tuple[dict, dict]:
        return dict(self.actions), dict(self.actions)


def baseline_scores(params: Params, episodes: int | None = None) -> dict[str, Any]:
    """``{"random": {...}, "zero": {...}}``: score, its sd and standard error, per-agent and
    per-team returns, over ``episodes`` episodes (default: the evaluate stage's count) from
    ``evaluate.seed``, as the elite's episodes."""
    from marlpipe.algos.episodes import run_episodes
    from marlpipe.envs import EnvFactory
    from marlpipe.evolution.fitness import scored_agents, scored_returns, team_returns

    cfg = params.evaluate
    episodes = cfg.episodes if episodes is None else int(episodes)
    if episodes < 1:
        raise ValueError(f"baseline episodes must be >= 1, got {episodes}")
    env = EnvFactory.from_params(params).eval_env(episodes)
    try:
        copies, spec = env.num_envs, env.spec
        scored = scored_agents(spec.agent_ids, params.evolution.fitness_agents)
        out: dict[str, Any] = {"episodes": episodes, "scored_agents": scored}
        policies = (
            ("random", RandomPolicy(spec, cfg.seed, copies)),
            ("zero", ZeroPolicy(spec, copies)),
        )
        for name, policy in policies:
            returns = run_episodes(policy, env, episodes, cfg.max_steps, seed=cfg.seed)
            scores = [float(v) for v in scored_returns(returns, spec.agent_ids, scored).sum(1)]
            per_agent = {a: float(returns[:, i].mean()) for i, a in enumerate(spec.agent_ids)}
            out[name] = {
                "score": statistics.fmean(scores),
                "score_std": statistics.pstdev(scores),
                "score_sem": (
                    statistics.stdev(scores) / len(scores) ** 0.5 if episodes > 1 else None
                ),
                "returns": per_agent,
                "teams": team_returns(per_agent),
            }
    finally:
        env.close()
    return out


def measured(scores: dict[str, Any]) -> dict[str, Any]:
    """:func:`baseline_scores` without what is derived from its numbers (``score_sem``): what
    the behaviour fingerprint hashes, so a new summary of the same episodes changes no row."""
    drop = lambda v: {k: x for k, x in v.items() if k != "score_sem"}  # noqa: E731
    return {k: drop(v) if isinstance(v, dict) else v for k, v in scores.items()}


__all__ = ["RandomPolicy", "ZeroPolicy", "baseline_scores", "measured"]
