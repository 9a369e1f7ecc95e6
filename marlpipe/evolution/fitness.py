"""Fitness: every member scored on the same greedy episodes, each score added to its history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from marlpipe.algos.episodes import run_episodes
from marlpipe.config.validation import ConfigError
from marlpipe.envs.spec import team_of

if TYPE_CHECKING:
    from marlpipe.algos.protocols import Agent


def scored_agents(
    agent_ids: Sequence[str],
    selection: Iterable[str] | None,
    key: str = "evolution.fitness_agents",
) -> list[str]:
    """The agents whose returns make fitness, in env order: all of them for ``None``, else
    those named in ``selection`` by id or by team. A name that fits no agent is an error."""
    if selection is None:
        return list(agent_ids)
    selection = list(selection)
    teams = sorted({team_of(a) for a in agent_ids})
    for name in selection:
        if name not in agent_ids and name not in teams:
            raise ConfigError(
                f"{key}: {name!r} is neither an agent nor a team of this env; expected agents "
                f"{list(agent_ids)} or teams {teams}"
            )
    return [a for a in agent_ids if a in selection or team_of(a) in selection]


def scored_returns(returns: Any, agent_ids: Sequence[str], agents: Sequence[str] | None) -> Any:
    """The columns of ``returns`` (episodes x ``agent_ids``) of the scored ``agents``; all of
    ``returns`` itself for ``None`` (every agent counts)."""
    if agents is None:
        return returns
    return returns[:, [list(agent_ids).index(a) for a in agents]]


def team_returns(per_agent: Mapping[str, float]) -> dict[str, float]:
    """Sum of the agents' (mean) returns per team, teams in order of first appearance."""
    teams: dict[str, float] = {}
    for agent_id, value in per_agent.items():
        teams[team_of(agent_id)] = teams.get(team_of(agent_id), 0.0) + float(value)
    return teams


def record_fitness(agent: Agent, score: float) -> None:
    """Append ``score`` to the member's fitness history (what selection averages over)."""
    agent.fitness.append(float(score))


def evaluate_population(
    population: Sequence[Agent],
    eval_env: Any,
    *,
    episodes: int = 1,
    max_steps: int = 25,
    seed: int | None = None,
    agents: Sequence[str] | None = None,
) -> list[float]:
    """Score each member over ``episodes`` greedy episodes, record and return the scores.

    A score is the mean over the episodes of the return summed over ``agents`` (default: every
    agent; see :func:`scored_agents` to name a team). ``eval_env`` may be
    a PettingZoo ParallelEnv or a vec env. With ``seed`` the env is seeded with it before every
    member, so all members of a generation face the same starting states (common random
    numbers make the tournament fairer) and the scores do not depend on what the env did before.
    """
    scores = []
    for agent in population:
        returns = run_episodes(agent, eval_env, episodes, max_steps, seed)
        score = float(scored_returns(returns, agent.agent_ids, agents).sum(1).mean())
        record_fitness(agent, score)
        scores.append(score)
    return scores


__all__ = [
    "evaluate_population",
    "record_fitness",
    "scored_agents",
    "scored_returns",
    "team_returns",
]
