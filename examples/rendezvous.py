"""Rendezvous: a small PettingZoo ParallelEnv of your own, trained by marlpipe as it is.

Every agent starts at a random point of the square [-1, 1]^2 and moves by its action (a velocity
in [-1, 1]^2, times ``speed``). Each step, every agent is rewarded with minus the mean distance
between the agents, so the team scores best by meeting early. An episode ends after
``max_steps`` steps (truncation). An agent sees its own position and the offsets of the others.

Train it from this folder (docs/your-env.md walks through the rest):

    marlpipe train --set env.name=rendezvous:make --set evolution.generations=5

``make`` is the factory ``env.name`` names; its keyword arguments come from ``env.kwargs``.
It passes PettingZoo's ``parallel_api_test`` (tests/envs/test_your_env.py runs it).
"""

from __future__ import annotations

import itertools

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class Rendezvous(ParallelEnv):
    """``num_agents`` agents that are rewarded for meeting (see the module docstring)."""

    metadata = {"name": "rendezvous_v0", "render_modes": ["rgb_array"]}

    def __init__(
        self,
        num_agents: int = 2,
        max_steps: int = 25,
        speed: float = 0.1,
        render_mode: str | None = None,
    ) -> None:
        if num_agents < 2:
            raise ValueError(f"num_agents: expected 2 or more, got {num_agents}")
        self.possible_agents = [f"agent_{i}" for i in range(num_agents)]
        self.agents: list[str] = []
        self.max_steps, self.speed, self.render_mode = max_steps, speed, render_mode
        self._rng = np.random.default_rng()
        self._positions = np.zeros((num_agents, 2))
        self._steps = 0
        size = 2 * num_agents
        self._observation_space = spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)
        self._action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)

    def observation_space(self, agent: str) -> spaces.Box:
        return self._observation_space  # the same object each call, as PettingZoo expects

    def action_space(self, agent: str) -> spaces.Box:
        return self._action_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._positions = self._rng.uniform(-1.0, 1.0, size=(len(self.agents), 2))
        self._steps = 0
        return self._observations(), {agent: {} for agent in self.agents}

    def step(self, actions: dict[str, np.ndarray]):
        for i, agent in enumerate(self.possible_agents):
            move = np.clip(np.asarray(actions[agent], dtype=np.float64), -1.0, 1.0)
            self._positions[i] += self.speed * move
        self._steps += 1
        reward = -self._mean_distance()
        done = self._steps >= self.max_steps
        observations = self._observations()
        rewards = {agent: reward for agent in self.agents}
        terminations = {agent: False for agent in self.agents}
        truncations = {agent: done for agent in self.agents}
        infos = {agent: {} for agent in self.agents}
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self) -> np.ndarray | None:
        """An RGB frame (a dot per agent on a white square), for ``marlpipe render``."""
        if self.render_mode != "rgb_array":
            return None
        size = 200
        frame = np.full((size, size, 3), 255, dtype=np.uint8)
        for i, (x, y) in enumerate(self._positions):
            col, row = (np.clip(np.array([x, -y]), -1.5, 1.5) + 1.5) / 3.0 * (size - 1)
            shade = (60 * i) % 200
            frame[max(int(row) - 3, 0) : int(row) + 4, max(int(col) - 3, 0) : int(col) + 4] = (
                shade,
                80,
                220 - shade,
            )
        return frame

    def close(self) -> None:
        pass

    def _observations(self) -> dict[str, np.ndarray]:
        out = {}
        for i, agent in enumerate(self.possible_agents):
            offsets = np.delete(self._positions, i, axis=0) - self._positions[i]
            out[agent] = np.concatenate([self._positions[i], offsets.ravel()]).astype(np.float32)
        return out

    def _mean_distance(self) -> float:
        pairs = itertools.combinations(self._positions, 2)
        return float(np.mean([np.linalg.norm(a - b) for a, b in pairs]))


def make(**kwargs) -> Rendezvous:
    """The factory ``env.name: "rendezvous:make"`` names (``env.kwargs`` are its arguments)."""
    return Rendezvous(**kwargs)
