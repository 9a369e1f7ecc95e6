"""Multi-agent replay buffer: a preallocated numpy ring per field and agent, population-shared."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from marlpipe.io import atomic_write

TRANSITION_FIELDS: tuple[str, ...] = ("state", "action", "reward", "next_state", "done")
"""The fields MATD3 and MADDPG learn from, in the order the training loops save them (the
``field_names`` of AgileRL's tutorial). :func:`transition` reads a sample by these names."""

_META_KEYS = ("memory_size", "field_names", "agent_ids", "counter", "size", "pos", "rng")
"""Keys that :meth:`MultiAgentReplayBuffer.save` writes to an archive's ``__meta__``."""


class Batch(tuple):
    """A sampled batch: one per-agent dict of tensors per field, in the buffer's
    ``field_names`` order, also reachable by field name.

    It is a plain tuple to every caller (``state, action, reward, next_state, done = batch``,
    ``batch[0]``, ``len(batch)``), so AgileRL-style code keeps working; the buffer's field
    names (any strings) add named access: ``batch.next_state`` or ``batch["next_state"]`` is
    ``batch[field_names.index("next_state")]``. Slices and ``+`` give plain tuples.
    """

    _fields: tuple[str, ...]

    def __new__(cls, values: Iterable[Any] = (), fields: Sequence[str] = ()) -> Batch:
        batch = super().__new__(cls, values)
        fields = tuple(fields)
        if fields and len(fields) != len(batch):
            raise ValueError(f"Batch: {len(batch)} values for {len(fields)} fields {fields}")
        batch._fields = fields
        return batch

    def __getnewargs__(self) -> tuple[Any, ...]:  # pickling (Ray, multiprocessing)
        return tuple(self), self._fields

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("_fields", ())
        if name in fields:
            return tuple.__getitem__(self, fields.index(name))
        raise AttributeError(f"batch has no field {name!r}; its fields are {fields}")

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key not in self._fields:
                raise KeyError(f"batch has no field {key!r}; its fields are {self._fields}")
            key = self._fields.index(key)
        return tuple.__getitem__(self, key)

    def _asdict(self) -> dict[str, Any]:
        """Field name -> per-agent dict, in field order (as ``NamedTuple._asdict``)."""
        return dict(zip(self._fields, self, strict=True))

    def __repr__(self) -> str:
        return f"Batch(fields={self._fields})"


def transition(batch: Sequence[Any]) -> tuple[Any, ...]:
    """``(state, action, reward, next_state, done)`` of a sample: by name from a :class:`Batch`
    with the :data:`TRANSITION_FIELDS`, by position from any other five-item sequence (a plain
    tuple, or a buffer whose fields have other names)."""
    fields = getattr(batch, "_fields", ())
    if all(name in fields for name in TRANSITION_FIELDS):
        return tuple(batch[name] for name in TRANSITION_FIELDS)
    if len(batch) != len(TRANSITION_FIELDS):
        raise ValueError(
            f"learn: expected a sample of {len(TRANSITION_FIELDS)} fields "
            f"{TRANSITION_FIELDS}, got {len(batch)}"
        )
    return tuple(batch)


class MultiAgentReplayBuffer:
    """Fixed-size ring of transitions, each field stored per agent as one contiguous array.

    Arrays are allocated at the first save from the shapes seen, so no Python object is kept per
    transition. Values are stored as float32 (images given as uint8 stay uint8) and sampled as
    float32 torch tensors on ``device``. Sampling draws indices from the buffer's own seeded
    generator, so a population sharing the buffer samples reproducibly.
    """

    def __init__(
        self,
        memory_size: int,
        field_names: Sequence[str],
        agent_ids: Sequence[str],
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ):
        if int(memory_size) < 1:
            raise ValueError(f"memory_size must be a positive integer, got {memory_size!r}")
        self.memory_size = int(memory_size)
        self.field_names = list(field_names)
        self.agent_ids = list(agent_ids)
        self.device = torch.device(device)
        self.rng = np.random.default_rng(seed)
        self.counter = 0
        """Transitions ever saved."""
        self._size = 0
        self._pos = 0
        self._data: dict[str, dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        """Transitions currently held."""
        return self._size

    @property
    def nbytes(self) -> int:
        """Bytes held by the preallocated storage."""
        if self._data is None:
            return 0
        return sum(arr.nbytes for field in self._data.values() for arr in field.values())

    def _allocate(self, values: Sequence[dict[str, Any]]) -> None:
        self._data = {}
        for name, field in zip(self.field_names, values, strict=True):
            self._data[name] = {}
            for agent in self.agent_ids:
                sample = np.asarray(field[agent])
                dtype = np.uint8 if sample.dtype == np.uint8 else np.float32
                shape = sample.shape[1:]
                self._data[name][agent] = np.zeros((self.memory_size, *shape), dtype=dtype)

    def save_to_memory(self, *values: dict[str, Any], is_vectorised: bool = False) -> None:
        """Store one transition (or, with ``is_vectorised``, one per env copy along axis 0).

        ``values`` are per-agent dicts in the order of ``field_names``, e.g.
        ``save_to_memory(state, action, reward, next_state, done)``.
        """
        if len(values) != len(self.field_names):
            raise ValueError(
                f"save_to_memory expected {len(self.field_names)} fields "
                f"({', '.join(self.field_names)}), got {len(values)}"
            )
        if not is_vectorised:
            values = tuple({a: np.asarray(v[a])[None] for a in self.agent_ids} for v in values)
        if self._data is None:
            self._allocate(values)
        batch = len(np.asarray(values[0][self.agent_ids[0]]))
        if batch > self.memory_size:  # only the newest memory_size rows can be kept
            values = tuple(
                {a: np.asarray(v[a])[-self.memory_size :] for a in self.agent_ids} for v in values
            )
            self.counter += batch - self.memory_size
            batch = self.memory_size
        first = min(batch, self.memory_size - self._pos)
        for name, field in zip(self.field_names, values, strict=True):
            for agent in self.agent_ids:
                store, rows = self._data[name][agent], np.asarray(field[agent])
                store[self._pos : self._pos + first] = rows[:first]
                if first < batch:
                    store[: batch - first] = rows[first:]
        self._pos = (self._pos + batch) % self.memory_size
        self._size = min(self._size + batch, self.memory_size)
        self.counter += batch

    def sample(self, batch_size: int) -> Batch:
        """Uniformly sample ``batch_size`` transitions (with replacement): one dict per field,
        as a :class:`Batch` (a tuple in ``field_names`` order, also named by them)."""
        if self._size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = self.rng.integers(0, self._size, size=int(batch_size))
        return Batch(
            (
                {a: self._to_tensor(self._data[name][a][idx]) for a in self.agent_ids}
                for name in self.field_names
            ),
            self.field_names,
        )

    def _to_tensor(self, rows: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(rows)
        if tensor.dtype != torch.float32:
            tensor = tensor.float()
        return tensor.to(self.device, non_blocking=True)

    def snapshot(self) -> dict[str, Any]:
        """The held transitions as plain numpy arrays (views, no copy) and the ring's counters:
        what :meth:`from_snapshot` rebuilds a private buffer from. The sampling generator is not
        part of it (a copy samples with its own seed)."""
        data = None
        if self._data is not None:
            data = {name: {a: arr[: self._size] for a, arr in field.items()}
                    for name, field in self._data.items()}  # fmt: skip
        return {
            "memory_size": self.memory_size, "field_names": list(self.field_names),
            "agent_ids": list(self.agent_ids), "counter": self.counter, "size": self._size,
            "pos": self._pos, "data": data,
        }  # fmt: skip

    @classmethod
    def from_snapshot(
        cls, snapshot: dict[str, Any], device: str | torch.device = "cpu", seed: int | None = None
    ) -> MultiAgentReplayBuffer:
        """A writable buffer holding a copy of ``snapshot`` (see :meth:`snapshot`), sampling from
        a generator seeded with ``seed``: saving to it never changes the snapshot's arrays."""
        buffer = cls(snapshot["memory_size"], snapshot["field_names"], snapshot["agent_ids"],
                     device=device, seed=seed)  # fmt: skip
        if snapshot["data"] is not None:
            buffer._data = {}
            for name, field in snapshot["data"].items():
                buffer._data[name] = {}
                for agent, rows in field.items():
                    store = np.zeros((buffer.memory_size, *rows.shape[1:]), dtype=rows.dtype)
                    store[: len(rows)] = rows
                    buffer._data[name][agent] = store
        buffer.counter = int(snapshot["counter"])
        buffer._size, buffer._pos = int(snapshot["size"]), int(snapshot["pos"])
        return buffer

    def newest(self, count: int) -> dict[str, dict[str, np.ndarray]]:
        """Copies of the newest ``min(count, len(self))`` transitions, oldest first, per field
        and agent (as stored: float32, or uint8 images)."""
        count = min(int(count), self._size)
        if self._data is None or count == 0:
            return {}
        rows = (self._pos - count + np.arange(count)) % self.memory_size
        return {name: {a: arr[rows] for a, arr in field.items()}
                for name, field in self._data.items()}  # fmt: skip

    def extend(self, transitions: dict[str, dict[str, np.ndarray]], count: int) -> None:
        """Append ``count`` transitions saved elsewhere, of which ``transitions`` (see
        :meth:`newest`) holds the newest: the ring ends as if each had been saved here."""
        kept = len(next(iter(transitions[self.field_names[0]].values()))) if transitions else 0
        lost = int(count) - kept  # > 0 only when more than memory_size were saved: all kept rows
        self.counter += lost  # are the newest, written where a save of each would have put them
        if kept:
            self._pos = (self._pos + lost) % self.memory_size
            self.save_to_memory(*(transitions[name] for name in self.field_names),
                                is_vectorised=True)  # fmt: skip

    def save(self, path: str | os.PathLike) -> None:
        """Write the held transitions, ring position and generator state to ``path`` atomically."""
        meta = {
            "memory_size": self.memory_size,
            "field_names": self.field_names,
            "agent_ids": self.agent_ids,
            "counter": self.counter,
            "size": self._size,
            "pos": self._pos,
            "rng": self.rng.bit_generator.state,
        }
        arrays = {"__meta__": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        if self._data is not None:
            for name, field in self._data.items():
                for agent, arr in field.items():
                    arrays[f"{name}/{agent}"] = arr[: self._size]

        def write(handle):
            np.savez(handle, **arrays)

        atomic_write(path, write)

    def load(self, path: str | os.PathLike) -> None:
        """Restore a buffer written by :meth:`save` (same fields and agents) from ``path``."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                meta = json.loads(bytes(archive["__meta__"]).decode())
                arrays = {k: archive[k] for k in archive.files if k != "__meta__"}
            # a foreign .npz may carry a __meta__ of another shape: check it here so that it
            # gets the same clear error as any other unreadable file
            missing = [key for key in _META_KEYS if key not in meta]
            if missing:
                raise ValueError(f"its metadata lacks {missing}")
            rng = np.random.default_rng()
            rng.bit_generator.state = meta["rng"]
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: replay buffer file not found") from None
        except Exception as err:  # zip/JSON/key errors from a corrupt or foreign file
            raise ValueError(f"{path}: not a readable replay buffer file ({err})") from None
        if meta["field_names"] != self.field_names or meta["agent_ids"] != self.agent_ids:
            raise ValueError(
                f"{path}: buffer holds fields {meta['field_names']} "
                f"for agents {meta['agent_ids']}, "
                f"expected fields {self.field_names} for agents {self.agent_ids}"
            )
        self.memory_size = int(meta["memory_size"])
        self._data = None
        if arrays:
            self._data = {name: {} for name in self.field_names}
            for key, arr in arrays.items():
                name, agent = key.split("/", 1)
                store = np.zeros((self.memory_size, *arr.shape[1:]), dtype=arr.dtype)
                store[: len(arr)] = arr
                self._data[name][agent] = store
        self.counter, self._size, self._pos = meta["counter"], meta["size"], meta["pos"]
        self.rng = rng


__all__ = ["TRANSITION_FIELDS", "Batch", "MultiAgentReplayBuffer", "transition"]
