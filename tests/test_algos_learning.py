"""Learning tests: MATD3/MADDPG beat a random policy on speaker-listener (fixed seeds, CPU).

The greedy score is the mean over 32 episodes (8 eval env copies, own seeds) of the return
summed over both agents. A uniformly random policy scores about -73 (continuous) and -71
(discrete) on these seeds, measured by ``random_score`` below; after 100k env transitions these
runs reach about -30 (MATD3), -18 (MADDPG) and -25 (MATD3, discrete) in ~30 s each on 2 idle
cores. Thresholds leave a wide margin while staying far above random.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from marlpipe.algos import MADDPG, MATD3
from marlpipe.algos.buffer import MultiAgentReplayBuffer
from marlpipe.envs import make_vec_env, random_actions

pytestmark = pytest.mark.slow

ENV = "mpe2.simple_speaker_listener_v4"
FIELDS = ["state", "action", "reward", "next_state", "done"]
EVAL_SEED, EVAL_EPISODES = 123, 32


def random_score(continuous: bool) -> float:
    """Mean summed return of uniformly random actions on the evaluation seeds."""
    env = make_vec_env(ENV, 8, seed=EVAL_SEED, continuous_actions=continuous)
    rng = np.random.default_rng(0)
    env.reset()
    totals = []
    for _ in range(EVAL_EPISODES // env.num_envs):  # episodes last 25 steps in every copy
        total = np.zeros(env.num_envs)
        for _ in range(25):
            _, rewards, *_ = env.step(random_actions(env.spec, env.num_envs, rng))
            total += sum(rewards.values())
        totals.extend(total)
    env.close()
    return float(np.mean(totals))


def train(algo, continuous: bool, env_steps: int, learn_step: int, seed: int = 0) -> float:
    """Lean loop: 8 envs, one learn() per ``learn_step`` collected transitions; greedy score."""
    env = make_vec_env(ENV, 8, seed=seed, continuous_actions=continuous)
    agent = algo(env.spec, {"hidden_sizes": [64, 64]}, batch_size=1024, learn_step=learn_step,
                 seed=seed)  # fmt: skip
    buffer = MultiAgentReplayBuffer(200_000, FIELDS, env.agent_ids, seed=seed)
    obs, _ = env.reset(seed=seed)
    collected, due = 0, 0
    while collected < env_steps:
        store, actions = agent.get_action(obs, epsilon=0.1)
        next_obs, rewards, terms, _, infos = env.step(actions)
        buffer.save_to_memory(obs, store, rewards, infos["final_obs"], terms, is_vectorised=True)
        obs = next_obs
        collected += env.num_envs
        due += env.num_envs
        if len(buffer) >= agent.batch_size:
            while due >= agent.learn_step:
                agent.learn(buffer.sample(agent.batch_size))
                due -= agent.learn_step
    env.close()
    eval_env = make_vec_env(ENV, 8, seed=EVAL_SEED, continuous_actions=continuous)
    score = agent.test(eval_env, max_steps=25, loop=EVAL_EPISODES)
    eval_env.close()
    return score


@pytest.mark.parametrize(
    ("algo", "continuous", "env_steps", "learn_step", "threshold"),
    [
        (MATD3, True, 100_000, 25, -45.0),
        (MADDPG, True, 100_000, 25, -45.0),
        (MATD3, False, 100_000, 25, -50.0),
    ],
)
def test_learns_speaker_listener(algo, continuous, env_steps, learn_step, threshold):
    baseline = random_score(continuous)
    start = time.perf_counter()
    score = train(algo, continuous, env_steps, learn_step)
    elapsed = time.perf_counter() - start
    print(f"{algo.__name__} continuous={continuous}: {score:.1f} vs random {baseline:.1f} "
          f"in {elapsed:.0f} s")  # fmt: skip
    assert baseline < -60.0  # the task is not trivially solved by chance
    assert score > threshold, f"{algo.__name__} scored {score:.1f} (random {baseline:.1f})"
