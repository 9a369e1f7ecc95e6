"""The tiny evolution the parallel trainers' test modules run, and the byte-for-byte comparison
of two runs.

``tests/training/test_ray.py`` (a local Ray), ``tests/training/test_ray_cluster.py`` (a
cluster of several nodes) and ``tests/training/test_processes.py`` (a pool of processes) run the
same 3-member evolution on speaker-listener under different trainers and compare the outcome
with :func:`assert_identical`; the first and last also kill an evolve stage and compare its
resumed end with an uninterrupted one (:func:`assert_resume_ends_as_uninterrupted`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer
from marlpipe.config import EvolutionConfig, MutationConfig
from marlpipe.envs import EnvFactory, make_env
from marlpipe.evolution import Mutations, create_population
from marlpipe.training import ListTracker, LoopState, evolve
from marlpipe.training.agilerl_style import tournament_from_keywords

SL = "mpe2.simple_speaker_listener_v4"
ENV = EnvFactory(SL, {"continuous_actions": True}, num_envs=2, seed=0)
SIZE = 3


def worker_pythonpath() -> str:
    """``PYTHONPATH`` for Ray workers: this checkout first, so they import the code under test."""
    root = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)


def tiny_run(trainer, generations: int = 2, eval_episodes: int = 1, on_generation=None):
    """A tiny evolution (3 members, 200 env steps each per generation) on ``trainer``;
    ``(result, memory, records)``: what must come out identical."""
    env = ENV.vec_env()
    eval_env = make_env(SL, continuous_actions=True)
    hp = {"batch_size": 32, "learn_step": 20}
    pop = create_population("MATD3", env.spec, {"hidden_sizes": [16]}, hp, SIZE, 0)
    memory = MultiAgentReplayBuffer(2000, TRANSITION_FIELDS, env.agent_ids, seed=0)
    tournament = tournament_from_keywords(2, True, SIZE, eval_loop=1, rand_seed=0)
    evolution = EvolutionConfig(
        generations=generations, steps_per_generation=200, eval_episodes=eval_episodes
    )
    tracker = ListTracker()
    try:
        result = evolve(
            env, pop, memory, evolution, tournament=tournament,
            mutation=Mutations(MutationConfig(), 0), state=LoopState.start(0), eval_env=eval_env,
            tracker=tracker, progress=False, trainer=trainer, on_generation=on_generation,
        )  # fmt: skip
    finally:
        env.close()
        eval_env.close()
    return result, memory, tracker.records


def assert_identical(left, right) -> None:
    """Same fitness histories, per-generation scores, env steps and children's parents, the same
    members (metadata with fitness histories and lineage, every tensor of their state) and the
    same buffer, byte for byte."""
    (res_a, mem_a, rec_a), (res_b, mem_b, rec_b) = left, right
    assert res_a.history == res_b.history
    assert [r.fitnesses for r in rec_a] == [r.fitnesses for r in rec_b]
    assert [r.env_steps for r in rec_a] == [r.env_steps for r in rec_b]
    parents = [[[c.parent for c in r.children] for r in rec] for rec in (rec_a, rec_b)]
    assert parents[0] == parents[1]
    for a, b in zip(res_a.population, res_b.population, strict=True):
        assert a.metadata() == b.metadata()
        sa, sb = a.state_dicts(), b.state_dicts()
        assert sa.keys() == sb.keys()
        for key in sa:
            flat_a, flat_b = tensors(sa[key]), tensors(sb[key])
            assert len(flat_a) == len(flat_b), key
            for ta, tb in zip(flat_a, flat_b, strict=True):
                assert ta.dtype == tb.dtype and torch.equal(ta, tb), key
    snap_a, snap_b = mem_a.snapshot(), mem_b.snapshot()
    assert {k: v for k, v in snap_a.items() if k != "data"} == {
        k: v for k, v in snap_b.items() if k != "data"
    }
    for name, field in snap_a["data"].items():
        for agent, rows in field.items():
            assert np.array_equal(rows, snap_b["data"][name][agent]), (name, agent)


def tensors(value) -> list[torch.Tensor]:
    """Every tensor (and number, as a tensor) in a nested state, in a fixed order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        return [t for k in sorted(value, key=str) for t in tensors(value[k])]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors(v)]
    return [torch.tensor(value)] if isinstance(value, (int, float)) else []


def assert_resume_ends_as_uninterrupted(root: Path, uninterrupted, interrupted) -> None:
    """The evolve stage on the params ``interrupted``, killed after its first generation and
    rerun, ends exactly where an uninterrupted run on ``uninterrupted`` ends: the same fitness
    history and the same models (weights, optimisers and generator states) of the 2 members."""
    import shutil

    from marlpipe.pipeline import envspec, evolve, init_population

    straight, resumed = root / "straight", root / "resumed"
    envspec.run(uninterrupted, straight)
    init_population.run(uninterrupted, straight)
    shutil.copytree(straight, resumed)
    expected = evolve.run(uninterrupted, straight)

    class Killed(Exception):
        pass

    def kill_after_first(generation: int, _result: object) -> None:
        if generation == 0:
            raise Killed

    try:
        evolve.run(interrupted, resumed, on_generation=kill_after_first)
        raise AssertionError("the evolve stage was not killed")
    except Killed:
        pass
    seen: list[int] = []
    result = evolve.run(interrupted, resumed, on_generation=lambda g, _: seen.append(g))
    assert seen == [1]
    assert result.history == expected.history
    for name in ("elite/elite.pt", "population/member_00.pt", "population/member_01.pt"):
        a = torch.load(straight / "models" / name, weights_only=True)
        b = torch.load(resumed / "models" / name, weights_only=True)
        assert a["state"].keys() == b["state"].keys(), name
        for key in a["state"]:  # weights, optimisers and generator states alike
            pairs = zip(tensors(a["state"][key]), tensors(b["state"][key]), strict=True)
            assert all(torch.equal(x, y) for x, y in pairs), (name, key)
