"""AgileRL's own MATD3 at its tutorial settings: env-steps/s of its training function.

Not a marlpipe benchmark (AgileRL is not a dependency): run it with the Python of a throwaway
environment that has agilerl (see docs/performance.md, "Against AgileRL"). Speaker-listener from
mpe2, 8 copies in AgileRL's AsyncPettingZooVecEnv, a population of 4 MATD3 with [64, 64] nets,
batch 128, learn_step 100, tournament of 2 with elitism, AgileRL's mutation probabilities as in
its tutorial, ``train_multi_agent_off_policy`` for ``--steps`` env steps per member.

    /path/to/agilerl-venv/bin/python benchmarks/agilerl/tutorial_rate.py [--threads 1]
        [--steps 48000]

Prints one line of JSON: ``{"env_steps_per_s": ..., "threads": ..., "agilerl": version}``;
env steps are counted over the population, as marlpipe's ``bench_population.py`` counts them.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    cli.add_argument("--steps", type=int, default=48_000, help="env steps per member")
    args = cli.parse_args()
    from importlib.metadata import version

    import torch
    from agilerl.components.replay_buffer import ReplayBuffer
    from agilerl.hpo.mutation import Mutations
    from agilerl.hpo.tournament import TournamentSelection
    from agilerl.training.train_multi_agent_off_policy import train_multi_agent_off_policy
    from agilerl.utils.utils import create_population
    from agilerl.vector.pz_async_vec_env import AsyncPettingZooVecEnv
    from mpe2 import simple_speaker_listener_v4

    if args.threads:
        torch.set_num_threads(args.threads)
    num_envs, size = 8, 4
    env = AsyncPettingZooVecEnv(
        [lambda: simple_speaker_listener_v4.parallel_env(continuous_actions=True)
         for _ in range(num_envs)]
    )  # fmt: skip
    env.reset(seed=0)
    agent_ids = env.agents
    observation_spaces = [env.single_observation_space(a) for a in agent_ids]
    action_spaces = [env.single_action_space(a) for a in agent_ids]
    init_hp = {
        "ALGO": "MATD3", "POPULATION_SIZE": size, "BATCH_SIZE": 128, "O_U_NOISE": True,
        "EXPL_NOISE": 0.1, "MEAN_NOISE": 0.0, "THETA": 0.15, "DT": 0.01, "LR_ACTOR": 1e-4,
        "LR_CRITIC": 1e-3, "GAMMA": 0.95, "MEMORY_SIZE": 100_000, "LEARN_STEP": 100,
        "TAU": 0.01, "POLICY_FREQ": 2, "AGENT_IDS": agent_ids,
    }  # fmt: skip
    net_config = {"head_config": {"hidden_size": [64, 64]}}
    pop = create_population(  # its tutorial's call (deprecated in 2.58 for MATD3.population)
        "MATD3", net_config, init_hp, observation_space=observation_spaces,
        action_space=action_spaces, population_size=size, num_envs=num_envs,
    )  # fmt: skip
    memory = ReplayBuffer(max_size=init_hp["MEMORY_SIZE"])
    tournament = TournamentSelection(tournament_size=2, elitism=True, population_size=size)
    mutations = Mutations(
        no_mutation=0.2, architecture=0.2, new_layer_prob=0.2, parameters=0.2, activation=0,
        rl_hp=0.2, mutation_sd=0.1, rand_seed=0,
    )  # fmt: skip
    started = time.perf_counter()
    train_multi_agent_off_policy(
        env, "simple_speaker_listener_v4", "MATD3", pop, memory, init_hp=init_hp,
        max_steps=args.steps, evo_steps=4000, eval_loop=1, tournament=tournament,
        mutation=mutations, verbose=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    env.close()
    rate = args.steps * size / wall
    print(json.dumps({"env_steps_per_s": rate, "threads": torch.get_num_threads(),
                      "agilerl": version("agilerl")}))  # fmt: skip


if __name__ == "__main__":
    main()
