"""Agent checkpoints: one file of state_dicts plus JSON metadata, never pickled classes.

Format (a dict written with ``torch.save`` through :func:`marlpipe.io.atomic_write`)::

    {"format": "marlpipe-checkpoint", "version": 1,
     "metadata": "<JSON: algo, spec, net configs, hyperparameters, evolution data, numpy RNG>",
     "state": {"actor/<agent>": state_dict, "actor_target/<agent>": ..., "critic": ...,
               "critic_target": ..., "actor_optimizer": ..., "critic_optimizer": ...,
               "torch_rng": {"state": uint8 tensor}}}

``torch_rng`` is the agent's own generator's state; ``"device": "<type>"`` is added beside it only
when that generator was not on the CPU (so CPU checkpoints are unchanged). Loaded on a device of
the same type, the state is restored exactly; on another (a CUDA elite served on a CPU), the new
generator is seeded from the saved state's bytes instead (``agent_state.restore_torch_rng``).

It is read back with ``torch.load(weights_only=True)`` after checking the CRC-32 of every zip
member (torch itself does not, so flipped bits would load as wrong weights). The architecture is
rebuilt from the network configs in the metadata, so a mutated agent loads without the caller
knowing its shape. Loading into an existing agent is all-or-nothing, and no load draws from the
global torch RNG.

This module handles the file (format, integrity, errors naming the file); the agent says what
its state is and rebuilds itself from it (``metadata()``, ``state_dicts()``, ``from_state()``,
``load_state()``, see ``agent_state.py``), and the class of a saved agent comes from
:mod:`marlpipe.registry`. A population is one checkpoint per member plus an index file.
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from marlpipe.algos.checkpoint_checks import SpecMismatchError, check_content
from marlpipe.errors import MarlpipeError
from marlpipe.io import atomic_dir, atomic_write, read_json, write_json
from marlpipe.registry import ALGORITHMS, algorithm_class

FORMAT = "marlpipe-checkpoint"
VERSION = 1
INDEX_FILE = "population.json"
"""The index of a saved population: ``{"members": [{"file": ..., "index": ...}, ...]}``."""
LOAD_ERRORS = (KeyError, ValueError, RuntimeError, TypeError, AttributeError, IndexError)
"""What rebuilding an agent from mismatched content can raise; each becomes a CheckpointError."""


class CheckpointError(MarlpipeError, ValueError):
    """A checkpoint file is missing, unreadable, or not what the caller expected."""


def save_checkpoint(agent: Any, path: str | os.PathLike) -> Path:
    """Write ``agent`` to ``path`` as one file, atomically."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "metadata": json.dumps(agent.metadata()),
        "state": agent.state_dicts(),
    }
    return atomic_write(path, lambda handle: torch.save(payload, handle))


def _verify_archive(path: Path) -> None:
    """CheckpointError unless ``path`` is a zip whose members all match their CRC-32."""
    try:
        with zipfile.ZipFile(path) as archive:
            corrupt = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise CheckpointError(
            f"{path}: not a readable marlpipe checkpoint (corrupt or truncated?): {err}"
        ) from None
    if corrupt is not None:
        raise CheckpointError(f"{path}: corrupt checkpoint: member {corrupt!r} fails its CRC-32")


def read_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Read and validate a checkpoint: ``(metadata, state)``, or a :class:`CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    _verify_archive(path)
    try:
        payload = torch.load(path, weights_only=True, map_location=device)
    except Exception as err:  # foreign pickle, bad record, ...: all mean "not readable"
        raise CheckpointError(
            f"{path}: not a readable marlpipe checkpoint (corrupt or truncated?): {err}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a marlpipe checkpoint (expected format {FORMAT!r})")
    if payload.get("version") != VERSION:
        raise CheckpointError(
            f"{path}: checkpoint version {payload.get('version')!r}, expected {VERSION}"
        )
    try:
        metadata = json.loads(payload["metadata"])
        state = payload["state"]
        required = ("algo", "spec", "net_configs", "hyperparameters", "np_rng")
        missing = [k for k in required if k not in metadata]
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: malformed checkpoint metadata ({err})") from None
    if missing or not isinstance(state, dict):
        raise CheckpointError(f"{path}: malformed checkpoint, missing metadata {missing}")
    return metadata, state


def _check_algo(path: str | os.PathLike, metadata: dict[str, Any], expected: str) -> None:
    if metadata["algo"] != expected:
        raise CheckpointError(
            f"{path}: checkpoint holds a {metadata['algo']} agent, expected {expected}"
        )


@contextlib.contextmanager
def _content_errors(path: str | os.PathLike) -> Iterator[None]:
    """Turn what mismatched content raises while an agent is built into a CheckpointError."""
    try:
        yield
    except SpecMismatchError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except LOAD_ERRORS as err:
        raise CheckpointError(f"{path}: checkpoint content does not fit together ({err})") from None


def load_agent(
    path: str | os.PathLike, device: str | torch.device = "cpu", expected: type | None = None
) -> Any:
    """Rebuild the agent saved in ``path``; its class comes from the metadata.

    With ``expected`` (e.g. ``MATD3``), a checkpoint of another algorithm is a CheckpointError.
    """
    metadata, state = read_checkpoint(path, device)
    if expected is not None:
        _check_algo(path, metadata, expected.algo_name)
    if metadata["algo"] not in ALGORITHMS:
        raise CheckpointError(
            f"{path}: unknown algorithm {metadata['algo']!r}, expected one of {list(ALGORITHMS)}"
        )
    cls = algorithm_class(metadata["algo"])
    with _content_errors(path):
        check_content(cls, metadata, state)
        return cls.from_state(metadata, state, device)


def load_checkpoint_into(agent: Any, path: str | os.PathLike) -> None:
    """Load ``path`` into an existing agent of the same algorithm and env spec.

    All-or-nothing: on any error ``agent`` is left exactly as it was.
    """
    metadata, state = read_checkpoint(path, agent.device)
    _check_algo(path, metadata, agent.algo_name)
    with _content_errors(path):
        agent.load_state(metadata, state)  # checks the content and the spec itself


def save_population(population: list[Any], directory: str | os.PathLike) -> None:
    """Replace ``directory`` with one checkpoint per member plus an index file, atomically."""
    with atomic_dir(directory) as tmp:
        files = []
        for position, agent in enumerate(population):
            name = f"member_{position:02d}.pt"
            save_checkpoint(agent, tmp / name)
            files.append({"file": name, "index": int(agent.index)})
        write_json(tmp / INDEX_FILE, {"members": files})


def load_population(directory: str | os.PathLike, device: str = "cpu") -> list[Any]:
    """Load every member saved by :func:`save_population`, in population order."""
    directory = Path(directory)
    index = read_json(directory / INDEX_FILE)
    return [load_agent(directory / entry["file"], device=device) for entry in index["members"]]
