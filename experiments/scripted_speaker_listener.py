"""What a scripted "go to the goal" listener scores on speaker-listener, mpe2 and VMAS side by side.

The listener is steered straight at the goal landmark it is told of by the simulator (what a
perfect speaker and listener could do): action = clip(gain * (goal - position) - damping *
velocity). It is a ceiling to read learned scores against, next to the random policy's floor:
VMAS's speaker-listener gives the listener a fifth of MPE's force, so there even this policy stays
far from the landmarks (see ``marlpipe/envs/vmas_scenarios.py``). Same 100 episodes of 25 steps
as the evaluate stage's (``evaluate.seed`` 12345 for VMAS; mpe2 episodes seeded 12345 + k).

    python experiments/scripted_speaker_listener.py

An experiment (a baseline score), not a benchmark: it measures no speed or memory, so it lives
in ``experiments/`` and does not use ``benchmarks/harness.py``. It takes about a minute.
"""

from __future__ import annotations

import argparse

import numpy as np

from marlpipe.algos.episodes import run_episodes
from marlpipe.envs import EnvFactory
from marlpipe.results.baselines import RandomPolicy
from marlpipe.seeding import spawn_seeds

EPISODES, STEPS, SEED = 100, 25, 12345
CONTROLLERS = ((1.0, 0.0), (2.0, 0.5), (5.0, 0.0), (10.0, 2.0), (20.0, 4.0))
"""(gain, damping) pairs tried; the best is reported."""


def mpe2_scripted(gain: float, damping: float) -> float:
    from mpe2 import simple_speaker_listener_v4

    env = simple_speaker_listener_v4.parallel_env(continuous_actions=True, max_cycles=STEPS)
    totals = []
    for episode in range(EPISODES):
        env.reset(seed=SEED + episode)
        world = env.unwrapped.world
        total = 0.0
        for _ in range(STEPS):
            listener, goal = world.agents[1], world.agents[0].goal_b
            push = gain * (goal.state.p_pos - listener.state.p_pos) - damping * listener.state.p_vel
            push = np.clip(push, -1.0, 1.0)
            # mpe2's continuous action: [no-op, -x, +x, -y, +y] as forces in [0, 1]
            action = np.array([0, max(-push[0], 0), max(push[0], 0), max(-push[1], 0),
                               max(push[1], 0)], np.float32)  # fmt: skip
            speaker = np.zeros(3, np.float32)
            _, rewards, *_ = env.step({"speaker_0": speaker, "listener_0": action})
            total += sum(rewards.values())
        totals.append(total)
    env.close()
    return float(np.mean(totals))


def vmas_scripted(gain: float, damping: float, **kwargs: float) -> float:
    env = EnvFactory("vmas.simple_speaker_listener_per_copy", kwargs).eval_env(EPISODES)
    obs, _ = env.reset(seed=SEED, seeds=spawn_seeds(SEED, EPISODES))
    scenario = env._env.scenario  # the goal per copy
    totals = np.zeros(EPISODES)
    for _ in range(STEPS):
        landmarks = obs["listener_0"][:, 2:8].reshape(EPISODES, 3, 2)  # relative positions
        to_goal = landmarks[np.arange(EPISODES), scenario.goal.numpy()]
        push = np.clip(gain * to_goal - damping * obs["listener_0"][:, :2], -1.0, 1.0)
        actions = {"speaker_0": np.zeros((EPISODES, 5), np.float32),
                   "listener_0": push.astype(np.float32)}  # fmt: skip
        obs, rewards, *_ = env.step(actions)
        totals += rewards["speaker_0"] + rewards["listener_0"]
    env.close()
    return float(totals.mean())


def random_score(**kwargs: float) -> float:
    """The random policy's score, as the results table's baselines measure it."""
    if not kwargs:
        from pathlib import Path

        from marlpipe.config import load_params
        from marlpipe.results.baselines import baseline_scores

        preset = Path(__file__).resolve().parents[1] / "configs" / "speaker_listener.yaml"
        return float(baseline_scores(load_params(preset))["random"]["score"])
    env = EnvFactory("vmas.simple_speaker_listener_per_copy", kwargs).eval_env(EPISODES)
    returns = run_episodes(RandomPolicy(env.spec, SEED, EPISODES), env, EPISODES, STEPS, SEED)
    env.close()
    return float(returns.sum(1).mean())


def main() -> None:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()
    rows = [
        ("mpe2 simple_speaker_listener_v4", mpe2_scripted, {}),
        ("VMAS per-copy, u_multiplier 1 (VMAS's force)", vmas_scripted, {"u_multiplier": 1.0}),
        ("VMAS per-copy, u_multiplier 5 (MPE's force)", vmas_scripted, {"u_multiplier": 5.0}),
    ]
    print(f"{'env':48} {'best scripted':>13} {'(gain, damping)':>16} {'random':>8}")
    for name, scripted, kwargs in rows:
        scores = {c: scripted(*c, **kwargs) for c in CONTROLLERS}
        best = max(scores, key=scores.get)
        random = random_score(**kwargs)
        print(f"{name:48} {scores[best]:13.1f} {str(best):>16} {random:8.1f}")


if __name__ == "__main__":
    main()
