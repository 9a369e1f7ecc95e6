"""Tiny PettingZoo parallel environments for tests and examples.

``match_env``: each agent sees a target symbol and is rewarded for naming it. Its observation can
be a Discrete index, a one-hot vector or an [H, W, C] image; it can also ask for agent masking
(one agent acts only every other step, in every episode or in a random share of them), end
episodes by termination before truncation, or, for error tests, expose an unsupported space or
raise in ``step``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv


class MatchEnv(ParallelEnv):
    """Two agents, ``n_symbols`` targets; reward 1 for an action equal to the agent's target."""

    metadata = {"name": "match_v0", "render_modes": []}

    def __init__(
        self,
        observation: str = "discrete",
        n_symbols: int = 4,
        max_cycles: int = 10,
        masked: bool = False,
        continuous_actions: bool = False,
        masked_chance: float = 0.0,
        terminate_at: int | None = None,
        fail_at: int | None = None,
    ):
        """``masked_chance``: when ``masked`` is False, the probability that an episode is
        masked, drawn at reset from the seeded generator (so vec env copies differ).
        ``terminate_at``: the step at which every agent terminates (if before ``max_cycles``).
        ``fail_at``: the step at which ``step`` raises a RuntimeError."""
        if observation not in ("discrete", "vector", "image", "dict"):
            raise ValueError(
                f"observation must be discrete, vector, image or dict, got {observation!r}"
            )
        self.observation, self.n_symbols, self.max_cycles = observation, n_symbols, max_cycles
        self.masked, self.continuous_actions = masked, continuous_actions
        self.masked_chance, self.terminate_at = masked_chance, terminate_at
        self.fail_at = fail_at
        self._masked_episode = masked
        self.possible_agents = ["alpha_0", "beta_0"]
        self.agents: list[str] = []
        self._rng = np.random.default_rng()
        self._targets: dict[str, int] = {}
        self._step = 0

    def observation_space(self, agent: str) -> spaces.Space:
        if self.observation == "discrete":
            return spaces.Discrete(self.n_symbols)
        if self.observation == "vector":
            return spaces.Box(0.0, 1.0, (self.n_symbols,), np.float32)
        if self.observation == "image":
            return spaces.Box(0, 255, (6, 5, self.n_symbols), np.uint8)
        return spaces.Dict({"target": spaces.Discrete(self.n_symbols)})

    def action_space(self, agent: str) -> spaces.Space:
        if self.continuous_actions:
            return spaces.Box(0.0, 1.0, (self.n_symbols,), np.float32)
        return spaces.Discrete(self.n_symbols)

    def _observe(self, agent: str):
        target = self._targets[agent]
        if self.observation == "discrete":
            return target
        if self.observation == "vector":
            return np.eye(self.n_symbols, dtype=np.float32)[target]
        if self.observation == "image":
            image = np.zeros((6, 5, self.n_symbols), np.uint8)
            image[..., target] = 255
            return image
        return {"target": target}

    def _infos(self) -> dict[str, Any]:
        infos: dict[str, Any] = {a: {} for a in self.agents}
        if self._masked_episode:
            acting = self._step % 2 == 0
            infos["agent_mask"] = {"alpha_0": True, "beta_0": acting}
            infos["env_defined_actions"] = {"alpha_0": None, "beta_0": 0}
        return infos

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._step = 0
        # drawn only when asked for, so the target sequence of other settings stays as it was
        if not self.masked and self.masked_chance > 0:
            self._masked_episode = bool(self._rng.random() < self.masked_chance)
        self._targets = {a: int(self._rng.integers(self.n_symbols)) for a in self.agents}
        return {a: self._observe(a) for a in self.agents}, self._infos()

    def step(self, actions: dict[str, Any]):
        if self.fail_at is not None and self._step + 1 >= self.fail_at:
            raise RuntimeError(f"match_env: failing at step {self._step + 1} (fail_at)")
        rewards = {}
        for agent in self.agents:
            action = actions[agent]
            chosen = int(np.argmax(action)) if self.continuous_actions else int(action)
            rewards[agent] = float(chosen == self._targets[agent])
        self._step += 1
        self._targets = {a: int(self._rng.integers(self.n_symbols)) for a in self.agents}
        terminated = self.terminate_at is not None and self._step >= self.terminate_at
        truncated = not terminated and self._step >= self.max_cycles
        observations = {a: self._observe(a) for a in self.agents}
        terminations = {a: terminated for a in self.agents}
        truncations = {a: truncated for a in self.agents}
        infos = self._infos()
        if terminated or truncated:
            self.agents = []
        return observations, rewards, terminations, truncations, infos


def match_env(**kwargs: Any) -> MatchEnv:
    """Factory for ``make_env("marlpipe.envs.toy:match_env", ...)``."""
    return MatchEnv(**kwargs)
