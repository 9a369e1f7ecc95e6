"""Environment names, EnvSpec extraction and the vectorised envs' auto-reset contract."""

import numpy as np
import pytest
from gymnasium import spaces

from marlpipe.envs import (
    AsyncVecEnv,
    EnvFactory,
    EnvNameError,
    EnvSpec,
    SyncVecEnv,
    UnsupportedSpaceError,
    make_env,
    make_vec_env,
    random_actions,
)
from marlpipe.envs.batching import batch_masks
from marlpipe.seeding import spawn_seeds

SPEAKER_LISTENER = "mpe2.simple_speaker_listener_v4"
VMAS_SPEAKER_LISTENER = "vmas.simple_speaker_listener"
TOY = "marlpipe.envs.toy:match_env"


def spec_of(name, channels_last=False, **kwargs):
    return EnvSpec.from_env(make_env(name, **kwargs), channels_last, name, kwargs)


def test_speaker_listener_continuous_spec():
    spec = spec_of(SPEAKER_LISTENER, continuous_actions=True)
    assert spec.agent_ids == ("speaker_0", "listener_0")
    assert spec.observations["speaker_0"].input_shape == (3,)
    assert spec.observations["listener_0"].input_shape == (11,)
    speaker = spec.actions["speaker_0"]
    assert speaker.kind == "continuous" and speaker.shape == (3,)
    assert speaker.low == (0.0, 0.0, 0.0) and speaker.high == (1.0, 1.0, 1.0)
    assert spec.actions["listener_0"].dim == 5
    assert spec.critic_input_dim == 3 + 11 + 3 + 5
    assert not spec.discrete_actions


def test_speaker_listener_discrete_spec():
    spec = spec_of(SPEAKER_LISTENER, continuous_actions=False)
    assert spec.discrete_actions
    assert spec.actions["speaker_0"].n == 3 and spec.actions["listener_0"].n == 5
    assert spec.actions["listener_0"].dim == 5


def test_simple_spread_spec():
    spec = spec_of("mpe2.simple_spread_v3", N=3)
    assert spec.agent_ids == ("agent_0", "agent_1", "agent_2")
    assert all(spec.observations[a].input_shape == (18,) for a in spec.agent_ids)
    assert all(spec.actions[a].n == 5 for a in spec.agent_ids)


def test_discrete_observation_is_one_hot_sized():
    spec = spec_of(TOY, observation="discrete", n_symbols=4)
    obs = spec.observations["alpha_0"]
    assert obs.kind == "discrete" and obs.n == 4 and obs.shape == ()
    assert obs.input_shape == (4,)


@pytest.mark.parametrize("channels_last, expected", [(True, (4, 6, 5)), (False, (6, 5, 4))])
def test_image_observation_channels(channels_last, expected):
    spec = spec_of(TOY, channels_last=channels_last, observation="image", n_symbols=4)
    obs = spec.observations["beta_0"]
    assert obs.kind == "image" and obs.shape == (6, 5, 4)
    assert obs.input_shape == expected
    assert obs.flat_dim == 120


@pytest.mark.parametrize(
    "name, kwargs",
    [
        (SPEAKER_LISTENER, {"continuous_actions": True}),
        (TOY, {"observation": "image"}),
        (TOY, {"observation": "discrete", "continuous_actions": True}),
    ],
)
def test_spec_json_round_trip(name, kwargs):
    spec = spec_of(name, channels_last=True, **kwargs)
    again = EnvSpec.from_json(spec.to_json())
    assert again == spec
    assert again.env_name == name and again.env_kwargs == kwargs


class SpacesEnv:
    """Just what ``EnvSpec.from_env`` reads from a parallel env: agents and their spaces."""

    possible_agents = ["alpha_0"]

    def __init__(self, observation: spaces.Space):
        self._observation = observation

    def observation_space(self, agent):
        return self._observation

    def action_space(self, agent):
        return spaces.Discrete(2)


def test_unsupported_space_names_agent_and_space():
    with pytest.raises(UnsupportedSpaceError, match=r"agent 'alpha_0'.*Dict"):
        spec_of(TOY, observation="dict")


@pytest.mark.parametrize(
    "space, shown",
    [
        (spaces.Dict({"target": spaces.Discrete(3)}), "Dict"),
        (spaces.Tuple((spaces.Discrete(3), spaces.Discrete(2))), "Tuple"),
        (spaces.MultiDiscrete([3, 2]), "MultiDiscrete"),
        (spaces.Discrete(3, start=1), r"Discrete\(3, start=1\).*start at 0"),
    ],
)
def test_unsupported_observation_space_is_rejected(space, shown):
    with pytest.raises(UnsupportedSpaceError, match=rf"agent 'alpha_0'.*observation.*{shown}"):
        EnvSpec.from_env(SpacesEnv(space))


def test_env_kwargs_become_json_native_and_round_trip():
    kwargs = {"sizes": (2, (3, 4)), "scale": np.float32(0.5), "nested": {"ids": (1,)}}
    spec = EnvSpec.from_env(make_env(TOY), env_name=TOY, env_kwargs=kwargs)
    assert spec.env_kwargs == {"sizes": [2, [3, 4]], "scale": 0.5, "nested": {"ids": [1]}}
    assert type(spec.env_kwargs["scale"]) is float
    assert EnvSpec.from_json(spec.to_json()) == spec


@pytest.mark.parametrize(
    "name", ["no_such_package.env_v0", "mpe2.no_such_env_v9", "mpe2:missing_factory", ""]
)
def test_unknown_env_name_is_one_clear_line(name):
    with pytest.raises(EnvNameError) as err:
        make_env(name)
    message = str(err.value)
    assert "\n" not in message
    assert "package.module" in message and repr(name) in message


@pytest.mark.parametrize(
    "source, reason",
    [
        ("raise RuntimeError('bad config\\nsecond line')", "RuntimeError: bad config second line"),
        ("import marlpipe_no_such_dependency", "No module named 'marlpipe_no_such_dependency'"),
    ],
)
def test_env_module_that_fails_to_import_is_one_clear_line(tmp_path, monkeypatch, source, reason):
    module = f"marlpipe_broken_env_{len(source)}"
    (tmp_path / f"{module}.py").write_text(source + "\n")
    monkeypatch.syspath_prepend(tmp_path)
    with pytest.raises(EnvNameError) as err:
        make_env(f"{module}:factory")
    message = str(err.value)
    assert "\n" not in message and "unknown environment" not in message
    assert f"{module!r} exists but failed to import" in message and reason in message


@pytest.mark.parametrize("backend", ["sync", "async"])
def test_aec_factory_is_converted_to_a_parallel_env(backend):
    """A factory returning an AEC env ("module:env") steps exactly like the module's
    parallel_env(): PettingZoo's aec_to_parallel converts it when it is built."""
    aec, parallel = "mpe2.simple_spread_v3:env", "mpe2.simple_spread_v3"
    assert EnvSpec.from_env(make_env(aec), False, "x", {}) == EnvSpec.from_env(
        make_env(parallel), False, "x", {}
    )
    envs = [make_vec_env(name, 2, backend=backend, seed=3) for name in (aec, parallel)]
    try:
        first = [env.reset(seed=3)[0] for env in envs]
        actions = random_actions(envs[1].spec, 2, np.random.default_rng(0))
        after = [env.step(actions) for env in envs]
        for a, b in ((first[0], first[1]), (after[0][0], after[1][0]), (after[0][1], after[1][1])):
            assert all(np.array_equal(a[k], b[k]) for k in b)
    finally:
        for env in envs:
            env.close()


def test_spawned_seeds_derive_from_one_seed():
    seeds = spawn_seeds(7, 4)
    assert seeds == spawn_seeds(7, 4)
    assert len(set(seeds)) == 4
    assert seeds != spawn_seeds(8, 4)


@pytest.mark.parametrize("backend", ["sync", "async"])
def test_final_observation_matches_single_env_at_truncation(backend):
    num_envs, seed = 3, 11
    vec = make_vec_env(
        SPEAKER_LISTENER, num_envs, backend=backend, seed=seed, continuous_actions=True
    )
    try:
        obs, _ = vec.reset()
        rng = np.random.default_rng(0)
        actions_log = []
        for step in range(25):
            actions = random_actions(vec.spec, num_envs, rng)
            actions_log.append(actions)
            obs, rewards, terms, truncs, infos = vec.step(actions)
            # no copy finishes before the truncation step, and every copy finishes there
            assert infos["_final_obs"].tolist() == [step == 24] * num_envs
        # MPE episodes end by truncation, never by termination.
        assert all(truncs[a].all() and not terms[a].any() for a in vec.agent_ids)
        final_obs = infos["final_obs"]
        reset_obs = obs
    finally:
        vec.close()

    for i, copy_seed in enumerate(spawn_seeds(seed, num_envs)):
        env = make_env(SPEAKER_LISTENER, continuous_actions=True)
        single_obs, _ = env.reset(seed=copy_seed)
        for actions in actions_log:
            single_obs, _, _, single_truncs, _ = env.step({a: actions[a][i] for a in env.agents})
        assert all(single_truncs.values())
        for agent in vec.agent_ids:
            np.testing.assert_array_equal(final_obs[agent][i], single_obs[agent])
        # the returned observation is the reset one (the listener's position changes)
        assert not np.array_equal(reset_obs["listener_0"][i], single_obs["listener_0"])


@pytest.mark.parametrize("backend", ["sync", "async"])
def test_termination_stays_separate_from_truncation(backend):
    num_envs, seed, kwargs = 3, 5, {"terminate_at": 3, "max_cycles": 10}
    vec = make_vec_env(TOY, num_envs, backend=backend, seed=seed, **kwargs)
    try:
        vec.reset()
        actions = {a: np.zeros(num_envs, np.int64) for a in vec.agent_ids}
        for step in range(3):
            obs, _, terms, truncs, infos = vec.step(actions)
            assert infos["_final_obs"].tolist() == [step == 2] * num_envs
            assert all(terms[a].tolist() == [step == 2] * num_envs for a in vec.agent_ids)
            assert not any(truncs[a].any() for a in vec.agent_ids)
    finally:
        vec.close()
    for i, copy_seed in enumerate(spawn_seeds(seed, num_envs)):
        env = make_env(TOY, **kwargs)
        env.reset(seed=copy_seed)
        for _ in range(3):
            single_obs, _, single_terms, single_truncs, _ = env.step({a: 0 for a in env.agents})
        assert all(single_terms.values()) and not any(single_truncs.values())
        reset_obs, _ = env.reset()
        for agent in vec.agent_ids:
            assert infos["final_obs"][agent][i] == single_obs[agent]
            assert obs[agent][i] == reset_obs[agent]


@pytest.mark.parametrize("backend", ["sync", "async"])
def test_step_wait_without_step_async_raises(backend):
    vec = make_vec_env(TOY, 2, backend=backend, seed=0)
    try:
        vec.reset()
        with pytest.raises(RuntimeError, match="without a pending step_async"):
            vec.step_wait()
    finally:
        vec.close()


def test_sync_and_async_give_identical_batches():
    results = []
    for backend in ("sync", "async"):
        vec = make_vec_env(SPEAKER_LISTENER, 4, backend=backend, seed=3, continuous_actions=True)
        try:
            obs, _ = vec.reset()
            rng = np.random.default_rng(1)
            trace = [obs]
            for _ in range(30):
                obs, rewards, *_ = vec.step(random_actions(vec.spec, 4, rng))
                trace += [obs, rewards]
        finally:
            vec.close()
        results.append(trace)
    for a, b in zip(*results, strict=True):
        for agent in a:
            np.testing.assert_array_equal(a[agent], b[agent])


@pytest.mark.parametrize("backend", ["sync", "async", "vmas"])
def test_parts_of_the_copies_step_like_all_of_them(backend):
    """Two pending steps of disjoint copies come back in order and equal one full step (VMAS:
    the second step_async completes the batch, which the first step_wait steps at once)."""
    results = []
    for split in (False, True):
        vec = _vec(backend, 5, seed=3, continuous_actions=True)
        try:
            rng = np.random.default_rng(1)
            vec.reset()
            trace = []
            for _ in range(30):  # past the end of the first episodes (25 steps)
                actions = random_actions(vec.spec, 5, rng)
                if not split:
                    trace.append(vec.step(actions))
                    continue
                vec.step_async({a: v[3:] for a, v in actions.items()}, slice(3, 5))
                vec.step_async({a: v[:3] for a, v in actions.items()}, slice(0, 3))
                late, early = vec.step_wait(), vec.step_wait()
                assert late[1]["speaker_0"].shape == (2,) and early[1]["speaker_0"].shape == (3,)
                trace.append(tuple(_join(a, b) for a, b in zip(early, late, strict=True)))
        finally:
            vec.close()
        results.append(trace)
    for full, parts in zip(*results, strict=True):
        for got, expected in zip(parts, full, strict=True):
            _assert_same(got, expected)


def _vec(kind, num_envs, seed, **kwargs):
    """``num_envs`` speaker-listener copies: mpe2 on the ``sync``/``async`` backend, or VMAS."""
    if kind == "vmas":
        pytest.importorskip("vmas")
        return make_vec_env(VMAS_SPEAKER_LISTENER, num_envs, seed=seed, **kwargs)
    return make_vec_env(SPEAKER_LISTENER, num_envs, backend=kind, seed=seed, **kwargs)


def _join(first, second):
    if isinstance(first, dict):
        return {k: _join(first[k], second[k]) for k in first}
    return np.concatenate([first, second])


def _assert_same(got, expected):
    if isinstance(expected, dict):
        assert got.keys() == expected.keys()
        for key in expected:
            _assert_same(got[key], expected[key])
    else:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("backend", ["sync", "async"])
def test_overlapping_pending_steps_and_reset_while_pending_are_refused(backend):
    vec = make_vec_env(TOY, 4, backend=backend, seed=0)
    try:
        vec.reset()
        actions = {a: np.zeros(2, np.int64) for a in vec.agent_ids}
        vec.step_async(actions, slice(0, 2))
        with pytest.raises(RuntimeError, match="copies 1:3 are still stepping"):
            vec.step_async(actions, slice(1, 3))
        with pytest.raises(RuntimeError, match="reset.* while steps are pending"):
            vec.reset()
        with pytest.raises(ValueError, match="non-empty slice of the 4 copies"):
            vec.step_async(actions, slice(2, 2))
        vec.step_async(actions, slice(2, 4))
        assert vec.step_wait()[1]["alpha_0"].shape == (2,)
        assert vec.step_wait()[1]["alpha_0"].shape == (2,)
        vec.reset()
    finally:
        vec.close()


def test_batched_shapes_and_dtypes():
    vec = make_vec_env(TOY, 5, seed=0, observation="discrete")
    obs, _ = vec.reset()
    assert obs["alpha_0"].shape == (5,) and obs["alpha_0"].dtype == np.int64
    obs, rewards, terms, truncs, infos = vec.step(
        random_actions(vec.spec, 5, np.random.default_rng(0))
    )
    assert rewards["beta_0"].shape == (5,) and rewards["beta_0"].dtype == np.float32
    assert terms["beta_0"].dtype == bool and truncs["beta_0"].shape == (5,)
    assert "agent_mask" not in infos
    vec.close()


@pytest.mark.parametrize("backend", ["sync", "async"])
def test_agent_masking_is_batched(backend):
    vec = make_vec_env(TOY, 2, backend=backend, seed=0, masked=True)
    try:
        _, infos = vec.reset()
        assert infos["agent_mask"]["beta_0"].tolist() == [True, True]
        actions = {a: np.ones(2, dtype=np.int64) for a in vec.agent_ids}
        _, _, _, _, infos = vec.step(actions)
        assert infos["agent_mask"]["alpha_0"].tolist() == [True, True]
        assert infos["agent_mask"]["beta_0"].tolist() == [False, False]
        assert infos["env_defined_actions"]["beta_0"].tolist() == [0, 0]
    finally:
        vec.close()


@pytest.mark.parametrize("seed, masked", [(1, [True, False]), (6, [False, True])])
def test_async_masks_when_only_some_copies_report_them(seed, masked):
    # one copy per worker, so one worker's copies report masking and the other's report none
    vec = AsyncVecEnv(TOY, 2, seed=seed, num_workers=2, masked_chance=0.5)
    try:
        _, infos = vec.reset()
        assert infos["agent_mask"]["beta_0"].tolist() == [True, True]
        _, _, _, _, infos = vec.step({a: np.ones(2, np.int64) for a in vec.agent_ids})
    finally:
        vec.close()
    # step 1 of a masked episode: beta_0 does not act and its env-defined action is 0
    assert infos["agent_mask"]["alpha_0"].tolist() == [True, True]
    assert infos["agent_mask"]["beta_0"].tolist() == [not m for m in masked]
    assert infos["env_defined_actions"]["beta_0"].tolist() == [0 if m else -1 for m in masked]
    assert infos["env_defined_actions"]["alpha_0"].tolist() == [-1, -1]


def test_env_defined_actions_without_agent_mask_are_kept():
    spec = spec_of(TOY, continuous_actions=True, n_symbols=3)
    infos = batch_masks(spec, [{"env_defined_actions": {"beta_0": [0.0, 1.0, 0.5]}}, {}])
    assert infos["agent_mask"]["beta_0"].tolist() == [True, True]
    defined = infos["env_defined_actions"]
    np.testing.assert_array_equal(defined["beta_0"][0], [0.0, 1.0, 0.5])
    assert np.isnan(defined["beta_0"][1]).all() and np.isnan(defined["alpha_0"]).all()


def test_discrete_env_defined_actions_as_index_or_one_hot():
    spec = spec_of(TOY, n_symbols=5)
    raw = [
        {"beta_0": {"agent_mask": False, "env_defined_actions": np.array([0, 0, 0, 1, 0])}},
        {"agent_mask": {"beta_0": False}, "env_defined_actions": {"beta_0": 2}},
        {"agent_mask": {"beta_0": False}, "env_defined_actions": {"beta_0": np.array([4])}},
        {},
    ]
    infos = batch_masks(spec, raw)
    assert infos["agent_mask"]["beta_0"].tolist() == [False, False, False, True]
    assert infos["env_defined_actions"]["beta_0"].tolist() == [3, 2, 4, -1]
    with pytest.raises(ValueError, match="agent 'beta_0'.*one-hot vector of length 5"):
        batch_masks(spec, [{"env_defined_actions": {"beta_0": [0, 1]}}])


def test_masked_agent_without_env_defined_action_is_refused():
    spec = spec_of(TOY, n_symbols=5)
    with pytest.raises(ValueError, match="agent 'beta_0' is masked out .* env copy 1"):
        batch_masks(spec, [{}, {"agent_mask": {"beta_0": False}}])


@pytest.mark.parametrize("cores, workers, expected_workers, poll", [
    (2, None, 1, True),  # default: a core for this process, the other for one worker
    (8, None, 4, True),  # at most one worker per copy
    (1, None, 1, False),  # one core: the worker and this process must not poll against each other
    (2, 2, 2, False),  # more processes than cores: block at once
])  # fmt: skip
def test_async_workers_and_polling_follow_the_cores(
    monkeypatch, cores, workers, expected_workers, poll
):
    monkeypatch.setattr("marlpipe.envs.async_vector.os.cpu_count", lambda: cores)
    vec = AsyncVecEnv(TOY, 4, seed=0, num_workers=workers)
    try:
        assert (len(vec._procs), vec._poll) == (expected_workers, poll)
        _, rewards, *_ = vec.step({a: np.zeros(4, np.int64) for a in vec.agent_ids})
        assert rewards["alpha_0"].shape == (4,)
    finally:
        vec.close()


def test_async_close_leaves_no_worker():
    vec = make_vec_env(SPEAKER_LISTENER, 4, backend="async", seed=0)
    procs = list(vec._procs)
    assert all(p.is_alive() for p in procs)
    vec.close()
    assert not any(p.is_alive() for p in procs)


def test_async_worker_error_is_reported():
    vec = make_vec_env(TOY, 2, backend="async", seed=0, fail_at=2)
    vec.reset()
    actions = {a: np.zeros(2, dtype=np.int64) for a in vec.agent_ids}
    vec.step(actions)
    with pytest.raises(RuntimeError, match="(?s)environment worker failed.*failing at step 2"):
        vec.step(actions)
    assert not vec._procs  # closed: no worker left behind
    vec.close()


@pytest.mark.parametrize(
    "actions, message",
    [
        ({"alpha_0": np.zeros(2, np.int64)}, "no entry for agent 'beta_0'"),
        ({"alpha_0": np.zeros(2, np.int64), "beta_0": np.zeros(3, np.int64)},
         r"actions\['beta_0'\]: expected shape \(2,\) .*got \(3,\)"),
    ],
)  # fmt: skip
def test_async_bad_actions_are_named_and_the_env_still_steps(actions, message):
    vec = make_vec_env(TOY, 2, backend="async", seed=0)
    try:
        vec.reset()
        with pytest.raises(ValueError, match=message):
            vec.step(actions)
        _, rewards, *_ = vec.step({a: np.zeros(2, np.int64) for a in vec.agent_ids})
        assert rewards["beta_0"].shape == (2,)
    finally:
        vec.close()


def test_async_worker_killed_is_reported():
    vec = make_vec_env(TOY, 2, backend="async", seed=0, num_workers=1)
    vec.reset()
    vec._procs[0].kill()
    vec._procs[0].join()
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        vec.step({a: np.zeros(2, dtype=np.int64) for a in vec.agent_ids})
    vec.close()


def test_async_copies_images_and_discrete_observations_exactly():
    for observation in ("image", "discrete"):
        batches = []
        for backend in ("sync", "async"):
            vec = make_vec_env(TOY, 3, backend=backend, seed=4, observation=observation)
            try:
                obs, _ = vec.reset()
                nxt, *_ = vec.step({a: np.ones(3, np.int64) for a in vec.agent_ids})
            finally:
                vec.close()
            batches.append((obs, nxt))
        for sync_obs, async_obs in zip(*batches, strict=True):
            for agent, value in sync_obs.items():
                assert async_obs[agent].dtype == value.dtype
                np.testing.assert_array_equal(async_obs[agent], value)


def test_env_kwargs_the_factory_refuses_are_one_clear_line():
    with pytest.raises(EnvNameError, match=r"refused its keyword arguments \{'bogus': 1\}"):
        make_env(SPEAKER_LISTENER, bogus=1)


def test_async_from_a_script_without_main_guard_says_how_to_fix_it(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "from marlpipe.envs import make_vec_env\n"
        f"env = make_vec_env({SPEAKER_LISTENER!r}, 2, backend='async', seed=0)\n"
        "env.close()\n"
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "exited unexpectedly while starting" in last and str(script) in last
    assert 'if __name__ == "__main__":' in last and 'backend="sync"' in last


# -- the same contract on VMAS (one batched simulator) and on mpe2 ---------------------------


@pytest.mark.parametrize("kind", ["sync", "vmas"])
def test_same_seed_same_batches_and_global_rngs_untouched(kind):
    import random

    import torch

    def trace(seed):
        vec = _vec(kind, 3, seed=seed, continuous_actions=True)
        try:
            rng = np.random.default_rng(1)
            obs, _ = vec.reset()
            out = [obs]
            for _ in range(30):  # past the auto-reset at 25 steps
                obs, rewards, terms, truncs, infos = vec.step(random_actions(vec.spec, 3, rng))
                out += [obs, rewards, terms, truncs, infos["final_obs"]]
            return out
        finally:
            vec.close()

    torch.manual_seed(0)
    before = (torch.random.get_rng_state(), np.random.get_state()[1].copy(), random.getstate())
    first, again, other = trace(4), trace(4), trace(5)
    after = (torch.random.get_rng_state(), np.random.get_state()[1], random.getstate())
    for a, b in zip(first, again, strict=True):
        _assert_same(a, b)
    assert not np.array_equal(first[0]["listener_0"], other[0]["listener_0"])
    assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1])
    assert before[2] == after[2]


def test_vmas_final_observation_is_the_true_one_at_truncation():
    pytest.importorskip("vmas")
    import torch
    import vmas

    from marlpipe.envs.vmas_env import _stream_seed

    num_envs, seed = 3, 11
    vec = make_vec_env(VMAS_SPEAKER_LISTENER, num_envs, seed=seed)
    raw = vmas.make_env(
        "simple_speaker_listener", num_envs=num_envs, seed=_stream_seed(seed), dict_spaces=True
    )
    assert vec.max_steps == 25
    vec.reset()
    rng = np.random.default_rng(0)
    for step in range(25):
        actions = random_actions(vec.spec, num_envs, rng)
        obs, _, terms, truncs, infos = vec.step(actions)
        raw_obs, *_ = raw.step({a: torch.from_numpy(v) for a, v in actions.items()})
        assert infos["_final_obs"].tolist() == [step == 24] * num_envs
        for agent in vec.agent_ids:
            np.testing.assert_array_equal(infos["final_obs"][agent], raw_obs[agent].numpy())
            if step < 24:
                np.testing.assert_array_equal(obs[agent], raw_obs[agent].numpy())
    # VMAS MPE episodes end by truncation at max_steps, never by termination
    assert all(truncs[a].all() and not terms[a].any() for a in vec.agent_ids)
    # the returned observation is the reset one (the listener's position changes)
    assert not np.array_equal(obs["listener_0"], infos["final_obs"]["listener_0"])
    vec.close()


def test_vmas_termination_stays_separate_and_resets_only_finished_copies():
    pytest.importorskip("vmas")
    import torch

    vec = make_vec_env(VMAS_SPEAKER_LISTENER, 4, seed=2, max_steps=10)
    scenario = vec._env.scenario
    vec.reset()
    rng = np.random.default_rng(0)
    for step in range(3):
        ending = step == 2
        done = torch.tensor([False, ending, False, ending])
        scenario.done = lambda done=done: done  # copies 1 and 3 terminate at step 3
        obs, _, terms, truncs, infos = vec.step(random_actions(vec.spec, 4, rng))
        assert infos["_final_obs"].tolist() == done.tolist()
        assert all(terms[a].tolist() == done.tolist() for a in vec.agent_ids)
        assert not any(truncs[a].any() for a in vec.agent_ids)
    final = infos["final_obs"]["listener_0"]
    assert np.array_equal(obs["listener_0"][[0, 2]], final[[0, 2]])
    assert not np.array_equal(obs["listener_0"][1], final[1])
    assert vec._env.steps.tolist() == [3, 0, 3, 0]
    vec.close()


def test_vmas_action_bounds_in_the_spec():
    pytest.importorskip("vmas")
    spec = make_vec_env(VMAS_SPEAKER_LISTENER, 1, seed=0, continuous_actions=True).spec
    assert spec.agent_ids == ("speaker_0", "listener_0")
    speaker, listener = spec.actions["speaker_0"], spec.actions["listener_0"]
    # movement in [-u_range, u_range], the 3 communication channels in [0, 1]
    assert speaker.low == (-1.0, -1.0, 0.0, 0.0, 0.0) and speaker.high == (1.0,) * 5
    assert listener.low == (-1.0, -1.0) and listener.high == (1.0, 1.0)
    assert spec.observations["listener_0"].input_shape == (11,)
    assert EnvSpec.from_json(spec.to_json()) == spec
    spec = EnvFactory(VMAS_SPEAKER_LISTENER, {"continuous_actions": False}).spec()
    assert spec.discrete_actions  # 3 x 3 movements, times 3 messages for the speaker
    assert spec.actions["speaker_0"].n == 27 and spec.actions["listener_0"].n == 9


def test_vmas_names_refused_with_one_clear_line():
    pytest.importorskip("vmas")
    with pytest.raises(EnvNameError) as err:
        make_vec_env("vmas.no_such_scenario", 1)
    message = str(err.value)
    assert "\n" not in message and "'vmas.no_such_scenario'" in message
    assert "env.name" in message and "simple_spread" in message
    with pytest.raises(EnvNameError, match="env.kwargs may not set num_envs, seed"):
        EnvFactory(VMAS_SPEAKER_LISTENER, {"seed": 1, "num_envs": 2}).vec_env()
    with pytest.raises(ValueError, match='use backend "sync"'):
        make_vec_env(VMAS_SPEAKER_LISTENER, 2, backend="async")
    # VMAS has no single-env form: make_env gives PettingZoo envs only
    with pytest.raises(EnvNameError, match="no single-env form.*make_vec_env") as err:
        make_env(VMAS_SPEAKER_LISTENER)
    assert "\n" not in str(err.value)


def test_vmas_step_wait_needs_actions_for_every_copy():
    pytest.importorskip("vmas")
    vec = make_vec_env(VMAS_SPEAKER_LISTENER, 4, seed=0)
    vec.reset()
    actions = random_actions(vec.spec, 2, np.random.default_rng(0))
    vec.step_async(actions, slice(0, 2))
    with pytest.raises(RuntimeError, match="VMAS steps all 4 copies at once"):
        vec.step_wait()
    vec.close()


@pytest.mark.parametrize("continuous", [False, True])
def test_vmas_batched_evaluation_equals_episode_by_episode(continuous):
    pytest.importorskip("vmas")
    from marlpipe.algos.episodes import run_episodes
    from marlpipe.evolution.population import create_population

    factory = EnvFactory(VMAS_SPEAKER_LISTENER, {"continuous_actions": continuous})
    batched = factory.eval_env(6)
    agent = create_population("MATD3", batched.spec, {"hidden_sizes": [16]}, None, 1, seed=0)[0]
    returns = run_episodes(agent, batched, 6, 25, seed=5)
    assert returns.shape == (6, 2) and len(np.unique(returns[:, 0])) == 6
    np.testing.assert_array_equal(returns, run_episodes(agent, batched, 6, 25, seed=5))
    assert not np.array_equal(returns, run_episodes(agent, batched, 6, 25, seed=6))
    for copies in (1, 4):  # one by one, and rounds of 4 + 2 copies
        env = factory.eval_env(copies)
        other = run_episodes(agent, env, 6, 25, seed=5)
        if continuous:  # the actor's float32 matmul may round differently per batch size
            np.testing.assert_allclose(other, returns, rtol=1e-5, atol=1e-4)
        else:
            np.testing.assert_array_equal(other, returns)


def test_vmas_speaker_listener_per_copy_draws_a_goal_per_copy_from_its_seed():
    pytest.importorskip("vmas")
    name = "vmas.simple_speaker_listener_per_copy"
    shipped, own = EnvFactory(VMAS_SPEAKER_LISTENER).eval_env(60), EnvFactory(name).eval_env(60)
    assert own.spec.observations == shipped.spec.observations
    assert own.spec.actions == shipped.spec.actions
    seeds = spawn_seeds(3, 60)
    goals = {}
    for label, env in (("shipped", shipped), ("own", own)):
        obs, _ = env.reset(seed=3, seeds=seeds)
        goals[label] = obs["speaker_0"]
    # VMAS's scenario: one goal for the whole batch; ours: every goal colour turns up
    assert len(np.unique(goals["shipped"], axis=0)) == 1
    assert len(np.unique(goals["own"], axis=0)) == 3
    # a copy's goal follows its own seed, whatever the batch
    small = EnvFactory(name).eval_env(4)
    obs, _ = small.reset(seed=9, seeds=seeds[:4])
    np.testing.assert_array_equal(obs["speaker_0"], goals["own"][:4])
    # reward: VMAS's, -2 x the listener's distance to the landmark of the speaker's colour
    obs, rewards, *_ = own.step(random_actions(own.spec, 60, np.random.default_rng(0)))
    landmarks = obs["listener_0"][:, 2:8].reshape(60, 3, 2)  # relative to the listener
    colours = own._env.scenario.colors.numpy()
    goal = [int(np.flatnonzero((colours == g).all(1))[0]) for g in goals["own"]]
    distance = np.linalg.norm(landmarks[np.arange(60), goal], axis=1)
    np.testing.assert_allclose(rewards["listener_0"], -2 * distance, rtol=1e-5)
    np.testing.assert_array_equal(rewards["speaker_0"], rewards["listener_0"])
    for env in (shipped, own, small):
        env.close()


def test_vmas_speaker_listener_per_copy_can_take_mpes_force():
    pytest.importorskip("vmas")
    speeds = []
    for force in (1.0, 5.0):  # VMAS's listener force, and MPE's sensitivity of 5
        name = "vmas.simple_speaker_listener_per_copy"
        env = EnvFactory(name, {"u_multiplier": force}).eval_env(2)
        env.reset(seed=0)
        push = {"speaker_0": np.zeros((2, 5), np.float32),
                "listener_0": np.array([[1.0, 0.0]] * 2, np.float32)}  # fmt: skip
        obs, *_ = env.step(push)
        speeds.append(obs["listener_0"][:, 0])  # the velocity's x
        env.close()
    assert (speeds[0] > 0).all()
    np.testing.assert_allclose(speeds[1], 5 * speeds[0], rtol=1e-5)


def test_vec_env_constructor_checks_are_shared():
    from marlpipe.envs.batching import check_vec_args

    check_vec_args(2, [1, None], num_workers=1)
    with pytest.raises(ValueError, match="num_envs must be at least 1, got 0"):
        check_vec_args(0)
    with pytest.raises(ValueError, match="seeds: expected 2 seeds, got 1"):
        check_vec_args(2, [1])
    with pytest.raises(ValueError, match="num_workers must be at least 1, got 0"):
        check_vec_args(2, num_workers=0)
    for backend in ("sync", "async"):
        with pytest.raises(ValueError, match="num_envs must be at least 1"):
            make_vec_env(SPEAKER_LISTENER, 0, backend=backend)
    with pytest.raises(ValueError, match="seeds: expected 2 seeds, got 1"):
        SyncVecEnv(SPEAKER_LISTENER, 2, seeds=[1])
