"""The AgileRL peer row: AgileRL's own MATD3 and training function, scored by our protocol.

Run with the Python of the environment ``results/agilerl/make_env.sh`` builds (AgileRL is not a
marlpipe dependency), from the repository root:

    .venv-agilerl/bin/python results/agilerl/peer_cell.py --seeds 0,1,2,3,4

Per seed: AgileRL 2.58's ``train_multi_agent_off_policy`` trains a population of 4 MATD3 at its
tutorial settings (the ones ``benchmarks/agilerl/tutorial_rate.py`` times: 8 copies of mpe2's
speaker-listener in its ``AsyncPettingZooVecEnv``, [64, 64] nets, batch 128, learn_step 100,
evolution every 4,000 steps per member, one evaluation loop over the 8 copies, tournament of 2
with elitism, its tutorial's mutation probabilities) for the preset's budget: the same env steps
as our speaker-listener row (``--preset``: 20 generations x 4 members x 20,000 = 1.6M, so
400,000 per member). Its elite (what AgileRL's tournament selection returns as the elite in
the last generation, before the population is mutated again) is then played greedily on the
evaluate stage's episodes (``evaluate.episodes`` from
``evaluate.seed``, through :func:`marlpipe.pipeline.evaluate.episode_scores`, the same runner and
scoring as our cells), and a summary like a cell's is written to
``results/peer/speaker_listener-agilerl-matd3-s<seed>.json``.

A seed whose summary exists is skipped, so an interrupted run goes on where it stopped (a seed
cut off mid-training starts again: AgileRL's loop has no checkpoint here).
"""

from __future__ import annotations

import argparse
import random
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
ALGORITHM = "AgileRL-MATD3"


class AgileRLPolicy:
    """An AgileRL multi-agent algorithm behind marlpipe's acting interface (greedy only)."""

    def __init__(self, agent: Any, spec: Any) -> None:
        self.agent, self.spec, self.agent_ids = agent, spec, tuple(spec.agent_ids)
        agent.set_training_mode(False)  # no exploration noise

    def get_action(self, obs: dict[str, np.ndarray], **_: Any) -> tuple[dict, dict]:
        for_env, raw = self.agent.get_action(obs)  # actions in the env's bounds, and raw
        return raw, for_env


def train(seed: int, steps_per_member: int) -> tuple[Any, dict[str, Any]]:
    """AgileRL's training at its tutorial settings; the elite and what the run did."""
    import torch
    from agilerl.components.replay_buffer import ReplayBuffer
    from agilerl.hpo.mutation import Mutations
    from agilerl.hpo.tournament import TournamentSelection
    from agilerl.training.train_multi_agent_off_policy import train_multi_agent_off_policy
    from agilerl.utils.utils import create_population
    from agilerl.vector.pz_async_vec_env import AsyncPettingZooVecEnv
    from mpe2 import simple_speaker_listener_v4

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    num_envs, size = 8, 4
    env = AsyncPettingZooVecEnv(
        [lambda: simple_speaker_listener_v4.parallel_env(continuous_actions=True)
         for _ in range(num_envs)]
    )  # fmt: skip
    env.reset(seed=seed)
    agent_ids = env.agents
    init_hp = {
        "ALGO": "MATD3", "POPULATION_SIZE": size, "BATCH_SIZE": 128, "O_U_NOISE": True,
        "EXPL_NOISE": 0.1, "MEAN_NOISE": 0.0, "THETA": 0.15, "DT": 0.01, "LR_ACTOR": 1e-4,
        "LR_CRITIC": 1e-3, "GAMMA": 0.95, "MEMORY_SIZE": 100_000, "LEARN_STEP": 100,
        "TAU": 0.01, "POLICY_FREQ": 2, "AGENT_IDS": agent_ids,
    }  # fmt: skip
    pop = create_population(
        "MATD3", {"head_config": {"hidden_size": [64, 64]}}, init_hp,
        observation_space=[env.single_observation_space(a) for a in agent_ids],
        action_space=[env.single_action_space(a) for a in agent_ids],
        population_size=size, num_envs=num_envs,
    )  # fmt: skip
    tournament = TournamentSelection(tournament_size=2, elitism=True, population_size=size)
    mutations = Mutations(
        no_mutation=0.2, architecture=0.2, new_layer_prob=0.2, parameters=0.2, activation=0,
        rl_hp=0.2, mutation_sd=0.1, rand_seed=seed,
    )  # fmt: skip
    elites = []  # AgileRL's elite of each generation, as its selection returns it: the
    select = tournament.select  # returned population is mutated after the last evaluation

    def keep_elite(population: Any) -> Any:
        chosen = select(population)  # (elite, new population, indices to mutate)
        elite = chosen[0]
        elites.append((elite.clone(), float(np.mean(np.asarray(elite.fitness[-1])))))
        return chosen

    tournament.select = keep_elite
    started = time.perf_counter()
    train_multi_agent_off_policy(
        env, "simple_speaker_listener_v4", "MATD3", pop, ReplayBuffer(max_size=100_000),
        init_hp=init_hp, max_steps=steps_per_member, evo_steps=4000, eval_loop=1,
        tournament=tournament, mutation=mutations, verbose=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    env.close()
    elite, fitness = elites[-1]  # the last generation's, unmutated (the tutorial saves it)
    info = {
        "elite_fitness": fitness, "generations": len(elites),
        # every member steps evo_steps per generation (whole vector steps: 4,000 = 500 x 8)
        "env_steps": len(elites) * size * 4000, "train_wall_s": round(wall, 1),
    }  # fmt: skip
    return elite, info


def run_seed(seed: int, preset: Path, out: Path, steps_per_member: int | None) -> dict[str, Any]:
    """Train and score one seed; write and return its summary."""
    from marlpipe.config import load_params
    from marlpipe.envs import EnvFactory
    from marlpipe.evolution.fitness import team_returns
    from marlpipe.io import write_json
    from marlpipe.pipeline.evaluate import episode_scores

    params = load_params(preset)
    budget = params.evolution.generations * params.population.size
    budget *= params.evolution.steps_per_generation
    per_member = budget // 4 if steps_per_member is None else steps_per_member
    started = time.perf_counter()
    elite, info = train(seed, per_member)
    spec = EnvFactory.from_params(params).spec()
    scores, per_agent = episode_scores(AgileRLPolicy(elite, spec), params)
    row = {
        "task": preset.stem, "env": params.env.name, "algorithm": ALGORITHM, "seed": seed,
        "score": float(np.mean(scores)), "score_std": float(np.std(scores)),
        "episodes": len(scores), "returns": per_agent, "teams": team_returns(per_agent),
        "scored_agents": params.evolution.fitness_agents, **info,
        "wall_s": round(time.perf_counter() - started, 1),
        "agilerl": version("agilerl"), "steps_per_member": per_member,
    }  # fmt: skip
    write_json(out, row)
    return row


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cli.add_argument("--seeds", default="0,1,2,3,4")
    cli.add_argument("--preset", type=Path, default=REPO / "configs" / "speaker_listener.yaml")
    cli.add_argument("--folder", type=Path, default=REPO / "results" / "peer")
    cli.add_argument("--steps-per-member", type=int, default=None,
                     help="default: the preset's budget / 4 (a smoke test: less)")  # fmt: skip
    args = cli.parse_args()
    for seed in (int(s) for s in args.seeds.split(",")):
        out = args.folder / f"{args.preset.stem}-{ALGORITHM.lower()}-s{seed}.json"
        if out.is_file():
            print(f"{out.name}: done already, skipped", flush=True)
            continue
        row = run_seed(seed, args.preset, out, args.steps_per_member)
        print(f"{out.name}: score {row['score']:.2f} after {row['env_steps']:,} env steps, "
              f"{row['wall_s'] / 60:.1f} min", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
