"""Experience collection, the learn-step rule, one generation, determinism and resuming."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from marlpipe.algos.buffer import TRANSITION_FIELDS, MultiAgentReplayBuffer
from marlpipe.algos.checkpoint import load_agent
from marlpipe.algos.episodes import greedy_score
from marlpipe.config import ConfigError, EvolutionConfig, MutationConfig
from marlpipe.envs import make_env, make_vec_env, random_actions
from marlpipe.evolution import Mutations, create_population
from marlpipe.training import (
    LearnSchedule,
    ListTracker,
    LoopState,
    collect,
    evolve,
    run_generation,
    train_multi_agent,
)
from marlpipe.training.agilerl_style import mutations_from_keywords, tournament_from_keywords
from marlpipe.training.rollout import PARTS, EpsilonSchedule, split_copies

SL = "mpe2.simple_speaker_listener_v4"


EVERY_KIND = MutationConfig(
    no_mutation=0.2, architecture=0.2, new_layer_prob=0.5, parameters=0.2, activation=0.2, rl_hp=0.2
)
"""Every mutation kind equally likely."""


class CountingAgent:
    """Random actions; counts ``learn()`` calls and records what ``get_action`` received."""

    def __init__(self, spec, learn_step: int, batch_size: int):
        self.spec, self.learn_step, self.batch_size = spec, learn_step, batch_size
        self.steps, self.learn_calls, self.seen, self.epsilons = 0, 0, [], []
        self.rng = np.random.default_rng(0)

    def get_action(self, obs, epsilon=0.0, agent_mask=None, env_defined_actions=None, **_):
        self.seen.append((agent_mask, env_defined_actions))
        self.epsilons.append(epsilon)
        n = len(next(iter(obs.values())))
        actions = random_actions(self.spec, n, self.rng)
        return actions, actions

    def learn(self, experiences):
        self.learn_calls += 1


class RecordingMemory(MultiAgentReplayBuffer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.saved = []

    def save_to_memory(self, *values, is_vectorised=False):
        self.saved.append(values)
        super().save_to_memory(*values, is_vectorised=is_vectorised)


def test_epsilon_schedule_reaches_its_end_as_documented():
    """The config's defaults reach epsilon_end after the 23,025 transitions that params.yaml,
    config/params.py and the schedule's docstring state, and stay there."""
    schedule = EpsilonSchedule.from_config(EvolutionConfig())
    assert schedule.transitions_to_end() == 23_025
    assert schedule(0) == 1.0 and schedule(23_024) > 0.1 and schedule(23_025) == 0.1
    assert schedule(10**9) == 0.1
    repo = Path(__file__).resolve().parents[2]
    for doc in ("params.yaml", "marlpipe/config/params.py", "marlpipe/training/rollout.py"):
        assert "23,025" in (repo / doc).read_text(), doc
    assert EpsilonSchedule(0.5, 0.5, 0.9).transitions_to_end() == 0


def test_collect_decays_epsilon_with_the_members_own_transitions():
    """Each vector step acts with the epsilon of the member's transitions so far (both parts of
    a step alike), whether or not earlier steps were saved yet."""
    env = make_vec_env(SL, 4, seed=0, continuous_actions=False)
    memory = MultiAgentReplayBuffer(1000, TRANSITION_FIELDS, env.agent_ids, seed=0)
    agent = CountingAgent(env.spec, learn_step=10**6, batch_size=10**6)
    schedule = EpsilonSchedule(1.0, 0.1, 0.9)
    agent.steps = 8  # inherited experience counts
    stats = collect(agent, env, memory, 40, epsilon=schedule, seed=0)
    per_step = [schedule(8 + 4 * k) for k in range(10)]
    assert agent.epsilons == [e for e in per_step for _ in range(PARTS)]
    assert stats.epsilon == per_step[-1] and agent.steps == 48
    agent.epsilons.clear()
    collect(agent, env, memory, 8, epsilon=0.3, seed=0)  # a constant stays constant
    assert agent.epsilons == [0.3] * (2 * PARTS)
    env.close()


def test_learn_schedule_carries_the_remainder():
    schedule = LearnSchedule()
    assert [schedule.owed(8, 3, True) for _ in range(4)] == [2, 3, 3, 2]
    assert [schedule.owed(8, 4, True) for _ in range(3)] == [2, 2, 2]
    schedule = LearnSchedule()
    assert schedule.owed(8, 5, False) == 0 and schedule.credit == 3  # not ready: nothing banked
    assert schedule.owed(8, 5, True) == 2


@pytest.mark.parametrize(("learn_step", "expected"), [(4, 18), (3, 24), (5, 15), (100, 0)])
def test_collect_learns_once_per_learn_step_transitions(learn_step, expected):
    env = make_vec_env(SL, 8, seed=0, continuous_actions=True)
    memory = MultiAgentReplayBuffer(1000, TRANSITION_FIELDS, env.agent_ids, seed=0)
    agent = CountingAgent(env.spec, learn_step, batch_size=16)
    stats = collect(agent, env, memory, env_steps=80, seed=0)
    # 10 vector steps of 8; the first leaves the buffer below batch_size (its calls are dropped,
    # its remainder stays).
    assert agent.learn_calls == stats.learn_calls == expected
    assert stats.env_steps == agent.steps == memory.counter == 80
    # The remainder is kept on the agent for its next turn, not rounded away: with
    # learn_step=100 the 80 transitions are all still owed.
    assert agent.learn_credit == 80 % learn_step
    env.close()


def test_learning_accumulates_across_turns_shorter_than_learn_step():
    env = make_vec_env(SL, 8, seed=0, continuous_actions=True)
    memory = MultiAgentReplayBuffer(1000, TRANSITION_FIELDS, env.agent_ids, seed=0)
    agent = CountingAgent(env.spec, learn_step=100, batch_size=16)
    per_turn = [collect(agent, env, memory, env_steps=80, seed=turn).learn_calls
                for turn in range(5)]  # fmt: skip
    # 400 transitions over five turns of 80: one call per 100, none lost at turn boundaries.
    assert per_turn == [0, 1, 1, 1, 1] and agent.learn_calls == 4
    assert agent.learn_credit == 0 and memory.counter == 400
    # A turn starts from the credit the agent carries (e.g. inherited from its parent).
    agent.learn_credit = 95
    assert collect(agent, env, memory, env_steps=8, seed=5).learn_calls == 1
    assert agent.learn_credit == 3
    env.close()


def test_collect_stores_true_final_observation_and_terminations():
    env = make_vec_env(SL, 1, seed=0, continuous_actions=True)
    memory = RecordingMemory(100, TRANSITION_FIELDS, env.agent_ids, seed=0)
    agent = CountingAgent(env.spec, learn_step=1000, batch_size=10_000)
    stats = collect(agent, env, memory, env_steps=26, seed=0)
    assert len(memory.saved) == 26 and len(stats.episode_returns) == 1  # 25-step episodes
    final_differs = []
    for a in env.agent_ids:
        states = [v[0][a][0] for v in memory.saved]
        next_states = [v[3][a][0] for v in memory.saved]
        for k in range(24):
            assert np.array_equal(next_states[k], states[k + 1])
        final_differs.append(not np.array_equal(next_states[24], states[25]))
        assert all(not v[4][a].any() for v in memory.saved)  # truncation is not termination
    # Step 25 ends the episode: its next state is the true final obs, not the reset obs.
    assert any(final_differs)
    env.close()


def test_agent_mask_reaches_get_action():
    env = make_vec_env("marlpipe.envs.toy:match_env", 3, seed=0, masked=True)
    memory = MultiAgentReplayBuffer(100, TRANSITION_FIELDS, env.agent_ids, seed=0)
    agent = CountingAgent(env.spec, learn_step=1000, batch_size=10_000)
    collect(agent, env, memory, env_steps=6, seed=0)
    env.close()
    parts = split_copies(3, PARTS)  # one get_action per part of the copies and vector step
    assert len(agent.seen) == 2 * len(parts)
    for call, (mask, defined) in enumerate(agent.seen):
        step, rows = divmod(call, len(parts))
        size = parts[rows].stop - parts[rows].start
        assert mask["beta_0"].shape == defined["beta_0"].shape == (size,)
        # beta_0 acts on even steps of an episode only
        assert mask["beta_0"].all() if step == 0 else not mask["beta_0"].any()


def tiny_setup(seed: int = 0, num_envs: int = 4, population_size: int = 2):
    env = make_vec_env(SL, num_envs, seed=seed, continuous_actions=True)
    eval_env = make_env(SL, continuous_actions=True)
    hp = {"batch_size": 32, "learn_step": 30}  # 100 steps a turn leave a credit of 10
    pop = create_population("MATD3", env.spec, {"hidden_sizes": [16]}, hp, population_size, seed)
    memory = MultiAgentReplayBuffer(5000, TRANSITION_FIELDS, env.agent_ids, seed=seed)
    tournament = tournament_from_keywords(
        2, True, population_size, eval_loop=1, rand_seed=seed
    )
    mutation = Mutations(EVERY_KIND, seed)
    return env, eval_env, pop, memory, tournament, mutation


def evolution(**values) -> EvolutionConfig:
    return EvolutionConfig(**{"steps_per_generation": 100, "eval_episodes": 1, **values})


def test_run_generation_reports():
    env, eval_env, pop, memory, tournament, mutation = tiny_setup()
    tracker = ListTracker()
    state = LoopState.start(0)
    result = run_generation(
        env, pop, memory, state, evolution(eval_episodes=2), eval_env=eval_env,
        tournament=tournament, mutation=mutation, tracker=tracker,
    )  # fmt: skip
    record = tracker.records[0]
    assert record.generation == 0 and state.generation == 1
    assert record.env_steps == state.env_steps == 200 and memory.counter == 200
    assert [m.index for m in record.members] == [0, 1]
    assert record.fitnesses == dict(zip([0, 1], result.fitnesses, strict=True))
    assert record.elite_index == int(np.argmax(result.fitnesses))
    assert record.elite_fitness == max(result.fitnesses)
    assert all(m.parent is None and m.mutation is None for m in record.members)
    assert record.members[0].hyperparameters["batch_size"] == 32
    assert all(m.learn_calls > 0 for m in record.members)
    assert [a.index for a in result.population] == [2, 3]
    assert result.elite.index == 2 and result.elite.lineage["parent"] == record.elite_index
    # This generation's selection and mutation are in its own record.
    children = record.children
    assert [c.index for c in children] == [a.index for a in result.population] == [2, 3]
    assert [c.parent for c in children] == [a.lineage["parent"] for a in result.population]
    assert [c.elite for c in children] == [True, False]
    assert all(c.generation == 1 for c in children)
    assert all(c.mutation == a.lineage["mutations"][-1]
               for c, a in zip(children, result.population, strict=True))  # fmt: skip
    assert children[0].mutation["kind"] == "none" and children[0].mutation["reason"] == "elite"
    assert all({"kind", "where", "old", "new", "generation"} <= set(c.mutation) for c in children)
    assert [c.hyperparameters for c in children] == [a.hyperparameters()
                                                     for a in result.population]  # fmt: skip
    json.dumps(record.to_dict())
    # The next generation's record names each member's parent and mutation: the same lineage.
    run_generation(
        env, result.population, memory, state, evolution(), eval_env=eval_env,
        tournament=tournament, mutation=mutation, tracker=tracker,
    )  # fmt: skip
    second = tracker.records[1]
    assert [m.parent for m in second.members] == [a.lineage["parent"] for a in result.population]
    assert all(m.mutation["generation"] == 1 for m in second.members)
    assert [m.mutation for m in second.members] == [c.mutation for c in children]
    env.close()


@pytest.mark.parametrize("merged", [False, True])
def test_train_return_sums_the_scored_agents_like_fitness(merged):
    """simple_adversary with fitness_agents [agent]: train_return counts agent_0 + agent_1 only
    (fitness's agents), in the shared loop and with merged experience alike; null counts all."""
    from marlpipe.training.trainers import LocalTrainer

    adversary = "mpe2.simple_adversary_v3"

    def train_returns(fitness_agents):
        env = make_vec_env(adversary, 2, seed=0, continuous_actions=True)
        eval_env = make_env(adversary, continuous_actions=True)
        hp = {"batch_size": 32, "learn_step": 30}
        pop = create_population("MATD3", env.spec, {"hidden_sizes": [16]}, hp, 2, 0)
        memory = MultiAgentReplayBuffer(5000, TRANSITION_FIELDS, env.agent_ids, seed=0)
        tracker = ListTracker()
        result = run_generation(
            env, pop, memory, LoopState.start(0),
            evolution(steps_per_generation=100, fitness_agents=fitness_agents),
            eval_env=eval_env, tracker=tracker, trainer=LocalTrainer() if merged else None,
        )  # fmt: skip
        env.close()
        weights = [copy.deepcopy(agent.state_dicts()) for agent in result.population]
        return [m.train_return for m in tracker.records[0].members], weights

    everyone, weights = train_returns(None)
    agents, agent_weights = train_returns(["agent"])
    adversaries, _ = train_returns(["adversary_0"])
    assert all(r is not None for r in everyone + agents + adversaries)
    # The same episodes, split by side: all = the agents' team + the adversary.
    assert np.allclose(everyone, np.add(agents, adversaries))
    assert not np.allclose(everyone, agents)
    # Which agents are scored changes what is reported, never what is trained.
    assert_same_state(weights, agent_weights, "trained members")


def test_a_trainer_that_evaluates_gives_the_drivers_fitness():
    """A trainer whose ``evaluates`` is true (what the Ray workers do, here in-process) plays each
    member's fitness episodes right after its turn: the same scores, fitness histories and models
    as the local trainer, whose members the loop evaluates on the driver afterwards."""
    from marlpipe.envs import EnvFactory
    from marlpipe.training.member import train_member
    from marlpipe.training.trainers import LocalTrainer

    adversary = "mpe2.simple_adversary_v3"
    factory = EnvFactory(adversary, {"continuous_actions": True}, num_envs=2, seed=0)

    class EvaluatingTrainer(LocalTrainer):
        evaluates = True

        def train(self, tasks, snapshot, env):
            eval_env = factory.eval_env(tasks[0].evaluation.episodes)
            results = [train_member(task, snapshot, env, eval_env) for task in tasks]
            for result in results:
                result.worker = "in-process"
            return results

    def generations(trainer):
        env = factory.vec_env()
        eval_env = make_env(adversary, continuous_actions=True)
        hp = {"batch_size": 32, "learn_step": 30}
        pop = create_population("MATD3", env.spec, {"hidden_sizes": [16]}, hp, 3, 0)
        memory = MultiAgentReplayBuffer(5000, TRANSITION_FIELDS, env.agent_ids, seed=0)
        tracker, state = ListTracker(), LoopState.start(0)
        for _ in range(2):
            result = run_generation(
                env, pop, memory, state,
                evolution(steps_per_generation=100, eval_episodes=2, fitness_agents=["agent"]),
                eval_env=eval_env, tournament=tournament_from_keywords(2, True, 3, rand_seed=0),
                mutation=Mutations(EVERY_KIND, 0), tracker=tracker, trainer=trainer,
            )  # fmt: skip
            pop = result.population
        env.close()
        return pop, tracker.records

    driver_pop, driver_records = generations(LocalTrainer())
    worker_pop, worker_records = generations(EvaluatingTrainer())
    assert [r.fitnesses for r in driver_records] == [r.fitnesses for r in worker_records]
    assert_same_population(driver_pop, worker_pop)  # fitness histories and lineage included
    assert all(m.evaluated_on is None for r in driver_records for m in r.members)
    assert all(m.evaluated_on == "in-process" for r in worker_records for m in r.members)
    assert all(r.extra["eval_s"] > 0 for r in driver_records)
    assert all(r.extra["reruns"] == 0 and r.extra["wait_s"] > 0 for r in worker_records)


def test_loss_sums_average_each_loss_over_the_calls_that_made_it():
    """Critic losses over every call; actor losses only over the calls that updated the actors
    (MATD3's policy delay leaves ``actor_losses`` None on the others)."""
    from marlpipe.algos import LearnStats
    from marlpipe.training.rollout import LossSums, RolloutStats

    def losses(a: float, b: float) -> dict:
        return {"x": torch.tensor(a), "y": torch.tensor(b)}

    sums, stats = LossSums(), RolloutStats()
    sums.add(LearnStats(losses(1.0, 2.0)))
    sums.add(LearnStats(losses(3.0, 4.0), losses(-1.0, -2.0)))
    sums.add(LearnStats(losses(5.0, 6.0)))
    sums.add(None)  # an agent whose learn() returns nothing counts nowhere
    stats.last_learn_stats = LearnStats(losses(5.0, 6.0))
    sums.finish(stats)
    assert stats.critic_loss == {"x": 3.0, "y": 4.0}
    assert stats.actor_loss == {"x": -1.0, "y": -2.0}
    assert stats.last_learn_stats == {"critic_loss/x": 5.0, "critic_loss/y": 6.0}
    empty = RolloutStats()
    LossSums().finish(empty)
    assert empty.critic_loss == empty.actor_loss == {} and empty.last_learn_stats is None


def test_generation_records_mean_losses_per_agent():
    """Each member's record holds its mean losses per agent id: both for a member that learned
    often, the critic's only for one that learned once (no actor update yet: policy delay),
    none for one that did not learn."""
    env, eval_env, pop, memory, tournament, mutation = tiny_setup(population_size=3)
    pop[0].learn_step, pop[1].learn_step, pop[2].learn_step = 10, 60, 10**6
    tracker = ListTracker()
    run_generation(
        env, pop, memory, LoopState.start(0), evolution(), eval_env=eval_env,
        tournament=tournament, mutation=mutation, tracker=tracker,
    )  # fmt: skip
    env.close()
    often, once, never = tracker.records[0].members
    ids = set(env.agent_ids)
    assert often.learn_calls > 2 and once.learn_calls == 1 and never.learn_calls == 0
    assert set(often.actor_loss) == set(often.critic_loss) == set(once.critic_loss) == ids
    values = [*often.actor_loss.values(), *often.critic_loss.values(), *once.critic_loss.values()]
    assert all(np.isfinite(v) and isinstance(v, float) for v in values)
    assert once.actor_loss == {} and never.actor_loss == never.critic_loss == {}
    json.dumps(tracker.records[0].to_dict())


def test_run_generation_without_selection_or_mutation():
    env, eval_env, pop, memory, _, _ = tiny_setup()
    tracker = ListTracker()
    result = run_generation(
        env, pop, memory, LoopState.start(0), evolution(steps_per_generation=40),
        eval_env=eval_env, tracker=tracker,
    )  # fmt: skip
    record = tracker.records[0]
    assert result.population == pop  # carried on unselected, the same objects
    assert [c.index for c in record.children] == [m.index for m in record.members] == [0, 1]
    assert all(c.mutation is None and not c.elite for c in record.children)
    # The elite is a clone: training the population on does not change it.
    best = next(a for a in pop if a.index == result.elite.index)
    assert result.elite is not best and result.elite.index == record.elite_index
    before = state_of(result.elite)
    collect(best, env, memory, env_steps=200, seed=1)
    assert_same_state(state_of(result.elite), before)
    env.close()


def weights(pop) -> list[torch.Tensor]:
    return [p.detach().clone() for agent in pop for net in agent.actors.values()
            for p in net.parameters()]  # fmt: skip


def state_of(agent) -> dict:
    """A copy of everything that defines an agent: every network (actors, critics, targets),
    both optimisers, the torch RNG, and the metadata (architectures, hyperparameters, index,
    fitness, steps, lineage, learn counter and credit, numpy RNG)."""
    return copy.deepcopy({"metadata": agent.metadata(), "state": agent.state_dicts()})


def assert_same_state(a, b, where: str = "agent") -> None:
    """Recursive equality of nested dicts/lists of tensors and plain values, naming the path."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.shape == b.shape, where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def assert_same_population(pop_a, pop_b) -> None:
    assert len(pop_a) == len(pop_b)
    for a, b in zip(pop_a, pop_b, strict=True):
        assert a.hyperparameters() == b.hyperparameters()
        assert_same_state(state_of(a), state_of(b), f"member {a.index}")


def train_tiny(seed: int, **kwargs):
    env, eval_env, pop, memory, tournament, mutation = tiny_setup(seed)
    out = train_multi_agent(
        env, pop, memory, max_steps=600, evo_steps=100, eval_loop=1, eval_env=eval_env,
        tournament=tournament, mutation=mutation, progress=False, seed=seed, **kwargs,
    )  # fmt: skip
    env.close()
    return out


def test_same_seed_same_fitness_history_and_weights():
    pop_a, history_a = train_tiny(3)
    pop_b, history_b = train_tiny(3)
    assert len(history_a) == 3 and history_a == history_b
    assert [a.lineage for a in pop_a] == [b.lineage for b in pop_b]
    assert_same_population(pop_a, pop_b)
    _, history_c = train_tiny(4)
    assert history_c != history_a


def test_target_stops_early_and_default_eval_env():
    env, _, pop, memory, tournament, mutation = tiny_setup()
    _, history = train_multi_agent(
        env, pop, memory, max_steps=10_000, evo_steps=100, target=-1e9,
        tournament=tournament, mutation=mutation, progress=False, seed=0,
    )  # fmt: skip
    assert len(history) == 1
    env.close()


def test_a_batch_larger_than_the_buffer_is_refused_before_training():
    env, eval_env, pop, _, tournament, mutation = tiny_setup()
    small = MultiAgentReplayBuffer(16, TRANSITION_FIELDS, env.agent_ids, seed=0)  # batch_size is 32
    expected = r"population\[0\].batch_size: expected <= .*\(16\), got 32"
    with pytest.raises(ValueError, match=expected):
        evolve(env, pop, small, evolution(), eval_env=eval_env, progress=False, seed=0)
    assert small.counter == 0  # nothing was collected
    env.close()
    eval_env.close()


def test_evolve_calls_back_after_each_generation_with_the_advanced_state():
    env, eval_env, pop, memory, tournament, mutation = tiny_setup()
    calls = []
    result = evolve(
        env, pop, memory, evolution(generations=2), tournament=tournament, mutation=mutation,
        seed=0, eval_env=eval_env, progress=False,
        on_generation=lambda r, s: calls.append(
            (r.record.generation, s.generation, s.env_steps, [a.index for a in r.population])
        ),
    )  # fmt: skip
    assert calls == [(0, 1, 200, [2, 3]), (1, 2, 400, [4, 5])]
    assert [a.index for a in result.population] == [4, 5] and len(result.history) == 2
    assert result.last.record.generation == 1
    env.close()


def test_train_multi_agent_counts_its_budget_in_env_steps():
    """max_steps is the total over members and generations: 2 members x 100 steps a generation
    reach 450 in three generations (the last one passes it)."""
    env, eval_env, pop, memory, tournament, mutation = tiny_setup()
    tracker = ListTracker()
    _, history = train_multi_agent(
        env, pop, memory, max_steps=450, evo_steps=100, eval_env=eval_env,
        tournament=tournament, mutation=mutation, tracker=tracker, progress=False, seed=0,
    )  # fmt: skip
    assert len(history) == 3 and tracker.records[-1].env_steps == 600
    env.close()


def test_train_multi_agent_takes_the_seed_names_and_validates_them():
    """eval_loop (episodes to play) and the tournament's eval_loop (scores to average) are two
    settings with one AgileRL name each; both pass in one call and each lands where it belongs."""
    env, eval_env, pop, memory, _, mutation = tiny_setup(population_size=2)
    tournament = tournament_from_keywords(2, True, 2, eval_loop=3, rand_seed=0)
    assert tournament.config.eval_last == 3
    tracker = ListTracker()
    train_multi_agent(
        env, pop, memory, max_steps=200, evo_steps=100, eval_loop=2, eval_env=eval_env,
        tournament=tournament, mutation=mutation, tracker=tracker, progress=False, seed=0,
    )  # fmt: skip
    member = tracker.records[0].members[0]
    assert member.selection_fitness == member.fitness  # one score so far: the mean of the last 3
    with pytest.raises(ConfigError, match=r"train_multi_agent: eval_episodes: expected"):
        train_multi_agent(env, pop, memory, max_steps=200, evo_steps=100, eval_loop=0,
                          eval_env=eval_env, progress=False, seed=0)  # fmt: skip
    env.close()


def test_train_multi_agent_takes_a_trainer_for_merged_experience():
    """trainer= reaches the loop: a LocalTrainer trains the members with merged experience,
    the same run as evolve() with it, and not the shared-buffer run."""
    from marlpipe.training.trainers import LocalTrainer

    histories = []
    for trainer in (LocalTrainer(), None):
        env, eval_env, pop, memory, tournament, mutation = tiny_setup()
        histories.append(train_multi_agent(
            env, pop, memory, max_steps=400, evo_steps=100, eval_loop=1, eval_env=eval_env,
            tournament=tournament, mutation=mutation, progress=False, seed=0, trainer=trainer,
        )[1])  # fmt: skip
        env.close()
    env, eval_env, pop, memory, tournament, mutation = tiny_setup()
    direct = evolve(
        env, pop, memory, evolution(generations=2), tournament=tournament, mutation=mutation,
        seed=0, eval_env=eval_env, progress=False, trainer=LocalTrainer(),
    )  # fmt: skip
    env.close()
    assert histories[0] == direct.history
    assert histories[0] != histories[1]


def test_train_multi_agent_without_seed_repeats_with_a_seeded_population():
    """The README's package example seeds the env, population, buffer, tournament and
    mutations but not the loop: the loop's seed is read from the members' streams."""
    runs = []
    for _ in range(2):
        env, eval_env, pop, memory, tournament, mutation = tiny_setup(seed=7)
        runs.append(train_multi_agent(
            env, pop, memory, max_steps=200, evo_steps=100, eval_env=eval_env,
            tournament=tournament, mutation=mutation, progress=False,
        )[1])  # fmt: skip
        env.close()
    assert runs[0] == runs[1]


def test_resume_between_generations_replays_exactly(tmp_path):
    config = evolution()
    env, eval_env, pop, memory, tournament, mutation = tiny_setup(5)
    state = LoopState.start(5)
    pop = run_generation(env, pop, memory, state, config, eval_env=eval_env,
                         tournament=tournament, mutation=mutation).population  # fmt: skip
    # Checkpoint everything the next generation depends on, as a pipeline would.
    assert all(agent.learn_credit == 10 for agent in pop)  # inherited from the parents
    for agent in pop:
        agent.save_checkpoint(tmp_path / f"agent_{agent.index}.pt")
    checkpointed = [state_of(agent) for agent in pop]
    memory.save(tmp_path / "memory.npz")
    saved = json.dumps({"loop": state.to_dict(), "tournament": tournament.state_dict(),
                        "mutation": mutation.state_dict()})  # fmt: skip
    straight = run_generation(env, pop, memory, state, config, eval_env=eval_env,
                              tournament=tournament, mutation=mutation)  # fmt: skip
    env.close()

    env, eval_env, _, memory, tournament, mutation = tiny_setup(5)
    restored = [load_agent(tmp_path / f"agent_{a.index}.pt") for a in pop]
    for agent, before in zip(restored, checkpointed, strict=True):  # everything, credit included
        assert_same_state(state_of(agent), before, f"restored {agent.index}")
    memory.load(tmp_path / "memory.npz")
    saved = json.loads(saved)
    tournament.load_state_dict(saved["tournament"])
    mutation.load_state_dict(saved["mutation"])
    resumed = run_generation(env, restored, memory, LoopState.from_dict(saved["loop"]), config,
                             eval_env=eval_env, tournament=tournament,
                             mutation=mutation)  # fmt: skip
    env.close()
    assert resumed.fitnesses == straight.fitnesses
    assert [a.lineage for a in resumed.population] == [a.lineage for a in straight.population]
    assert_same_population(resumed.population, straight.population)


@pytest.mark.parametrize("backend, parts", [("sync", 1), ("sync", 2), ("async", 2), ("async", 3)])
def test_collect_has_the_effects_of_a_plain_loop(backend, parts):
    """collect() acts for the parts of the copies in turn and saves and learns from step t while
    the env takes step t+1; the result must be that of a plain loop: act (part by part, as one
    batch), learn what is owed, step, save."""
    env = make_vec_env(SL, 4, backend=backend, seed=0, continuous_actions=True)
    try:
        agents = [
            create_population("MATD3", env.spec, {"hidden_sizes": [16]},
                              {"batch_size": 32, "learn_step": 12}, 1, seed=0)[0]
            for _ in range(2)
        ]  # fmt: skip
        memories = [
            MultiAgentReplayBuffer(1000, TRANSITION_FIELDS, env.agent_ids, seed=0) for _ in agents
        ]
        stats = collect(agents[0], env, memories[0], env_steps=200, seed=1, parts=parts)

        agent, memory, schedule, owed = agents[1], memories[1], LearnSchedule(), 0
        obs, _ = env.reset(seed=1)
        for _ in range(200 // 4):
            acted = [agent.get_action({a: v[rows] for a, v in obs.items()}, 0.0, training=True)
                     for rows in split_copies(4, parts)]  # fmt: skip
            to_store, for_env = (
                {a: np.concatenate([part[k][a] for part in acted]) for a in env.agent_ids}
                for k in (0, 1)
            )
            for _ in range(owed):
                agent.learn(memory.sample(agent.batch_size))
            next_obs, rewards, terms, _, infos = env.step(for_env)
            memory.save_to_memory(obs, to_store, rewards, infos["final_obs"], terms,
                                  is_vectorised=True)  # fmt: skip
            owed = schedule.owed(4, agent.learn_step, len(memory) >= agent.batch_size)
            obs = next_obs
        for _ in range(owed):
            agent.learn(memory.sample(agent.batch_size))
    finally:
        env.close()
    assert stats.learn_calls == agents[1].learn_counter == 14
    agents[1].steps, agents[1].learn_credit = 200, schedule.credit  # collect() keeps these
    assert_same_state(state_of(agents[0]), state_of(agents[1]))
    for field in TRANSITION_FIELDS:
        for agent_id in env.agent_ids:
            np.testing.assert_array_equal(memories[0]._data[field][agent_id],
                                          memories[1]._data[field][agent_id])  # fmt: skip


def test_async_backend_matches_sync():
    results = []
    for backend in ("sync", "async"):
        env = make_vec_env(SL, 4, backend=backend, seed=0, continuous_actions=True)
        pop = create_population("MATD3", env.spec, {"hidden_sizes": [16]},
                                {"batch_size": 32, "learn_step": 8}, 1, seed=0)  # fmt: skip
        memory = MultiAgentReplayBuffer(1000, TRANSITION_FIELDS, env.agent_ids, seed=0)
        stats = collect(pop[0], env, memory, env_steps=200, seed=1)
        results.append((stats.episode_returns, stats.learn_calls, weights(pop)))
        env.close()
    (ret_s, calls_s, w_s), (ret_a, calls_a, w_a) = results
    assert ret_s == ret_a and calls_s == calls_a == 22
    assert all(torch.equal(x, y) for x, y in zip(w_s, w_a, strict=True))


def test_custom_loop_example_runs(tmp_path, capsys):
    path = Path(__file__).resolve().parents[2] / "examples" / "custom_loop.py"
    module_spec = importlib.util.spec_from_file_location("custom_loop", path)
    example = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(example)
    pop, history = example.main(
        total_steps=800, population_size=2, num_envs=4, evo_steps=200, eval_episodes=1,
        save_dir=str(tmp_path),
    )  # fmt: skip
    assert len(history) == 2 and len(pop) == 2
    assert (tmp_path / "elite.pt").exists()
    assert "generation 1" in capsys.readouterr().out


def test_custom_loop_example_edge_budgets(tmp_path):
    path = Path(__file__).resolve().parents[2] / "examples" / "custom_loop.py"
    module_spec = importlib.util.spec_from_file_location("custom_loop", path)
    example = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(example)
    # evo_steps < num_envs: one vector step per member, not zero (which never ended).
    pop, history = example.main(total_steps=8, population_size=2, num_envs=4, evo_steps=2,
                                eval_episodes=1)  # fmt: skip
    assert len(history) == 1 and all(a.steps == 4 for a in pop)
    # No training at all still saves the (placeholder) elite instead of a NameError.
    _, history = example.main(total_steps=0, population_size=2, num_envs=2, evo_steps=2,
                              eval_episodes=1, save_dir=str(tmp_path))  # fmt: skip
    assert history == [] and (tmp_path / "elite.pt").exists()


@pytest.mark.slow
def test_population_learns_speaker_listener():
    """4 MATD3 members clearly beat a random policy within a small CPU budget (~1 min alone)."""
    threshold = -50.0  # a third of the way from random to a good policy (about -20)
    torch.set_num_threads(1)  # tiny networks: one thread is faster and steadier
    env = make_vec_env(SL, 8, seed=1, continuous_actions=True)
    eval_env = make_env(SL, continuous_actions=True)
    pop = create_population("MATD3", env.spec, {"hidden_sizes": [64, 64]},
                            {"batch_size": 128, "learn_step": 10}, 4, seed=1)  # fmt: skip
    memory = MultiAgentReplayBuffer(200_000, TRANSITION_FIELDS, env.agent_ids, seed=1)
    pop, history = train_multi_agent(
        env, pop, memory, max_steps=72_000, evo_steps=3000, eval_loop=5, eval_env=eval_env,
        tournament=tournament_from_keywords(2, True, 4, eval_loop=1, rand_seed=1),
        mutation=mutations_from_keywords(
            no_mutation=0.4, architecture=0.2, new_layer_prob=0.2, parameters=0.2,
            activation=0.0, rl_hp=0.2, rand_seed=1, min_batch_size=8, max_batch_size=1024,
            min_learn_step=1, max_learn_step=500,
        ),
        progress=False, seed=1,
    )  # fmt: skip
    score = greedy_score(pop[0], eval_env, episodes=20, seed=123)
    # A random policy on the same episodes, through the same runner: far below the threshold.
    rng = np.random.default_rng(0)
    randomised = pop[1].clone()
    randomised.get_action = lambda obs, **_: (None, random_actions(env.spec, 1, rng))  # one copy
    random_score = greedy_score(randomised, eval_env, episodes=20, seed=123)
    env.close()
    assert random_score < threshold - 15.0, random_score
    assert score > threshold, (score, random_score, history[-1])


def test_collect_with_thousands_of_vmas_copies_owes_many_learn_calls_per_vector_step():
    """One vector step of 2,048 VMAS copies is 2,048 transitions: with learn_step 100 it owes
    20 learn calls (the remainder carries over), as 256 vector steps of 8 copies would."""
    pytest.importorskip("vmas")
    env = make_vec_env("vmas.simple_speaker_listener", 2048, seed=0)
    memory = MultiAgentReplayBuffer(10_000, TRANSITION_FIELDS, env.agent_ids, seed=0)
    agent = CountingAgent(env.spec, learn_step=100, batch_size=64)
    stats = collect(agent, env, memory, env_steps=3 * 2048, seed=0)
    assert stats.env_steps == memory.counter == 3 * 2048
    assert agent.learn_calls == stats.learn_calls == 3 * 2048 // 100  # 20 + 20 + 21
    assert agent.learn_credit == 3 * 2048 % 100
    env.close()


@pytest.mark.parametrize("progress", [True, False])
def test_progress_off_a_terminal_is_one_line_per_generation(progress, capsys):
    """In a log or a pipe (pytest's captured stderr is not a terminal) ``progress=True`` shows a
    line per generation with its number, the elite's fitness, the env steps and its seconds;
    ``False`` shows nothing."""
    import re

    env, eval_env, pop, memory, tournament, mutation = tiny_setup()
    train_multi_agent(
        env, pop, memory, max_steps=400, evo_steps=100, eval_env=eval_env,
        tournament=tournament, mutation=mutation, progress=progress, seed=0,
    )  # fmt: skip
    env.close()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("evolve:")]
    if not progress:
        assert lines == []
        return
    pattern = r"evolve: generation (\d)/2, elite fitness -?\d+\.\d\d, ([\d,]+) env steps, [\d.]+ s"
    matches = [re.fullmatch(pattern, line) for line in lines]
    assert len(lines) == 2 and all(matches), err
    assert [(m[1], m[2]) for m in matches] == [("1", "200"), ("2", "400")]
