"""AgileRL 2.58's MATD3 tutorial settings, in one place for the peer row and the speed benchmark.

Imported by ``results/agilerl/peer_cell.py`` (the results table's AgileRL row) and by
``benchmarks/agilerl/tutorial_rate.py`` (env-steps/s against marlpipe), both run with the Python
of ``.venv-agilerl`` (``results/agilerl/make_env.sh``): AgileRL is not a marlpipe dependency.
Speaker-listener from mpe2, 8 copies in AgileRL's ``AsyncPettingZooVecEnv``, a population of 4
MATD3 with [64, 64] nets, batch 128, learn_step 100, evolution every 4,000 steps per member with
one evaluation loop over the 8 copies, tournament of 2 with elitism, the tutorial's mutation
probabilities.
"""

from __future__ import annotations

from typing import Any

NUM_ENVS = 8
POPULATION_SIZE = 4
EVO_STEPS = 4000
"""Env steps per member between evolution steps (whole vector steps: 500 x 8)."""
EVAL_LOOP = 1


def tutorial_setup(seed: int) -> dict[str, Any]:
    """The env, population, buffer, selection and mutations of the tutorial, seeded with
    ``seed``; keyword arguments for ``train_multi_agent_off_policy`` but ``max_steps``."""
    from agilerl.components.replay_buffer import ReplayBuffer
    from agilerl.hpo.mutation import Mutations
    from agilerl.hpo.tournament import TournamentSelection
    from agilerl.utils.utils import create_population
    from agilerl.vector.pz_async_vec_env import AsyncPettingZooVecEnv
    from mpe2 import simple_speaker_listener_v4

    env = AsyncPettingZooVecEnv(
        [lambda: simple_speaker_listener_v4.parallel_env(continuous_actions=True)
         for _ in range(NUM_ENVS)]
    )  # fmt: skip
    env.reset(seed=seed)
    agent_ids = env.agents
    init_hp = {
        "ALGO": "MATD3", "POPULATION_SIZE": POPULATION_SIZE, "BATCH_SIZE": 128, "O_U_NOISE": True,
        "EXPL_NOISE": 0.1, "MEAN_NOISE": 0.0, "THETA": 0.15, "DT": 0.01, "LR_ACTOR": 1e-4,
        "LR_CRITIC": 1e-3, "GAMMA": 0.95, "MEMORY_SIZE": 100_000, "LEARN_STEP": 100,
        "TAU": 0.01, "POLICY_FREQ": 2, "AGENT_IDS": agent_ids,
    }  # fmt: skip
    pop = create_population(  # its tutorial's call (deprecated in 2.58 for MATD3.population)
        "MATD3", {"head_config": {"hidden_size": [64, 64]}}, init_hp,
        observation_space=[env.single_observation_space(a) for a in agent_ids],
        action_space=[env.single_action_space(a) for a in agent_ids],
        population_size=POPULATION_SIZE, num_envs=NUM_ENVS,
    )  # fmt: skip
    mutations = Mutations(
        no_mutation=0.2, architecture=0.2, new_layer_prob=0.2, parameters=0.2, activation=0,
        rl_hp=0.2, mutation_sd=0.1, rand_seed=seed,
    )  # fmt: skip
    return {
        "env": env, "env_name": "simple_speaker_listener_v4", "algo": "MATD3", "pop": pop,
        "memory": ReplayBuffer(max_size=init_hp["MEMORY_SIZE"]), "init_hp": init_hp,
        "evo_steps": EVO_STEPS, "eval_loop": EVAL_LOOP, "mutation": mutations, "verbose": False,
        "tournament": TournamentSelection(
            tournament_size=2, elitism=True, population_size=POPULATION_SIZE
        ),
    }  # fmt: skip
