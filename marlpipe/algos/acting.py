"""Acting: actions of every agent's actor for raw observations, with exploration and masking."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from marlpipe.algos.base import masked_choice, preprocess_observation


class ActingMixin:
    """``get_action`` of an agent with per-agent ``actors``, continuous action scales
    (``_scales``), one-hot tables of discrete actions (``_one_hots``) and a numpy ``np_rng``."""

    def get_action(
        self,
        obs: dict[str, np.ndarray],
        epsilon: float = 0.0,
        agent_mask: dict[str, Any] | None = None,
        env_defined_actions: dict[str, Any] | None = None,
        training: bool = True,
    ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Actions for raw observations, unbatched or batched over env copies (leading axis).

        Returns ``(actions_to_store, actions_for_env)``: continuous actions are the same array in
        both; discrete ones are one-hot float32 vectors to store and int indices for the env.
        With ``training`` continuous actions get Gaussian noise (sd ``expl_noise`` x half-range,
        clipped to the bounds) and discrete ones are uniformly random with probability
        ``epsilon``, independently per env copy. Where ``agent_mask`` is False the env-defined
        action replaces the agent's in both outputs. Agents missing from ``obs`` are skipped.
        """
        to_store, for_env = {}, {}
        with torch.inference_mode():  # once per call: entering it per agent costs more than a layer
            for agent in self.agent_ids:
                if agent in obs:
                    self._act(agent, obs[agent], epsilon, agent_mask, env_defined_actions,
                              training, to_store, for_env)  # fmt: skip
        return to_store, for_env

    def _act(
        self,
        agent: str,
        raw: Any,
        epsilon: float,
        agent_mask: dict[str, Any] | None,
        env_defined_actions: dict[str, Any] | None,
        training: bool,
        to_store: dict[str, np.ndarray],
        for_env: dict[str, np.ndarray],
    ) -> None:
        """One agent's part of :meth:`get_action`, written into ``to_store`` and ``for_env``."""
        obs_spec, act_spec = self.spec.observations[agent], self.spec.actions[agent]
        raw = np.asarray(raw)
        batched = raw.ndim > len(obs_spec.shape)
        x = torch.as_tensor(raw if batched else raw[None], device=self.device)
        out = self.actors[agent](preprocess_observation(x, obs_spec))
        if not act_spec.discrete:
            out = self._scales[agent](out)
        chosen = (out.argmax(-1) if act_spec.discrete else out).cpu().numpy()
        if training:
            chosen = self._explore(agent, chosen, epsilon)
        mask = None if agent_mask is None else agent_mask.get(agent)
        if mask is not None and env_defined_actions is not None:
            defined = env_defined_actions.get(agent)
            chosen = masked_choice(chosen, mask, defined, act_spec, batched, agent)
        if act_spec.discrete:
            store = self._one_hots[agent][chosen]
            if not batched:
                store, chosen = store[0], chosen[0]
            to_store[agent], for_env[agent] = store, chosen
        else:
            to_store[agent] = for_env[agent] = chosen if batched else chosen[0]

    def _explore(self, agent: str, chosen: np.ndarray, epsilon: float) -> np.ndarray:
        if self.spec.actions[agent].discrete:
            if epsilon <= 0:
                return chosen
            n = len(chosen)
            explore = self.np_rng.random(n) < epsilon
            random = self.np_rng.integers(self.spec.actions[agent].n, size=n)
            return np.where(explore, random, chosen)
        if self.expl_noise <= 0:
            return chosen
        scale = self._scales[agent]
        noise = self.np_rng.standard_normal(chosen.shape, dtype=np.float32)
        chosen += noise * (self.expl_noise * scale.half_np)
        # np.clip's own checks cost more than the clipping of a few rows; same values (NaN too)
        np.maximum(chosen, scale.low_np, out=chosen)
        return np.minimum(chosen, scale.high_np, out=chosen)
