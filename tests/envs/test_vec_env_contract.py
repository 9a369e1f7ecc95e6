"""One contract, every vector-env backend (as Stable-Baselines3 runs its vec-env tests over its
classes): the same cases for the PettingZoo path, the fast mpe2 path, the async backend (its
workers on the fast path) and VMAS, all built by the one env factory. The contract is
:mod:`marlpipe.envs.protocols`'s module doc."""

from __future__ import annotations

import copy
import pickle
from dataclasses import replace

import numpy as np
import pytest

from marlpipe.envs import (
    AsyncVecEnv,
    EnvFactory,
    FastMpeVecEnv,
    SyncVecEnv,
    VecEnv,
    random_actions,
)
from tests.helpers.builders import flat

SL = "mpe2.simple_speaker_listener_v4"
EPISODE = 3
"""Steps per episode in every case (mpe2's ``max_cycles``, VMAS's ``max_steps``): short, so the
cases reach auto-resets."""
MPE = {"continuous_actions": True, "max_cycles": EPISODE}
BACKENDS = {
    "sync": (EnvFactory(SL, MPE, fast=False), SyncVecEnv),
    "fast": (EnvFactory(SL, MPE), FastMpeVecEnv),
    "async": (EnvFactory(SL, MPE, backend="async", num_workers=2), AsyncVecEnv),
    "vmas": (
        EnvFactory("vmas.simple_speaker_listener", {"continuous_actions": True,
                                                    "max_steps": EPISODE}),
        "VmasVecEnv",
    ),  # fmt: skip
}


@pytest.fixture(params=list(BACKENDS))
def backend(request):
    """A builder of ``(num_envs, seed)`` copies on one backend, closing what it built."""
    factory, cls = BACKENDS[request.param]
    if request.param == "vmas":
        pytest.importorskip("vmas")
        from marlpipe.envs.vmas_env import VmasVecEnv

        cls = VmasVecEnv
    built = []

    def make(num_envs: int = 3, seed: int | None = 0) -> VecEnv:
        env = replace(factory, num_envs=num_envs, seed=seed).vec_env()
        assert type(env) is cls  # the factory's choice, made once
        built.append(env)
        return env

    yield make
    for env in built:
        env.close()


def trace(env: VecEnv, steps: int, seed: int = 1) -> list:
    """Everything ``steps`` random vector steps give back, after the env's first reset."""
    rng = np.random.default_rng(seed)
    out = [flat(env.reset())]
    for _ in range(steps):
        out.append(flat(env.step(random_actions(env.spec, env.num_envs, rng))))
    return out


def test_is_a_vec_env_made_by_its_factory(backend):
    env = backend(3)
    assert isinstance(env, VecEnv) and env.num_envs == 3
    assert tuple(env.agent_ids) == tuple(env.spec.agent_ids) == ("speaker_0", "listener_0")
    assert env.factory is not None and env.factory.num_envs == 3
    assert env.reward_dtype == np.float32


def test_reset_and_step_shapes_dtypes_and_info_keys(backend):
    env = backend(3)
    obs, infos = env.reset()
    assert infos == {}  # masking keys only, and speaker-listener reports none
    for agent in env.agent_ids:
        assert obs[agent].shape == (3, *env.spec.observations[agent].shape)
        assert obs[agent].dtype == np.float32
    actions = random_actions(env.spec, 3, np.random.default_rng(0))
    obs, rewards, terms, truncs, infos = env.step(actions)
    assert set(infos) == {"final_obs", "_final_obs"}
    assert infos["_final_obs"].dtype == bool and infos["_final_obs"].shape == (3,)
    for agent in env.agent_ids:
        shape = (3, *env.spec.observations[agent].shape)
        assert obs[agent].shape == infos["final_obs"][agent].shape == shape
        assert obs[agent].dtype == infos["final_obs"][agent].dtype == np.float32
        assert rewards[agent].shape == (3,) and rewards[agent].dtype == env.reward_dtype
        assert terms[agent].dtype == truncs[agent].dtype == bool
        assert terms[agent].shape == truncs[agent].shape == (3,)


def test_auto_reset_keeps_the_true_final_observation(backend):
    env = backend(2)
    obs, _ = env.reset()
    rng = np.random.default_rng(0)
    for step in range(2 * EPISODE):
        last = step % EPISODE == EPISODE - 1
        obs, _, terms, truncs, infos = env.step(random_actions(env.spec, 2, rng))
        assert infos["_final_obs"].tolist() == [last, last]
        assert all((truncs[a] == last).all() and not terms[a].any() for a in env.agent_ids)
        same = all(np.array_equal(obs[a], infos["final_obs"][a]) for a in env.agent_ids)
        assert same is not last  # at the end: the reset observation, and the final one apart


def test_same_seed_same_numbers(backend):
    first, second = backend(2, seed=3), backend(2, seed=3)
    assert trace(first, 2 * EPISODE) == trace(second, 2 * EPISODE)
    assert trace(backend(2, seed=4), 2) != trace(backend(2, seed=3), 2)
    # reset(seed) starts over; reset(seed, seeds=...) gives each copy its own seed
    once = flat(first.reset(seed=7))
    assert flat(first.reset(seed=7)) == once
    one = first.reset(seed=0, seeds=[11, 12])[0]
    swapped = second.reset(seed=0, seeds=[12, 11])[0]
    for agent in first.agent_ids:
        np.testing.assert_array_equal(one[agent], swapped[agent][::-1])


def test_parts_of_the_copies_step_like_all_of_them(backend):
    whole, parts = backend(3, seed=5), backend(3, seed=5)
    whole.reset(), parts.reset()
    rng = np.random.default_rng(2)
    for _ in range(EPISODE + 1):
        actions = random_actions(whole.spec, 3, rng)
        full = whole.step(actions)
        parts.step_async({a: v[2:] for a, v in actions.items()}, slice(2, 3))
        parts.step_async({a: v[:2] for a, v in actions.items()}, slice(0, 2))
        late, early = parts.step_wait(), parts.step_wait()
        for got, want in ((early, full), (late, full)):
            rows = slice(0, 2) if got is early else slice(2, 3)
            assert flat(got) == flat(_rows(want, rows))


def _rows(value, rows):
    if isinstance(value, dict):
        return {k: _rows(v, rows) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_rows(v, rows) for v in value)
    return value[rows]


def test_pending_steps_are_checked(backend):
    env = backend(2)
    env.reset()
    with pytest.raises(RuntimeError, match="without a pending step_async"):
        env.step_wait()
    actions = random_actions(env.spec, 2, np.random.default_rng(0))
    env.step_async(actions)
    with pytest.raises(RuntimeError, match="reset\\(\\) called while steps are pending"):
        env.reset()
    env.step_wait()


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_a_copy_steps_exactly_as_the_original(backend, how):
    """Pickled or deep-copied mid-episode, the copy is in the same state: the same actions give
    the same bytes, past an auto-reset (the copies' random streams were copied too)."""
    env = backend(2, seed=9)
    rng = np.random.default_rng(3)
    env.reset()
    env.step(random_actions(env.spec, 2, rng))
    twin = pickle.loads(pickle.dumps(env)) if how == "pickle" else copy.deepcopy(env)
    try:
        assert type(twin) is type(env) and twin.factory == env.factory
        for _ in range(2 * EPISODE):
            actions = random_actions(env.spec, 2, rng)
            assert flat(twin.step(actions)) == flat(env.step(actions))
        assert flat(twin.reset(seed=1)) == flat(env.reset(seed=1))
    finally:
        twin.close()


def test_close_twice(backend):
    env = backend(2)
    env.reset()
    env.close()
    env.close()


def test_the_evaluation_env_keeps_the_contract_with_float64_rewards(backend):
    """The factory's evaluation env: one copy (VMAS: one per episode), rewards as float64."""
    factory = backend(1).factory
    env = factory.eval_env(2)
    try:
        assert isinstance(env, VecEnv) and env.num_envs == (2 if factory.family == "vmas" else 1)
        env.reset(seed=0)
        _, rewards, *_ = env.step(random_actions(env.spec, env.num_envs, np.random.default_rng(0)))
        assert all(rewards[a].dtype == np.float64 for a in env.agent_ids)
    finally:
        env.close()
