"""The fast mpe2 path (``marlpipe.envs.mpe_fast``) gives the PettingZoo path's numbers, bytewise.

Every mpe2 task, both action types: 2 seeds x 4 copies x 150 random-action vector steps (1,200
env steps, 6 episodes of 25 steps per copy and seed, so auto-resets happen) per case; 50 vector
steps (400 env steps) for the two slow tasks (world_comm, collect_treasure: many entities, most
of the file's time on the PettingZoo side); and the default task (speaker-listener, continuous)
at the issue's full 10,000 env steps (2 seeds x 4 copies x 1,250 vector steps; every task at that
length with ``MARLPIPE_MPE_FULL=1``, see ``FULL_STEPS``). Each step
compares the observations, rewards, terminations, truncations and infos (masks, ``final_obs``,
``_final_obs``) of the two paths stepped side by side, byte for byte.
"""

from __future__ import annotations

import logging
import os

import mpe2
import numpy as np
import pytest

from marlpipe.config import Params, params_from_dict
from marlpipe.envs import SyncVecEnv, make_vec_env, mpe_fast, random_actions
from marlpipe.envs.mpe_fast import FastMpeVecEnv
from marlpipe.pipeline.resume import RESULT_NEUTRAL
from tests.helpers.builders import flat

TASKS = [
    "simple_v3", "simple_speaker_listener_v4", "simple_spread_v3", "simple_adversary_v3",
    "simple_reference_v3", "simple_push_v3", "simple_crypto_v3", "simple_tag_v3",
    "simple_world_comm_v3", "collect_treasure_v1", "simple_line_v1", "simple_formation_v1",
]  # fmt: skip
SLOW_TASKS = ("simple_world_comm_v3", "collect_treasure_v1")
SPEAKER_LISTENER = "mpe2.simple_speaker_listener_v4"
FULL_STEPS = 1250 if os.environ.get("MARLPIPE_MPE_FULL") == "1" else 0
"""``MARLPIPE_MPE_FULL=1`` runs every task and action type at the full 10,000 env steps (2 seeds
x 4 copies x 1,250 vector steps; minutes, so by hand, not in CI):
``MARLPIPE_MPE_FULL=1 python -m pytest -q tests/envs/test_mpe_fast.py -k pettingzoo_numbers``."""


def assert_same(a, b, where: str) -> None:
    for x, y in zip(flat(a), flat(b), strict=True):
        assert x == y, f"{where}: {x[0]} differs"


def lockstep(name, kwargs, copies, steps, seeds, actions=random_actions, parts=False):
    """Step the fast and the PettingZoo path side by side; compare every result's bytes."""
    fast = make_vec_env(name, copies, seed=seeds[0], **kwargs)
    slow = make_vec_env(name, copies, seed=seeds[0], fast=False, **kwargs)
    assert type(fast) is FastMpeVecEnv and type(slow) is SyncVecEnv
    assert fast._setters is not None  # the actions are decoded in bulk (from 4 copies)
    try:
        for s, seed in enumerate(seeds):  # the first from the constructor, then reset(seed)
            reset_seed = None if s == 0 else seed
            assert_same(fast.reset(reset_seed), slow.reset(reset_seed), f"{name} reset {seed}")
            rng = np.random.default_rng(seed)
            for step in range(steps):
                batch = actions(fast.spec, copies, rng)
                if parts and step % 2:  # two pending steps of disjoint copies
                    half = copies // 2
                    for vec in (fast, slow):
                        vec.step_async({a: x[:half] for a, x in batch.items()}, slice(0, half))
                        vec.step_async({a: x[half:] for a, x in batch.items()}, slice(half, None))
                    pairs = [(fast.step_wait(), slow.step_wait()) for _ in range(2)]
                else:
                    pairs = [(fast.step(batch), slow.step(batch))]
                for got, want in pairs:
                    assert_same(got, want, f"{name} {kwargs} seed {seed} step {step}")
    finally:
        fast.close()
        slow.close()


@pytest.mark.parametrize("continuous", [True, False], ids=["continuous", "discrete"])
@pytest.mark.parametrize("task", TASKS)
def test_fast_path_gives_the_pettingzoo_numbers(task, continuous):
    kwargs = {"continuous_actions": continuous, "max_cycles": 25}
    steps = FULL_STEPS or (50 if task in SLOW_TASKS else 150)
    lockstep(f"mpe2.{task}", kwargs, copies=4, steps=steps, seeds=(0, 1), parts=task == TASKS[1])


def test_default_task_over_10000_env_steps():
    kwargs = {"continuous_actions": True, "max_cycles": 25}
    lockstep(SPEAKER_LISTENER, kwargs, copies=4, steps=1250, seeds=(2, 3))


def test_terminations_and_kwargs_give_the_same_numbers(monkeypatch):
    """mpe2's is_terminal ends episodes early (a rule that fires often under random actions),
    and the task's own kwargs (local_ratio, N, benchmark_data infos) pass through."""
    from mpe2.simple_spread.simple_spread import Scenario

    monkeypatch.setattr(Scenario, "is_terminal", lambda self, w: w.agents[0].state.p_pos[0] > 1)
    kwargs = {"continuous_actions": True, "N": 4, "local_ratio": 0.25, "benchmark_data": True}
    lockstep("mpe2.simple_spread_v3", kwargs, copies=4, steps=150, seeds=(5,))


def test_out_of_bounds_actions_are_clipped_or_refused_alike():
    def wide(spec, n, rng):  # continuous actions in [-0.5, 1.5]: PettingZoo clips them
        return {a: rng.uniform(-0.5, 1.5, (n, *spec.actions[a].shape)) for a in spec.agent_ids}

    lockstep(SPEAKER_LISTENER, {"continuous_actions": True}, copies=2, steps=30, seeds=(0,),
             actions=wide)  # fmt: skip
    for fast in (True, False):
        vec = make_vec_env(SPEAKER_LISTENER, 2, seed=0, fast=fast, continuous_actions=False)
        vec.reset()
        bad = {"speaker_0": np.array([0, 3]), "listener_0": np.array([0, 1])}
        with pytest.raises(AssertionError, match="not in action space"):
            vec.step(bad)
        vec.close()


def test_async_backend_on_the_fast_path_gives_the_sync_numbers():
    kwargs = {"continuous_actions": True}
    sync = make_vec_env(SPEAKER_LISTENER, 4, seed=3, fast=False, **kwargs)
    asyn = make_vec_env(SPEAKER_LISTENER, 4, backend="async", seed=3, **kwargs)
    try:
        assert_same(asyn.reset(), sync.reset(), "reset")
        rng = np.random.default_rng(1)
        for step in range(60):
            batch = random_actions(sync.spec, 4, rng)
            assert_same(asyn.step(batch), sync.step(batch), f"step {step}")
    finally:
        sync.close()
        asyn.close()


def test_env_fast_false_keeps_the_pettingzoo_path():
    assert Params().env.fast is True
    assert params_from_dict({"env": {"fast": False}}).env.fast is False
    assert "fast" in RESULT_NEUTRAL["env"]
    slow = make_vec_env(SPEAKER_LISTENER, 2, seed=0, fast=False)
    fast = make_vec_env(SPEAKER_LISTENER, 2, seed=0)
    other = make_vec_env("marlpipe.envs.toy:match_env", 2, seed=0)  # not mpe2: always PettingZoo
    try:
        assert type(slow) is SyncVecEnv and type(other) is SyncVecEnv
        assert type(fast) is FastMpeVecEnv
    finally:
        for vec in (slow, fast, other):
            vec.close()


def test_an_env_the_fast_path_cannot_drive_steps_through_pettingzoo(caplog):
    """Rendering is PettingZoo's business: the factory builds such copies on its path from the
    start (with its numbers), and FastMpeVecEnv itself refuses them rather than turning into a
    SyncVecEnv while it runs."""
    with caplog.at_level(logging.INFO, logger="marlpipe.envs.env_factory"):
        vec = make_vec_env(SPEAKER_LISTENER, 2, seed=0, render_mode="rgb_array")
    slow = make_vec_env(SPEAKER_LISTENER, 2, seed=0, fast=False)
    try:
        assert type(vec) is SyncVecEnv and "fast path can drive" in caplog.text
        assert_same(vec.reset(), slow.reset(), "reset")
        rng = np.random.default_rng(0)
        for step in range(30):  # past the 25-step episodes: auto-resets included
            batch = random_actions(vec.spec, 2, rng)
            assert_same(vec.step(batch), slow.step(batch), f"step {step}")
        assert type(vec) is SyncVecEnv
    finally:
        vec.close()
        slow.close()
    with pytest.raises(ValueError, match="not an mpe2 env the fast path can drive"):
        FastMpeVecEnv(SPEAKER_LISTENER, 2, seed=0, render_mode="rgb_array")
    # the async workers step what the factory chose (a FastMpeVecEnv would refuse to start)
    asyn = make_vec_env(SPEAKER_LISTENER, 2, backend="async", seed=0, render_mode="rgb_array")
    asyn.close()


def test_an_untested_mpe2_version_falls_back_with_one_warning(monkeypatch, caplog):
    monkeypatch.setattr(mpe2, "__version__", "0.0.1")
    monkeypatch.setattr(mpe_fast, "_warned", set())
    with caplog.at_level(logging.WARNING, logger=mpe_fast.__name__):
        vecs = [make_vec_env(SPEAKER_LISTENER, 2, seed=0) for _ in range(2)]
    for vec in vecs:
        assert type(vec) is SyncVecEnv
        vec.close()
    warnings = [r for r in caplog.records if r.name == mpe_fast.__name__]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "0.0.1" in warnings[0].getMessage() and "\n" not in warnings[0].getMessage()


def test_swapped_mpe2_classes_keep_the_numbers_over_many_resets():
    """The fast path's plain-attribute subclasses (``marlpipe.envs.mpe_speedups``) over many
    short episodes, on world_comm (food and forests appended to ``landmarks`` in make_world,
    agents of two accelerations): the same bytes, and the world's ``entities`` is still its
    agents then landmarks, the same objects, after every reset."""
    from mpe2._mpe_utils.core import Action, AgentState, EntityState, World

    name, kwargs = "mpe2.simple_world_comm_v3", {"continuous_actions": True, "max_cycles": 2}
    lockstep(name, kwargs, copies=4, steps=40, seeds=(7, 8))
    vec = make_vec_env(name, 4, seed=0, **kwargs)
    try:
        vec.reset()
        rng = np.random.default_rng(0)
        for _ in range(3):
            vec.step(random_actions(vec.spec, 4, rng))
            for raw in vec._raws:
                world = raw.world
                assert isinstance(world, World) and type(world) is not World
                entities = world.agents + world.landmarks
                assert len(world.entities) == len(entities) == 6 + 5
                assert all(a is b for a, b in zip(world.entities, entities, strict=True))
                for entity in entities:
                    state = entity.state
                    assert isinstance(state, EntityState) and "_p_pos" not in vars(state)
                    assert state.p_pos is vars(state)["p_pos"]
                    if isinstance(state, AgentState):
                        assert isinstance(entity.action, Action) and entity.action.u is not None
    finally:
        vec.close()


def sum_inputs():
    """Inputs for ``np.sum`` and keyword sets: what mpe2 passes (float64 2-vectors, signed zeros,
    non-finite values) and what it never does, which must reach ``np.sum`` itself."""
    rng = np.random.default_rng(0)
    vectors = [rng.normal(size=2) * 10.0 ** rng.integers(-8, 8) for _ in range(200)]
    vectors += [np.array(v) for v in ([-0.0, -0.0], [0.0, -0.0], [np.inf, -np.inf], [np.nan, 1.0])]
    other = [
        rng.normal(size=(3, 4)), rng.normal(size=7).astype(np.float32), np.arange(5, dtype=np.int8),
        np.float64(2.5), np.array(3.0), [1.5, 2.5], 4.0, np.array([True, False, True]),
        np.ma.masked_array([1.0, 2.0], mask=[True, False]), np.empty(0),
    ]  # fmt: skip
    keywords = [{}, {"axis": 0}, {"axis": -1}, {"keepdims": True}, {"dtype": np.float32},
                {"initial": 1.0}, {"where": True}]  # fmt: skip
    return [(v, {}) for v in vectors] + [(v, k) for v in other for k in keywords]


def test_exact_sum_is_numpys_sum_bit_for_bit():
    from marlpipe.envs.mpe_numpy import NUMPY_FOR_MPE2, exact_sum

    for value, keywords in sum_inputs():
        try:
            with np.errstate(invalid="ignore"):  # inf - inf
                want = np.sum(value, **keywords)
        except Exception as error:  # e.g. axis=-1 of a 0-d value: the same error
            with pytest.raises(type(error)):
                exact_sum(value, **keywords)
            continue
        with np.errstate(invalid="ignore"):
            got = exact_sum(value, **keywords)
        assert type(got) is type(want), (value, keywords)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        assert np.asarray(got).tobytes() == np.asarray(want).tobytes(), (value, keywords)
    out = np.zeros(4)
    assert exact_sum(np.ones((3, 4)), 0, None, out) is out and out.tolist() == [3.0] * 4
    # every other numpy name is numpy's own object
    assert NUMPY_FOR_MPE2.sum is exact_sum
    assert all(getattr(NUMPY_FOR_MPE2, k) is v for k, v in vars(np).items() if k != "sum")
    with pytest.raises(AttributeError, match="float"):  # numpy's removed aliases, numpy's error
        NUMPY_FOR_MPE2.float  # noqa: B018


def test_mpe2_sees_the_exact_sum_only_inside_the_fast_paths_calls(monkeypatch):
    """Within a fast step or reset mpe2's modules call :func:`exact_sum`; before and after (and
    on the PettingZoo path) their ``np`` is numpy, also when mpe2 raises inside the step."""
    import mpe2._mpe_utils.core as core
    from mpe2.simple_spread.simple_spread import Scenario

    from marlpipe.envs.mpe_numpy import NUMPY_FOR_MPE2, exact_sum

    seen = []
    observation = Scenario.observation

    def recording(self, agent, world):
        seen.append(core.np.sum)
        return observation(self, agent, world)

    monkeypatch.setattr(Scenario, "observation", recording)
    kwargs = {"continuous_actions": True, "max_cycles": 25}
    fast = make_vec_env("mpe2.simple_spread_v3", 2, seed=0, **kwargs)
    slow = make_vec_env("mpe2.simple_spread_v3", 2, seed=0, fast=False, **kwargs)
    try:
        for vec in (fast, slow):
            seen.clear()
            vec.reset(seed=1)
            vec.step(random_actions(vec.spec, 2, np.random.default_rng(0)))
            expected = exact_sum if vec is fast else np.sum
            assert seen and all(s is expected for s in seen)
            assert core.np is np
        monkeypatch.setattr(Scenario, "is_terminal", lambda self, world: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            fast.step(random_actions(fast.spec, 2, np.random.default_rng(0)))
        assert core.np is np and NUMPY_FOR_MPE2 is not np
    finally:
        fast.close()
        slow.close()


@pytest.mark.parametrize("continuous", [True, False], ids=["continuous", "discrete"])
@pytest.mark.parametrize("task", ["simple_speaker_listener_v4", "simple_adversary_v3"])
def test_the_evaluation_env_takes_the_fast_path_with_the_pettingzoo_returns(task, continuous):
    """Fitness and the evaluate stage play one copy, episode after episode: on the fast path
    (not PettingZoo's wrappers) with the same float64 returns, episode for episode."""
    from marlpipe.algos.episodes import run_episodes
    from marlpipe.envs import EnvFactory
    from marlpipe.evolution import create_population

    kwargs = {"continuous_actions": continuous}
    fast = EnvFactory(f"mpe2.{task}", kwargs).eval_env(6)
    slow = EnvFactory(f"mpe2.{task}", kwargs, fast=False).eval_env(6)
    try:
        assert type(fast) is FastMpeVecEnv and type(slow) is SyncVecEnv
        (agent,) = create_population("MATD3", fast.spec, {"hidden_sizes": [16]}, {}, 1, seed=4)
        got, want = (run_episodes(agent, env, 6, 25, seed=9) for env in (fast, slow))
        assert got.dtype == want.dtype == np.float64
        assert got.tobytes() == want.tobytes()
        assert len(np.unique(got[:, 0])) == 6  # six different episodes, not one six times
    finally:
        fast.close()
        slow.close()
