"""The shared multi-agent replay buffer: ring storage, sampling, determinism and persistence."""

import json

import numpy as np
import pytest
import torch

from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer

AGENTS = ["speaker_0", "listener_0"]
OBS = {"speaker_0": 3, "listener_0": 11}
ACT = {"speaker_0": 3, "listener_0": 5}


def batch(start: int, num_envs: int):
    """A vectorised transition batch whose values encode the transition number."""
    ids = np.arange(start, start + num_envs, dtype=np.float32)
    state = {a: np.repeat(ids[:, None], OBS[a], axis=1) for a in AGENTS}
    action = {a: np.repeat(ids[:, None], ACT[a], axis=1) for a in AGENTS}
    reward = {a: -ids for a in AGENTS}
    next_state = {a: s + 0.5 for a, s in state.items()}
    done = {a: (ids % 2 == 0) for a in AGENTS}
    return state, action, reward, next_state, done


def filled(memory_size=10, transitions=0, num_envs=4, seed=0):
    buffer = MultiAgentReplayBuffer(memory_size, TRANSITION_FIELDS, AGENTS, seed=seed)
    for start in range(0, transitions, num_envs):
        buffer.save_to_memory(*batch(start, num_envs), is_vectorised=True)
    return buffer


def test_counts_and_ring_overwrite():
    buffer = filled(memory_size=10, transitions=12, num_envs=4)
    assert buffer.counter == 12 and len(buffer) == 10
    held = sorted(buffer._data["state"]["speaker_0"][:, 0].tolist())
    # transitions 0 and 1 were overwritten by 10 and 11
    assert held == list(range(2, 12))
    buffer.save_to_memory(*batch(12, 4), is_vectorised=True)
    assert buffer.counter == 16 and len(buffer) == 10
    assert sorted(buffer._data["state"]["speaker_0"][:, 0].tolist()) == list(range(6, 16))


def test_single_transition_save():
    buffer = MultiAgentReplayBuffer(5, TRANSITION_FIELDS, AGENTS)
    state, action, reward, next_state, done = batch(0, 1)
    one = [{a: v[a][0] for a in AGENTS} for v in (state, action, reward, next_state, done)]
    buffer.save_to_memory(*one)
    assert len(buffer) == 1
    ((state_t, *_),) = [buffer.sample(2)]
    assert state_t["listener_0"].shape == (2, 11)


def test_batch_larger_than_memory_keeps_newest():
    buffer = MultiAgentReplayBuffer(3, TRANSITION_FIELDS, AGENTS)
    buffer.save_to_memory(*batch(0, 5), is_vectorised=True)
    assert buffer.counter == 5 and len(buffer) == 3
    assert sorted(buffer._data["reward"]["speaker_0"].tolist()) == [-4.0, -3.0, -2.0]
    buffer.save_to_memory(*batch(5, 7), is_vectorised=True)  # after earlier saves: counted on
    assert buffer.counter == 12 and len(buffer) == 3
    assert sorted(buffer._data["reward"]["speaker_0"].tolist()) == [-11.0, -10.0, -9.0]


def test_a_one_transition_memory_holds_the_newest():
    buffer = MultiAgentReplayBuffer(1, TRANSITION_FIELDS, AGENTS, seed=0)
    for start in range(3):
        buffer.save_to_memory(*batch(start, 1), is_vectorised=True)
    assert buffer.counter == 3 and len(buffer) == 1
    np.testing.assert_array_equal(buffer.sample(4).reward["speaker_0"], [-2.0] * 4)


def test_sample_shapes_dtypes_and_consistency():
    buffer = filled(memory_size=64, transitions=40)
    state, action, reward, next_state, done = buffer.sample(16)
    for agent in AGENTS:
        assert state[agent].shape == (16, OBS[agent]) and state[agent].dtype == torch.float32
        assert action[agent].shape == (16, ACT[agent])
        assert reward[agent].shape == (16,) and done[agent].shape == (16,)
        assert next_state[agent].dtype == torch.float32 and done[agent].dtype == torch.float32
        # fields of one sampled row belong to the same transition
        ids = state[agent][:, 0]
        assert torch.equal(action[agent][:, 0], ids)
        assert torch.equal(reward[agent], -ids)
        assert torch.equal(next_state[agent][:, 0], ids + 0.5)
        assert torch.equal(done[agent], (ids % 2 == 0).float())
    assert torch.equal(state["speaker_0"][:, 0], state["listener_0"][:, 0])


def test_sampling_is_deterministic_under_a_seed():
    a, b, c = filled(32, 32, seed=5), filled(32, 32, seed=5), filled(32, 32, seed=6)
    for _ in range(3):
        sa, sb, sc = a.sample(8), b.sample(8), c.sample(8)
        assert torch.equal(sa[0]["speaker_0"], sb[0]["speaker_0"])
    assert not torch.equal(sa[0]["speaker_0"], sc[0]["speaker_0"])


def test_empty_sample_and_wrong_field_count_are_clear():
    buffer = MultiAgentReplayBuffer(4, TRANSITION_FIELDS, AGENTS)
    with pytest.raises(ValueError, match="^cannot sample from an empty replay buffer$"):
        buffer.sample(1)
    fields = r"expected 5 fields \(state, action, reward, next_state, done\), got 2"
    with pytest.raises(ValueError, match=fields):
        buffer.save_to_memory({}, {})
    with pytest.raises(ValueError, match="memory_size"):
        MultiAgentReplayBuffer(0, TRANSITION_FIELDS, AGENTS)


def test_images_stay_uint8_and_sample_as_float():
    buffer = MultiAgentReplayBuffer(8, ["state"], ["a"])
    buffer.save_to_memory({"a": np.full((2, 4, 5, 3), 255, np.uint8)}, is_vectorised=True)
    assert buffer._data["state"]["a"].dtype == np.uint8
    (state,) = buffer.sample(3)
    assert state["a"].dtype == torch.float32 and float(state["a"].max()) == 255.0


def test_save_load_round_trip_resumes_exactly(tmp_path):
    buffer = filled(memory_size=10, transitions=14, seed=3)
    buffer.sample(4)  # advance the generator
    path = tmp_path / "buffer.npz"
    buffer.save(path)
    restored = MultiAgentReplayBuffer(10, TRANSITION_FIELDS, AGENTS)
    restored.load(path)
    assert restored.counter == buffer.counter and len(restored) == len(buffer)
    for name in TRANSITION_FIELDS:
        for agent in AGENTS:
            np.testing.assert_array_equal(restored._data[name][agent], buffer._data[name][agent])
    for _ in range(2):
        for x, y in zip(restored.sample(6), buffer.sample(6), strict=True):
            assert all(torch.equal(x[a], y[a]) for a in AGENTS)
    # both continue writing at the same ring position
    restored.save_to_memory(*batch(100, 3), is_vectorised=True)
    buffer.save_to_memory(*batch(100, 3), is_vectorised=True)
    np.testing.assert_array_equal(
        restored._data["state"]["speaker_0"], buffer._data["state"]["speaker_0"]
    )
    assert not list(tmp_path.glob("*.tmp"))


def test_load_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    buffer = MultiAgentReplayBuffer(10, TRANSITION_FIELDS, AGENTS)
    with pytest.raises(ValueError, match="bad.npz"):
        buffer.load(bad)
    other = MultiAgentReplayBuffer(10, ["state"], AGENTS)
    other.save(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="other.npz.*expected fields"):
        buffer.load(tmp_path / "other.npz")


@pytest.mark.parametrize(
    ("meta", "why"), [({"memory_size": 10}, "its metadata lacks \\['field_names'"),
                      (["not", "a", "dict"], "")],
)  # fmt: skip
def test_load_foreign_metadata_names_the_file(tmp_path, meta, why):
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, __meta__=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    buffer = MultiAgentReplayBuffer(10, TRANSITION_FIELDS, AGENTS)
    with pytest.raises(ValueError, match=f"foreign.npz: not a readable replay buffer file.*{why}"):
        buffer.load(foreign)


def test_load_of_a_missing_file_names_it(tmp_path):
    buffer = MultiAgentReplayBuffer(10, TRANSITION_FIELDS, AGENTS)
    with pytest.raises(FileNotFoundError, match="gone.npz: replay buffer file not found"):
        buffer.load(tmp_path / "gone.npz")


def test_load_never_unpickles(tmp_path):
    """An archive holding a pickled object array is refused, not executed."""
    buffer = filled(memory_size=10, transitions=4, seed=0)
    path = tmp_path / "buffer.npz"
    buffer.save(path)
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["state/speaker_0"] = np.array([{"x": 1}] * 4, dtype=object)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="buffer.npz: not a readable replay buffer file"):
        MultiAgentReplayBuffer(10, TRANSITION_FIELDS, AGENTS).load(path)


def test_round_trip_keeps_dtypes_and_agent_ids_with_slashes(tmp_path):
    agents = ["team/a", "team/b/0"]
    buffer = MultiAgentReplayBuffer(6, ["image", "reward"], agents, seed=0)
    for step in range(3):
        buffer.save_to_memory(
            {a: np.full((2, 4, 4, 3), step, np.uint8) for a in agents},
            {a: np.full(2, step + 0.5, np.float32) for a in agents}, is_vectorised=True,
        )  # fmt: skip
    buffer.save(tmp_path / "buffer.npz")
    restored = MultiAgentReplayBuffer(6, ["image", "reward"], agents)
    restored.load(tmp_path / "buffer.npz")
    for name in ("image", "reward"):
        assert set(restored._data[name]) == set(agents)
        for agent in agents:
            saved, loaded = buffer._data[name][agent], restored._data[name][agent]
            assert loaded.dtype == saved.dtype and loaded.shape == saved.shape
            np.testing.assert_array_equal(loaded, saved)


def test_memory_is_close_to_raw_float32_bytes():
    memory_size = 10_000
    buffer = filled(memory_size=memory_size, transitions=8)
    raw_per_transition = sum(2 * OBS[a] + ACT[a] + 2 for a in AGENTS) * 4
    assert buffer.nbytes <= 1.25 * raw_per_transition * memory_size


def test_sample_is_a_batch_named_by_the_field_names():
    """Named access equals positional access; the batch still unpacks and pickles as a tuple."""
    import pickle

    from marlpipe.algos.buffer import Batch

    fields = ["obs", "act", "rew", "next_obs", "term"]
    buf = MultiAgentReplayBuffer(10, fields, ["a", "b"], seed=0)
    for i in range(4):
        buf.save_to_memory(*({"a": np.full(2, i + k), "b": np.full(2, -i - k)}
                             for k in range(5)))  # fmt: skip
    batch = buf.sample(6)
    assert isinstance(batch, Batch) and isinstance(batch, tuple) and len(batch) == 5
    obs, act, rew, next_obs, term = batch
    for position, name in enumerate(fields):
        assert getattr(batch, name) is batch[position] is batch[name]
    assert batch.next_obs is next_obs and batch.obs is obs and batch.term is term
    assert list(batch._asdict()) == fields
    copy = pickle.loads(pickle.dumps(batch))
    assert copy._fields == tuple(fields)
    torch.testing.assert_close(copy.rew["a"], rew["a"])
    with pytest.raises(AttributeError, match="no field 'done'"):
        _ = batch.done
    with pytest.raises(KeyError, match="no field 'done'; its fields are"):
        _ = batch["done"]


def test_transition_reads_a_sample_by_field_name_or_by_position():
    from marlpipe.algos.buffer import Batch, transition

    named = Batch(["d", "s", "a", "r", "n"], ["done", "state", "action", "reward", "next_state"])
    assert transition(named) == ("s", "a", "r", "n", "d")
    assert transition(("s", "a", "r", "n", "d")) == ("s", "a", "r", "n", "d")
    other = Batch(["o", "u", "r", "o2", "t"], ["obs", "act", "rew", "obs2", "term"])
    assert transition(other) == ("o", "u", "r", "o2", "t")  # other names: by position
    with pytest.raises(ValueError, match="expected a sample of 5 fields"):
        transition(("s", "a", "r", "n"))


def ring(buffer):
    """Everything that decides what a buffer samples next, but its generator."""
    data = {n: {a: arr.copy() for a, arr in f.items()} for n, f in (buffer._data or {}).items()}
    return buffer.counter, len(buffer), buffer._pos, data


def assert_same_ring(left, right):
    (*counters_l, data_l), (*counters_r, data_r) = ring(left), ring(right)
    assert counters_l == counters_r and data_l.keys() == data_r.keys()
    for name in data_l:
        for agent in AGENTS:
            np.testing.assert_array_equal(data_l[name][agent], data_r[name][agent])
            assert data_l[name][agent].dtype == data_r[name][agent].dtype


@pytest.mark.parametrize("more", [3, 12])  # fewer, then more transitions than memory_size
def test_snapshot_newest_and_extend_rebuild_the_ring_exactly(more):
    """Merged experience: a member writes to a private copy (``from_snapshot``); the shared
    buffer then takes its ``newest`` rows (``extend``) and ends as if they were saved there."""
    shared = filled(memory_size=10, transitions=8, num_envs=4)
    private = MultiAgentReplayBuffer.from_snapshot(shared.snapshot(), seed=1)
    assert_same_ring(private, shared)
    before = ring(shared)
    for start in range(100, 100 + more):
        private.save_to_memory(*batch(start, 1), is_vectorised=True)
    assert_same_ring(shared, filled(memory_size=10, transitions=8, num_envs=4))  # a copy
    assert ring(shared)[:3] == before[:3]
    newest = private.newest(more)
    kept = min(more, 10)
    np.testing.assert_array_equal(  # oldest first: the last ``kept`` saved, in order
        newest["reward"]["speaker_0"], -np.arange(100 + more - kept, 100 + more, dtype=np.float32)
    )
    shared.extend(newest, more)
    assert_same_ring(shared, private)
    shared.extend(private.newest(0), 0)  # a member that saved nothing: nothing changes
    assert_same_ring(shared, private)
    assert private.newest(0) == {} and MultiAgentReplayBuffer(5, ["state"], AGENTS).newest(3) == {}


def test_an_empty_buffer_saved_and_loaded_fills_as_a_new_one(tmp_path):
    path = tmp_path / "empty.npz"
    MultiAgentReplayBuffer(10, TRANSITION_FIELDS, AGENTS, seed=0).save(path)
    restored = filled(memory_size=10, transitions=4)  # holding rows: the load empties it
    restored.load(path)
    assert len(restored) == restored.counter == 0 and restored.nbytes == 0
    restored.save_to_memory(*batch(0, 4), is_vectorised=True)
    assert_same_ring(restored, filled(memory_size=10, transitions=4))
