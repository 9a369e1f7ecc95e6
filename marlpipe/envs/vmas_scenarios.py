"""VMAS scenarios of marlpipe's own, for where a VMAS scenario's batching changes the task.

``simple_speaker_listener_per_copy``: VMAS's ``simple_speaker_listener`` draws the goal landmark
once per *batched* reset, so every copy of the batch shares it (``reset_at`` of one copy keeps
it). mpe2, and the MADDPG paper's task, draw a goal per episode. With VMAS's scenario a batch of
64 training copies sees one goal per episode, and a batched evaluation of 100 episodes scores
the team on one goal only. This scenario is the same task (same agents, landmarks, observations,
actions and reward as VMAS's) with the goal drawn per copy: a batched reset draws one per copy,
``reset_at(i)`` redraws copy ``i``'s. Everything is batched tensors; nothing loops over copies.

Reward, as VMAS's: each agent gets ``-2 * |listener - goal landmark|`` (VMAS sums the distance
once per agent), so its random-policy score is on VMAS's scale, not mpe2's squared distance.

``env.kwargs: {u_multiplier: 5}`` gives the listener MPE's force: MPE (and mpe2) multiply a
continuous movement action by a sensitivity of 5, VMAS's speaker-listener by 1, so there the
listener accelerates five times slower and cannot reach a far landmark in 25 steps (a scripted
"go to the goal" policy scores about -62 against the random policy's -106). Default 1: VMAS's.
"""

from __future__ import annotations

from typing import Any


def _scenarios() -> dict[str, Any]:
    """Name -> scenario class (VMAS imported only when a scenario is asked for)."""
    import torch
    from vmas.simulator.core import Agent, Landmark, Sphere, World
    from vmas.simulator.scenario import BaseScenario
    from vmas.simulator.utils import ScenarioUtils

    landmark_colors = ((0.65, 0.15, 0.15), (0.15, 0.65, 0.15), (0.15, 0.15, 0.65))

    class SpeakerListenerPerCopy(BaseScenario):
        """Speaker-listener with a goal landmark per copy (see the module doc)."""

        def make_world(self, batch_dim: int, device: torch.device, **kwargs: Any) -> World:
            force = float(kwargs.pop("u_multiplier", 1.0))
            ScenarioUtils.check_kwargs_consumed(kwargs)
            world = World(batch_dim=batch_dim, device=device, dim_c=3)
            world.add_agent(Agent(name="speaker_0", collide=False, movable=False,
                                  silent=False, shape=Sphere(radius=0.075)))  # fmt: skip
            world.add_agent(Agent(name="listener_0", collide=False, movable=True, silent=True,
                                  shape=Sphere(radius=0.075), u_multiplier=force))  # fmt: skip
            self.colors = torch.tensor(landmark_colors, device=device, dtype=torch.float32)
            for i, color in enumerate(landmark_colors):
                landmark = Landmark(name=f"landmark {i}", collide=False, shape=Sphere(radius=0.04))
                landmark.color = torch.tensor(color, device=device, dtype=torch.float32)
                world.add_landmark(landmark)
            self.goal = torch.zeros(batch_dim, device=device, dtype=torch.long)
            return world

        def reset_world_at(self, env_index: int | None = None) -> None:
            world = self.world
            rows = world.batch_dim if env_index is None else 1
            goal = torch.randint(0, len(world.landmarks), (rows,), device=world.device)
            if env_index is None:
                self.goal = goal
            else:
                self.goal[env_index] = goal[0]
            for entity in (*world.agents, *world.landmarks):
                pos = torch.zeros((rows, world.dim_p), device=world.device, dtype=torch.float32)
                entity.set_pos(pos.uniform_(-1.0, 1.0), batch_index=env_index)

        def _goal_pos(self) -> torch.Tensor:
            positions = torch.stack([lm.state.pos for lm in self.world.landmarks], dim=1)
            return positions[torch.arange(self.world.batch_dim, device=self.world.device),
                             self.goal]  # fmt: skip

        def reward(self, agent: Agent) -> torch.Tensor:
            listener = self.world.agents[1]
            distance = torch.linalg.vector_norm(listener.state.pos - self._goal_pos(), dim=-1)
            return -float(len(self.world.agents)) * distance

        def observation(self, agent: Agent) -> torch.Tensor:
            if not agent.movable:  # the speaker sees the goal's colour
                return self.colors[self.goal]
            entity_pos = [lm.state.pos - agent.state.pos for lm in self.world.landmarks]
            comm = [
                o.state.c for o in self.world.agents if o is not agent and o.state.c is not None
            ]
            return torch.cat([agent.state.vel, *entity_pos, *comm], dim=-1)

    return {"simple_speaker_listener_per_copy": SpeakerListenerPerCopy}


OWN_SCENARIOS = ("simple_speaker_listener_per_copy",)
"""Scenario names marlpipe adds to VMAS's (``env.name: vmas.<name>``)."""


def own_scenario(name: str) -> Any:
    """A fresh instance of marlpipe's scenario ``name`` (one of :data:`OWN_SCENARIOS`)."""
    return _scenarios()[name]()


__all__ = ["OWN_SCENARIOS", "own_scenario"]
