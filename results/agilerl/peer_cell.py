"""The AgileRL peer row: AgileRL's own MATD3 and training function, scored by our protocol.

Run with the Python of the environment ``results/agilerl/make_env.sh`` builds (AgileRL is not a
marlpipe dependency), from the repository root:

    .venv-agilerl/bin/python results/agilerl/peer_cell.py --seeds 0,1,2,3,4

Per seed: AgileRL 2.58's ``train_multi_agent_off_policy`` trains a population of 4 MATD3 at its
tutorial settings (``results/agilerl/tutorial.py``, the ones ``benchmarks/agilerl/tutorial_rate.py``
times) for the preset's budget: the same env steps
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
    from agilerl.training.train_multi_agent_off_policy import train_multi_agent_off_policy
    from tutorial import EVO_STEPS, POPULATION_SIZE, tutorial_setup

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    setup = tutorial_setup(seed)
    elites = []  # AgileRL's elite of each generation, as its selection returns it: the
    tournament = setup["tournament"]  # returned population is mutated after the last evaluation
    select = tournament.select

    def keep_elite(population: Any) -> Any:
        chosen = select(population)  # (elite, new population, indices to mutate)
        elite = chosen[0]
        elites.append((elite.clone(), float(np.mean(np.asarray(elite.fitness[-1])))))
        return chosen

    tournament.select = keep_elite
    started = time.perf_counter()
    train_multi_agent_off_policy(max_steps=steps_per_member, **setup)
    wall = time.perf_counter() - started
    setup["env"].close()
    elite, fitness = elites[-1]  # the last generation's, unmutated (the tutorial saves it)
    info = {
        "elite_fitness": fitness, "generations": len(elites),
        # every member steps EVO_STEPS per generation (whole vector steps: 4,000 = 500 x 8)
        "env_steps": len(elites) * POPULATION_SIZE * EVO_STEPS, "train_wall_s": round(wall, 1),
    }  # fmt: skip
    return elite, info


def run_seed(seed: int, preset: Path, out: Path, steps_per_member: int | None) -> dict[str, Any]:
    """Train and score one seed; write and return its summary."""
    from marlpipe.config import load_params
    from marlpipe.envs import EnvFactory
    from marlpipe.evolution.fitness import team_returns
    from marlpipe.io import write_json
    from marlpipe.pipeline.evaluate import episode_scores
    from marlpipe.results.machine import cpu_kind

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
        "steps_per_member": per_member, "cpu_kind": cpu_kind(),
        "peer": f"AgileRL {version('agilerl')}",  # not our code: the table names it
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
