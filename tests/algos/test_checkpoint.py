"""Checkpoint round trips: identical actions and learning after load; clear errors otherwise."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from marlpipe.algos import (
    MADDPG,
    MATD3,
    CheckpointError,
    load_agent,
    load_population,
    save_population,
)
from marlpipe.algos import checkpoint as checkpoint_module
from tests.helpers.builders import make_spec, random_batch, random_obs

NET = {"hidden_sizes": [16, 16]}


def trained(algo, discrete: bool = False, mutate: str | None = None):
    agent = algo(make_spec(discrete), NET, seed=3, index=2)
    batch = random_batch(agent.spec, 16)
    for _ in range(3):
        agent.learn(batch)
    if mutate:
        agent.mutate_architecture(mutate, np.random.default_rng(1))
        agent.learn(batch)
    agent.fitness += [-3.0, -2.5]
    agent.steps = 1234
    agent.lineage = {"parent": 1, "generation": 4, "mutations": ["add_nodes"]}
    return agent


def assert_same_behaviour(a, b) -> None:
    obs = random_obs(a.spec, 5, np.random.default_rng(9))
    for training in (False, True):  # with noise too: the RNG state was restored
        left = a.get_action(obs, epsilon=0.5, training=training)
        right = b.get_action(obs, epsilon=0.5, training=training)
        for agent in a.agent_ids:
            for k in (0, 1):
                np.testing.assert_array_equal(left[k][agent], right[k][agent])
    batch = random_batch(a.spec, 16, seed=5)
    for _ in range(2):  # a critic-only and an actor step (MATD3), with smoothing noise
        assert a.learn(batch).to_dict() == b.learn(batch).to_dict()
    for p, q in zip(a.critic.parameters(), b.critic.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    for agent in a.agent_ids:
        left, right = a.actor_targets[agent], b.actor_targets[agent]
        for p, q in zip(left.parameters(), right.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize("algo", [MATD3, MADDPG])
@pytest.mark.parametrize("discrete", [False, True])
@pytest.mark.parametrize("mutate", [None, "add_layer", "add_nodes"])
def test_save_load_round_trip(tmp_path, algo, discrete, mutate):
    agent = trained(algo, discrete, mutate)
    path = tmp_path / "agent.pt"
    agent.save_checkpoint(path)
    loaded = algo.load(path)
    assert type(loaded) is algo
    assert loaded.critic.config == agent.critic.config
    assert loaded.hyperparameters() == agent.hyperparameters()
    assert (loaded.index, loaded.fitness, loaded.steps, loaded.lineage) == (
        2, [-3.0, -2.5], 1234, {"parent": 1, "generation": 4, "mutations": ["add_nodes"]}
    )  # fmt: skip
    assert loaded.learn_counter == agent.learn_counter
    assert_same_behaviour(agent, loaded)


def test_load_checkpoint_into_existing_agent_rebuilds_architecture(tmp_path):
    agent = trained(MATD3, mutate="add_layer")
    path = tmp_path / "agent.pt"
    agent.save_checkpoint(path)
    fresh = MATD3(make_spec(), NET, seed=99)
    fresh.load_checkpoint(path)
    assert fresh.actors["a"].hidden_sizes == [16, 16, 16]
    assert_same_behaviour(agent, fresh)


def test_generic_load_agent_picks_the_class(tmp_path):
    trained(MADDPG).save_checkpoint(tmp_path / "m.pt")
    assert type(load_agent(tmp_path / "m.pt")) is MADDPG


def test_population_round_trip_keeps_order_and_indices(tmp_path):
    population = [trained(MATD3), MATD3(make_spec(), NET, seed=4, index=7)]
    save_population(population, tmp_path / "population")
    index = json.loads((tmp_path / "population" / checkpoint_module.INDEX_FILE).read_text())
    assert index == {"members": [{"file": "member_00.pt", "index": 2},
                                 {"file": "member_01.pt", "index": 7}]}  # fmt: skip
    loaded = load_population(tmp_path / "population")
    assert [agent.index for agent in loaded] == [2, 7]
    for saved, back in zip(population, loaded, strict=True):
        assert_same_behaviour(saved, back)


def test_checkpoint_loads_with_its_own_network_bounds(tmp_path):
    """A net_config without bounds (left to the networks' defaults when it was saved) loads even
    if today's defaults would refuse its networks: the saved network configs carry the bounds."""
    path = tmp_path / "wide.pt"
    MATD3(make_spec(), {"hidden_sizes": [300], "max_nodes": 512}, seed=0).save_checkpoint(path)
    rewrite(path, lambda m: m["net_config"].pop("max_nodes"))
    loaded = MATD3.load(path)
    assert loaded.actors["a"].hidden_sizes == [300] and "max_nodes" not in loaded.net_config


def test_load_state_refuses_another_spec():
    agent, other = trained(MATD3), MATD3(make_spec(discrete=True), NET, seed=0)
    with pytest.raises(ValueError, match="different env spec"):
        other.load_state(agent.metadata(), agent.state_dicts())


def test_file_format_and_weights_only(tmp_path, monkeypatch):
    path = tmp_path / "agent.pt"
    trained(MATD3).save_checkpoint(path)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "marlpipe-checkpoint" and raw["version"] == 1
    metadata = json.loads(raw["metadata"])
    assert metadata["algo"] == "MATD3" and metadata["spec"]["agent_ids"] == ["a", "b"]
    assert set(raw["state"]) >= {"actor/a", "critic", "critic_target", "actor_optimizer"}
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "load", spy)
    MATD3.load(path)
    assert calls == [True]
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


def test_missing_corrupt_truncated_files_name_the_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="nope.pt.*not found"):
        MATD3.load(missing)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        MATD3.load(garbage)
    good = tmp_path / "good.pt"
    trained(MATD3).save_checkpoint(good)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        MATD3.load(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt.*marlpipe-checkpoint"):
        MATD3.load(foreign)
    unsafe = tmp_path / "unsafe.pt"  # a sound archive whose pickle names a class: never loaded
    torch.save({"format": "marlpipe-checkpoint", "where": Path("elsewhere")}, unsafe)
    with pytest.raises(CheckpointError, match="unsafe.pt: not a readable marlpipe checkpoint"):
        MATD3.load(unsafe)


def test_wrong_algorithm_or_spec_is_refused(tmp_path):
    path = tmp_path / "maddpg.pt"
    trained(MADDPG).save_checkpoint(path)
    with pytest.raises(CheckpointError, match="maddpg.pt.*MADDPG agent, expected MATD3"):
        MATD3.load(path)
    with pytest.raises(CheckpointError, match="maddpg.pt.*expected MATD3"):
        MATD3(make_spec(), NET).load_checkpoint(path)
    with pytest.raises(CheckpointError, match="maddpg.pt.*different env spec"):
        MADDPG(make_spec(discrete=True), NET).load_checkpoint(path)


# ------------------------------------------------------------------------- damaged content
def rewrite(path, edit_metadata=None, edit_state=None) -> None:
    """Re-save the checkpoint at ``path`` after editing its JSON metadata and/or its state."""
    raw = torch.load(path, weights_only=True)
    metadata = json.loads(raw["metadata"])
    if edit_metadata:
        edit_metadata(metadata)
    if edit_state:
        edit_state(raw["state"])
    raw["metadata"] = json.dumps(metadata)
    torch.save(raw, path)


@pytest.mark.parametrize("algo", [MATD3, MADDPG])
def test_a_checkpoint_from_before_the_pre_tanh_penalty_loads_with_it_off(tmp_path, algo):
    """Checkpoints saved before ``pre_tanh_penalty`` existed trained without it: they load with
    0.0, also into an agent built with the penalty on, and behave as saved."""
    agent = trained(algo)
    agent.pre_tanh_penalty = 0.0  # as every agent before the penalty existed
    path = tmp_path / "old.pt"
    agent.save_checkpoint(path)
    rewrite(path, edit_metadata=lambda m: m["hyperparameters"].pop("pre_tanh_penalty"))
    loaded = algo.load(path)
    assert loaded.pre_tanh_penalty == 0.0
    assert_same_behaviour(agent, loaded)
    into = algo(make_spec(), NET, pre_tanh_penalty=0.5)
    into.load_checkpoint(path)
    assert into.pre_tanh_penalty == 0.0


def test_flipped_bits_in_a_tensor_member_are_detected(tmp_path):
    path = tmp_path / "flipped.pt"
    trained(MATD3).save_checkpoint(path)
    with zipfile.ZipFile(path) as archive:  # the first storage: actor a's first weights
        member = next(info for info in archive.infolist() if info.filename.endswith("/data/0"))
    raw = bytearray(path.read_bytes())
    # Local header: 30 fixed bytes, then the name and the extra field (lengths at 26 and 28).
    name_len, extra_len = struct.unpack_from("<HH", raw, member.header_offset + 26)
    start = member.header_offset + 30 + name_len + extra_len
    for offset in range(start + 8, start + 12):
        raw[offset] ^= 0x5A
    path.write_bytes(bytes(raw))
    pattern = f"flipped.pt.*{member.filename}.*CRC"
    with pytest.raises(CheckpointError, match=pattern):
        MATD3.load(path)
    with pytest.raises(CheckpointError, match=pattern):
        MATD3(make_spec(), NET).load_checkpoint(path)


def _rename_agent_b(metadata) -> None:
    spec = metadata["spec"]
    spec["agent_ids"] = ["a", "c"]
    for field in ("observations", "actions"):
        spec[field]["c"] = spec[field].pop("b")
    metadata["net_configs"]["actors"]["c"] = metadata["net_configs"]["actors"].pop("b")


def _as_maddpg(metadata) -> None:
    metadata["algo"] = "MADDPG"
    for name in ("policy_freq", "target_noise", "target_noise_clip"):
        del metadata["hyperparameters"][name]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(algo="MADDPG"),
         r"hyperparameters: unknown keys \['policy_freq'.*MADDPG expects"),
        (_as_maddpg, r"net_configs.critic \(MADDPG\): ensemble_size 4, expected 2"),
        (lambda m: m["hyperparameters"].update(learning_rate=0.1),
         r"hyperparameters: unknown keys \['learning_rate'\]; MATD3 expects"),
        (lambda m: m["net_configs"]["actors"]["a"].update(width=3),
         r"net_configs.actors.a: EvolvableMLP config has unknown keys \['width'\]"),
        (lambda m: m["net_configs"].update(actors=list(m["net_configs"]["actors"].values())),
         r"net_configs.actors: list; expected an object keyed by agents \['a', 'b'\]"),
        (lambda m: m["net_configs"]["critic"].update(input_dim=99),
         r"net_configs.critic \(MATD3\): input_dim 99, expected 13"),
        (_rename_agent_b,
         r"state: unknown keys \['actor/b', 'actor_target/b'\], "
         r"missing keys \['actor/c', 'actor_target/c'\] for the agents \['a', 'c'\]"),
    ],
)  # fmt: skip
def test_mismatched_content_names_the_file_and_the_expectation(tmp_path, edit, message):
    path = tmp_path / "mismatched.pt"
    trained(MATD3).save_checkpoint(path)
    rewrite(path, edit)
    with pytest.raises(CheckpointError, match=f"mismatched.pt.*{message}"):
        load_agent(path)


def test_failed_load_into_an_agent_leaves_it_unchanged(tmp_path):
    agent = trained(MATD3)
    before = agent.clone()
    other = MATD3(make_spec(), {"hidden_sizes": [32, 32]}, lr_actor=5e-4, seed=8)
    path = tmp_path / "bad_optimizer.pt"
    other.save_checkpoint(path)

    def drop_a_parameter(state) -> None:  # only the optimiser load (after the nets) fails
        group = state["actor_optimizer"]["param_groups"][0]
        group["params"] = group["params"][:-1]

    rewrite(path, edit_state=drop_a_parameter)
    with pytest.raises(CheckpointError, match="bad_optimizer.pt"):
        agent.load_checkpoint(path)
    assert agent.hyperparameters() == before.hyperparameters()
    assert agent.actors["a"].hidden_sizes == [16, 16]
    assert agent.metadata() == before.metadata()
    assert_same_behaviour(agent, before)  # weights, optimiser moments and RNG states alike


def test_load_and_clone_leave_the_global_torch_rng_alone(tmp_path):
    agents = [trained(MATD3), MATD3(make_spec(image=True), {**NET, "cnn": {}}, seed=0)]
    for agent in agents:
        path = tmp_path / "agent.pt"
        agent.save_checkpoint(path)
        before = torch.get_rng_state()
        MATD3.load(path)
        agent.clone()
        agent.load_checkpoint(path)
        assert torch.equal(torch.get_rng_state(), before)


# ------------------------------------------------------------------ generators of other devices
def fake_generator_state(path, state, device: str | None = "cuda") -> None:
    """Re-save ``path`` as if its agent's torch generator had been a ``device`` one (``None``:
    without the device field, as files from before the field existed)."""

    def edit(saved) -> None:
        saved["torch_rng"] = {"state": state}
        if device is not None:
            saved["torch_rng"]["device"] = device

    rewrite(path, edit_state=edit)


def cuda_like_state(seed: int = 0) -> torch.Tensor:
    return torch.tensor(np.random.default_rng(seed).integers(0, 256, 16), dtype=torch.uint8)


def greedy_actions(agent) -> dict:
    return agent.get_action(random_obs(agent.spec, 4, np.random.default_rng(2)), training=False)[1]


@pytest.mark.parametrize(("algo", "discrete"), [(MATD3, False), (MADDPG, True)])
def test_checkpoint_of_a_cuda_generator_loads_on_cpu_deterministically(tmp_path, algo, discrete):
    agent = trained(algo, discrete)
    path = tmp_path / "from_cuda.pt"
    agent.save_checkpoint(path)
    fake_generator_state(path, cuda_like_state())
    assert torch.load(path, weights_only=True)["state"]["torch_rng"]["device"] == "cuda"
    first, second = load_agent(path), load_agent(path)
    assert first.torch_rng.device.type == "cpu"
    assert torch.equal(first.torch_rng.get_state(), second.torch_rng.get_state())
    for key, value in greedy_actions(agent).items():  # same weights: same greedy actions
        np.testing.assert_array_equal(greedy_actions(first)[key], value)
    assert_same_behaviour(first, second)  # noisy actions and learning alike, twice the same
    into = algo(make_spec(discrete), NET, seed=99)
    into.load_checkpoint(path)
    assert_same_behaviour(into, algo.load(path))
    save_population([agent], tmp_path / "population")
    fake_generator_state(tmp_path / "population" / "member_00.pt", cuda_like_state())
    assert_same_behaviour(load_population(tmp_path / "population")[0], load_agent(path))
    # Another saved stream gives another new one; the re-saved agent is a plain CPU checkpoint.
    other = tmp_path / "other.pt"
    agent.save_checkpoint(other)
    fake_generator_state(other, cuda_like_state(seed=1))
    streams = [load_agent(p).torch_rng.get_state() for p in (path, other)]
    assert not torch.equal(*streams)
    load_agent(path).save_checkpoint(tmp_path / "resaved.pt")
    resaved = torch.load(tmp_path / "resaved.pt", weights_only=True)
    assert set(resaved["state"]["torch_rng"]) == {"state"}


def test_pyfunc_model_loads_a_cuda_checkpoint_on_cpu(tmp_path):
    from types import SimpleNamespace

    from marlpipe.tracking.pyfunc_model import CHECKPOINT, ElitePolicy

    agent = trained(MATD3)
    path = tmp_path / "elite.pt"
    agent.save_checkpoint(path)
    fake_generator_state(path, cuda_like_state())
    model = ElitePolicy()
    model.load_context(SimpleNamespace(artifacts={CHECKPOINT: str(path)}))
    obs = random_obs(agent.spec, 4, np.random.default_rng(2))
    actions = model.predict(None, obs)
    for key, value in greedy_actions(agent).items():
        np.testing.assert_array_equal(actions[key], value)


def test_cpu_checkpoints_are_unchanged_and_restore_the_generator_exactly(tmp_path):
    agent = trained(MATD3)
    path = tmp_path / "cpu.pt"
    agent.save_checkpoint(path)
    saved = torch.load(path, weights_only=True)["state"]["torch_rng"]
    assert set(saved) == {"state"} and saved["state"].numel() == 5056  # no device field on CPU
    assert torch.equal(saved["state"], agent.torch_rng.get_state())
    assert torch.equal(MATD3.load(path).torch_rng.get_state(), agent.torch_rng.get_state())
    fake_generator_state(path, saved["state"], device="cpu")  # an explicit "cpu" is the same
    assert torch.equal(MATD3.load(path).torch_rng.get_state(), agent.torch_rng.get_state())


def test_old_checkpoint_of_a_non_cpu_generator_without_device_field_loads(tmp_path):
    agent = trained(MATD3)
    path = tmp_path / "old_cuda.pt"
    agent.save_checkpoint(path)
    fake_generator_state(path, cuda_like_state(), device=None)  # 16 bytes: not a CPU state
    first, second = MATD3.load(path), MATD3.load(path)
    assert_same_behaviour(first, second)
    marked = tmp_path / "marked.pt"
    agent.save_checkpoint(marked)
    fake_generator_state(marked, cuda_like_state(), device="cuda")  # the same seed either way
    streams = [MATD3.load(p).torch_rng.get_state() for p in (path, marked)]
    assert torch.equal(*streams)


@pytest.mark.parametrize(
    ("rng", "message"),
    [
        ({"state": torch.zeros(100, dtype=torch.uint8), "device": "cpu"},
         r"state.torch_rng.state: 100 bytes, expected 5,056 bytes for a cpu generator"),
        ({"state": torch.zeros(5056, dtype=torch.uint8), "device": "cuda"},
         r"state.torch_rng.state: 5,056 bytes, expected 16 bytes for a cuda generator"),
        ({"state": torch.zeros(0, dtype=torch.uint8)},
         r"state.torch_rng.state: 0 bytes, expected a non-empty state for a non-CPU generator"),
        ({"state": torch.zeros(16), "device": "cuda"},
         r"state.torch_rng.state: torch.float32 tensor of shape \(16,\), expected a 1-D uint8"),
        ({"state": torch.zeros(16, dtype=torch.uint8), "device": "gpu"},
         r"state.torch_rng.device: 'gpu', expected a device type such as 'cuda'"),
        ({"state": torch.zeros(16, dtype=torch.uint8), "seed": 3},
         r"state.torch_rng: unknown keys \['seed'\]"),
        ({"device": "cuda"}, r"state.torch_rng: missing keys \['state'\]"),
    ],
)  # fmt: skip
def test_malformed_generator_state_is_a_one_line_checkpoint_error(tmp_path, rng, message):
    path = tmp_path / "bad_rng.pt"
    agent = trained(MATD3)
    agent.save_checkpoint(path)
    rewrite(path, edit_state=lambda state: state.update(torch_rng=rng))
    for load in (load_agent, MATD3.load, MATD3(make_spec(), NET, seed=1).load_checkpoint):
        with pytest.raises(CheckpointError, match=f"bad_rng.pt.*{message}") as caught:
            load(path)
        assert "\n" not in str(caught.value)


def assert_same_on_device(a, b) -> None:
    """Noisy actions and two learning steps agree (``assert_same_behaviour`` for any device)."""
    obs = random_obs(a.spec, 5, np.random.default_rng(9))
    left, right = (x.get_action(obs, epsilon=0.5, training=True)[1] for x in (a, b))
    for agent in a.agent_ids:
        np.testing.assert_array_equal(left[agent], right[agent])
    batch = random_batch(a.spec, 16, seed=5)
    batch = tuple({k: v.to(a.device) for k, v in field.items()} for field in batch)
    for _ in range(2):
        assert a.learn(batch).to_dict() == b.learn(batch).to_dict()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_checkpoint_loads_on_cpu_and_back(tmp_path):
    from types import SimpleNamespace

    from marlpipe.tracking.pyfunc_model import CHECKPOINT, ElitePolicy

    agent = MATD3(make_spec(), NET, seed=3, device="cuda")
    batch = random_batch(agent.spec, 16)
    agent.learn(tuple({k: v.cuda() for k, v in field.items()} for field in batch))
    obs = random_obs(agent.spec, 4, np.random.default_rng(2))
    agent.get_action(obs, epsilon=0.5, training=True)
    path = tmp_path / "cuda.pt"
    agent.save_checkpoint(path)
    saved = torch.load(path, weights_only=True, map_location="cpu")["state"]["torch_rng"]
    assert saved["device"] == "cuda" and saved["state"].numel() == 16
    greedy = agent.get_action(obs, training=False)[1]
    on_cpu, again = load_agent(path, device="cpu"), MATD3.load(path)
    assert on_cpu.torch_rng.device.type == "cpu"
    assert_same_on_device(on_cpu, again)
    for key, value in load_agent(path).get_action(obs, training=False)[1].items():
        np.testing.assert_allclose(value, greedy[key], rtol=1e-5, atol=1e-5)
    model = ElitePolicy()
    model.load_context(SimpleNamespace(artifacts={CHECKPOINT: str(path)}))
    for key, value in model.predict(None, obs).items():
        np.testing.assert_allclose(value, greedy[key], rtol=1e-5, atol=1e-5)
    back = MATD3.load(path, device="cuda")  # the same device type: the state exactly
    assert torch.equal(back.torch_rng.get_state(), agent.torch_rng.get_state())
    assert_same_on_device(agent.clone(), back)
    on_cpu.save_checkpoint(tmp_path / "cpu.pt")  # a CPU checkpoint, onto CUDA: re-seeded
    first, second = (MATD3.load(tmp_path / "cpu.pt", device="cuda") for _ in range(2))
    assert first.torch_rng.device.type == "cuda"
    assert_same_on_device(first, second)
    into = MATD3(make_spec(), NET, seed=9, device="cuda")
    into.load_checkpoint(tmp_path / "cpu.pt")
    assert_same_on_device(into, MATD3.load(tmp_path / "cpu.pt", device="cuda"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda raw: raw.update(version=99), r"v\.pt: checkpoint version 99, expected \d"),
        (lambda raw: raw.update(metadata="{"), r"v\.pt: malformed checkpoint metadata \("),
        (lambda raw: raw.update(state=[1]), r"v\.pt: malformed checkpoint, missing metadata \[\]"),
        (
            lambda raw: raw.update(metadata=json.dumps(
                {k: v for k, v in json.loads(raw["metadata"]).items() if k != "np_rng"})),
            r"v\.pt: malformed checkpoint, missing metadata \['np_rng'\]",
        ),
    ],
)  # fmt: skip
def test_a_checkpoint_of_another_version_or_shape_is_named(tmp_path, edit, message):
    path = tmp_path / "v.pt"
    trained(MATD3).save_checkpoint(path)
    raw = torch.load(path, weights_only=True)
    edit(raw)
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match=message):
        MATD3.load(path)


def test_read_checkpoint_loads_onto_the_cpu_by_default(tmp_path):
    path = tmp_path / "agent.pt"
    trained(MATD3).save_checkpoint(path)
    metadata, state = checkpoint_module.read_checkpoint(path)
    assert metadata["algo"] == "MATD3"
    tensors = [t for part in state.values() for t in _tensors(part)]
    assert tensors and all(t.device.type == "cpu" for t in tensors)


def _tensors(tree):
    if isinstance(tree, torch.Tensor):
        yield tree
    elif isinstance(tree, dict):
        for value in tree.values():
            yield from _tensors(value)
    elif isinstance(tree, list | tuple):
        for value in tree:
            yield from _tensors(value)
