"""Builders the tests share: tiny hand-made specs, observations and batches for the algorithm
tests, and ``TINY``, the overrides of a pipeline that runs in seconds (``conftest.py``'s
fixtures, the CLI and workflow tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from marlpipe.envs.spec import ActionSpec, EnvSpec, ObservationSpec

TINY = {
    "seed": 1,
    "env": {"num_envs": 2},
    "net_config": {"hidden_sizes": [16]},
    "init_hp": {"batch_size": 64, "learn_step": 20},
    # merged experience as the default; "local" trains it in this process, with the numbers of
    # the default "processes" backend (tests/training/test_processes.py) and no pool to start
    "population": {"size": 2, "backend": "local"},
    "evolution": {
        "generations": 2,
        "steps_per_generation": 200,
        "eval_episodes": 1,
        "memory_size": 2000,
    },
    "evaluate": {"episodes": 3},
    "tracking": {"enabled": False, "experiment": "tests"},
}
"""Overrides of the default params for a pipeline that runs in seconds."""


def make_spec(discrete: bool = False, image: bool = False) -> EnvSpec:
    """Two agents: 'a' sees a vector (or a channels-last image), 'b' a Discrete observation."""
    obs_a = (
        ObservationSpec("image", (6, 6, 2), channels_last=True)
        if image
        else ObservationSpec("vector", (3,))
    )
    observations = {"a": obs_a, "b": ObservationSpec("discrete", (), n=5)}
    if discrete:
        actions = {"a": ActionSpec("discrete", n=3), "b": ActionSpec("discrete", n=4)}
    else:
        actions = {
            "a": ActionSpec("continuous", (2,), low=(-1.0, 0.0), high=(1.0, 2.0)),
            "b": ActionSpec("continuous", (3,), low=(0.0,) * 3, high=(1.0,) * 3),
        }
    return EnvSpec(("a", "b"), observations, actions)


def random_obs(spec: EnvSpec, n: int | None, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Raw observations as an env gives them; ``n=None`` for one unbatched observation."""
    lead = () if n is None else (n,)
    obs = {}
    for agent in spec.agent_ids:
        o = spec.observations[agent]
        if o.kind == "discrete":
            obs[agent] = rng.integers(o.n, size=lead)
        else:
            obs[agent] = rng.standard_normal((*lead, *o.shape)).astype(np.float32)
    return obs


def random_batch(spec: EnvSpec, size: int, seed: int = 0) -> tuple[dict[str, torch.Tensor], ...]:
    """A replay-buffer-like sample: (state, action, reward, next_state, done)."""
    rng = np.random.default_rng(seed)
    state, next_state = (random_obs(spec, size, rng) for _ in range(2))
    action = {}
    for agent in spec.agent_ids:
        act = spec.actions[agent]
        if act.discrete:
            action[agent] = np.eye(act.n, dtype=np.float32)[rng.integers(act.n, size=size)]
        else:
            action[agent] = rng.uniform(act.low, act.high, (size, act.dim)).astype(np.float32)
    reward = {a: rng.standard_normal(size).astype(np.float32) for a in spec.agent_ids}
    done = {a: (rng.random(size) < 0.2).astype(np.float32) for a in spec.agent_ids}
    as_torch = [
        {a: torch.as_tensor(np.asarray(v), dtype=torch.float32) for a, v in field.items()}
        for field in (state, action, reward, next_state, done)
    ]
    return tuple(as_torch)


def flat(value, path=""):
    """``(path, dtype, shape, bytes)`` of every array in a nested result (a step's,
    a reset's): what two runs are compared by, byte for byte."""
    if isinstance(value, dict):
        return [item for k in sorted(value) for item in flat(value[k], f"{path}/{k}")]
    if isinstance(value, (list, tuple)):
        return [item for i, v in enumerate(value) for item in flat(v, f"{path}/{i}")]
    array = np.asarray(value)
    return [(path, array.dtype.str, array.shape, array.tobytes())]


def make_team_spec(discrete: bool = False) -> EnvSpec:
    """Teams for shared networks: ``agent_0..2`` (equal spaces, a group of 3), ``adversary_0..1``
    (a group of 2), interleaved in env order, and ``leader_0`` (a team of one)."""

    def action(dim: int) -> ActionSpec:
        if discrete:
            return ActionSpec("discrete", n=dim + 1)
        return ActionSpec("continuous", (dim,), low=(-1.0,) * dim, high=(1.0,) * dim)

    kinds = {"agent": (4, 2), "adversary": (5, 3), "leader": (3, 2)}
    ids = ("agent_0", "adversary_0", "agent_1", "leader_0", "adversary_1", "agent_2")
    observations = {a: ObservationSpec("vector", (kinds[a[:-2]][0],)) for a in ids}
    actions = {a: action(kinds[a[:-2]][1]) for a in ids}
    return EnvSpec(ids, observations, actions)


def checkpoint_weights(path: Path) -> dict[str, torch.Tensor]:
    """The actors' and critics' tensors of the checkpoint at ``path`` (no optimiser state), by
    ``<network>.<parameter>``."""
    payload = torch.load(path, weights_only=True)
    return {
        f"{name}.{key}": value
        for name, part in payload["state"].items()
        if name.startswith(("actor", "critic")) and "optimizer" not in name
        for key, value in part.items()
    }


def speaker_listener_spec() -> EnvSpec:
    """The spec of mpe2's speaker-listener with continuous actions, read from the env."""
    from marlpipe.envs import make_env

    name = "mpe2.simple_speaker_listener_v4"
    env = make_env(name, continuous_actions=True)
    spec = EnvSpec.from_env(env, env_name=name, env_kwargs={"continuous_actions": True})
    env.close()
    return spec
