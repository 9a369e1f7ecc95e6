"""A hand-written evolutionary training loop built from marlpipe's public pieces.

The same steps ``marlpipe.training.train_multi_agent`` takes, spelled out so they can be changed:
each member steps the vectorised env for ``evo_steps`` env steps, storing into one shared replay
buffer and learning once per ``learn_step`` of its transitions (the remainder carries over to
its next turn, and to its offspring); then every member is evaluated, the tournament picks the
next generation and mutations explore hyperparameters. ``total_steps`` counts env steps of all
members together.

    python examples/custom_loop.py --total-steps 100000
"""

from __future__ import annotations

import argparse
import math
import os

import numpy as np

from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer
from marlpipe.envs import make_env, make_vec_env
from marlpipe.evolution import create_population
from marlpipe.training.agilerl_style import mutations_from_keywords, tournament_from_keywords
from marlpipe.training.rollout import EpsilonSchedule

ENV_NAME = "mpe2.simple_speaker_listener_v4"
NET_CONFIG = {"hidden_sizes": [64, 64], "activation": "ReLU"}
INIT_HP = {
    "batch_size": 128,  # transitions per gradient step
    "lr_actor": 1e-3,
    "lr_critic": 1e-3,
    "gamma": 0.95,
    "tau": 0.01,
    "learn_step": 100,  # env transitions (over all copies) per learn() call
    "policy_freq": 2,  # TD3 policy delay
}


def main(
    total_steps: int = 200_000,
    population_size: int = 4,
    num_envs: int = 8,
    evo_steps: int = 5_000,
    eval_episodes: int = 5,
    seed: int = 0,
    save_dir: str | None = None,
) -> tuple[list, list[list[float]]]:
    """Train a population and return it with one list of fitnesses per generation."""
    env = make_vec_env(ENV_NAME, num_envs, seed=seed, continuous_actions=True)
    eval_env = make_env(ENV_NAME, continuous_actions=True)
    pop = create_population("MATD3", env.spec, NET_CONFIG, INIT_HP, population_size, seed=seed)
    memory = MultiAgentReplayBuffer(1_000_000, TRANSITION_FIELDS, env.agent_ids, seed=seed)
    # The AgileRL-style keyword constructors; TournamentSelection(TournamentConfig(...), ...) and
    # Mutations(MutationConfig(...), seed) take the params.yaml groups instead.
    tournament = tournament_from_keywords(
        tournament_size=2, elitism=True, population_size=population_size, eval_loop=1,
        rand_seed=seed,
    )  # fmt: skip
    mutations = mutations_from_keywords(
        no_mutation=0.2, architecture=0.2, new_layer_prob=0.2, parameters=0.2, activation=0.0,
        rl_hp=0.2, mutation_sd=0.1, rand_seed=seed,
    )  # fmt: skip
    # Discrete-action exploration that follows each member's own transitions (agent.steps).
    epsilon = EpsilonSchedule(start=1.0, end=0.1, decay=0.9999)

    history: list[list[float]] = []
    total = 0
    generation = 0
    vector_steps = max(1, math.ceil(evo_steps / num_envs))  # at least evo_steps per member
    elite = pop[0]  # placeholder until the first selection (e.g. with total_steps <= 0)
    while total < total_steps:
        for agent in pop:
            obs, info = env.reset(seed=seed + 1000 * generation + agent.index)
            for _ in range(vector_steps):
                # Agent masking: env-defined actions replace masked agents' choices.
                to_store, for_env = agent.get_action(
                    obs,
                    epsilon(agent.steps),
                    info.get("agent_mask"),
                    info.get("env_defined_actions"),
                )
                next_obs, reward, termination, _truncation, info = env.step(for_env)
                # Store the true final observation of finished copies, and terminations only:
                # a time-limit truncation must still bootstrap.
                memory.save_to_memory(
                    obs, to_store, reward, info["final_obs"], termination, is_vectorised=True
                )
                obs = next_obs
                agent.steps += num_envs
                total += num_envs
                # learn_credit: the member's transitions not yet turned into a learn() call. It
                # lives on the agent, so a turn shorter than learn_step still leads to learning.
                calls, agent.learn_credit = divmod(agent.learn_credit + num_envs, agent.learn_step)
                if len(memory) >= agent.batch_size:
                    for _ in range(calls):
                        agent.learn(memory.sample(agent.batch_size))

        fitnesses = [agent.test(eval_env, max_steps=25, loop=eval_episodes) for agent in pop]
        history.append(fitnesses)
        print(
            f"generation {generation}  env steps {total}  "
            f"fitness {' '.join(f'{f:.1f}' for f in fitnesses)}  "
            f"mean of last 5 {' '.join(f'{np.mean(a.fitness[-5:]):.1f}' for a in pop)}"
        )
        elite, pop = tournament.select(pop)
        pop = mutations.mutation(pop)
        generation += 1

    if save_dir is not None:
        os.makedirs(save_dir, exist_ok=True)
        elite.save_checkpoint(os.path.join(save_dir, "elite.pt"))
    env.close()
    eval_env.close()
    return pop, history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-steps", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-dir", default=None)
    args = parser.parse_args()
    main(total_steps=args.total_steps, seed=args.seed, save_dir=args.save_dir)
