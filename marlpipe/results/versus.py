"""Mixed and competitive games: the scored team against the elite's other agents, one side random.

In a game such as ``simple_adversary`` the random-policy baseline plays a random good team against
a random adversary, while the trained good team faces a trained adversary: the two returns answer
different questions. This module plays the evaluation's episodes (same runner, seed, count and
length) twice more with one side of the elite swapped for uniformly random actions:

- ``random_vs_elite``: the scored agents act at random, the other agents are the elite's. The
  random-policy return of the scored team against the same opponents the elite faced.
- ``elite_vs_random``: the scored agents are the elite's, the others act at random.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from marlpipe.config import Params


class MixedPolicy:
    """The elite's actions for every agent except ``random_agents``, which act uniformly at
    random (seeded). Only the executed actions are mixed; nothing of the elite changes."""

    def __init__(self, elite: Any, random_agents: set[str], seed: int, copies: int | None) -> None:
        from marlpipe.results.baselines import RandomPolicy

        self.elite, self.random_agents = elite, set(random_agents)
        self.agent_ids = tuple(elite.agent_ids)
        self.random = RandomPolicy(elite.spec, seed, copies)

    def get_action(self, obs: dict[str, Any], **kwargs: Any) -> tuple[dict, dict]:
        _, elite_actions = self.elite.get_action(obs, **kwargs)
        _, random_actions = self.random.get_action(obs)
        actions = {
            agent: random_actions[agent] if agent in self.random_agents else action
            for agent, action in elite_actions.items()
        }
        return actions, actions


def versus_scores(params: Params, root: str | Path) -> dict[str, Any]:
    """The elite of the cell in ``root`` with one side random; per-agent and per-team returns.

    Needs ``evolution.fitness_agents`` (the scored side); every other agent is the opponent.
    """
    from marlpipe.algos.episodes import run_episodes
    from marlpipe.envs import EnvFactory
    from marlpipe.evolution.fitness import scored_agents, scored_returns, team_returns
    from marlpipe.pipeline.evaluate import load_elite

    if params.evolution.fitness_agents is None:
        raise ValueError(
            "evolution.fitness_agents: versus needs the scored agents (ids or a team), got null"
        )
    elite, _ = load_elite(root, params.population.device)
    ids = list(elite.agent_ids)
    scored = scored_agents(ids, params.evolution.fitness_agents)
    others = [a for a in ids if a not in scored]
    cfg = params.evaluate
    out: dict[str, Any] = {"episodes": cfg.episodes, "scored_agents": scored}
    for name, random_side in (("random_vs_elite", scored), ("elite_vs_random", others)):
        env = EnvFactory.from_params(params, elite.spec).eval_env(cfg.episodes)
        try:
            policy = MixedPolicy(elite, set(random_side), cfg.seed, env.num_envs)
            returns = run_episodes(policy, env, cfg.episodes, cfg.max_steps, seed=cfg.seed)
        finally:
            env.close()
        scores = [float(v) for v in scored_returns(returns, ids, scored).sum(1)]
        per_agent = {a: float(returns[:, i].mean()) for i, a in enumerate(ids)}
        out[name] = {
            "score": statistics.fmean(scores),
            "score_std": statistics.pstdev(scores),
            "returns": per_agent,
            "teams": team_returns(per_agent),
        }
    return out


__all__ = ["MixedPolicy", "versus_scores"]
