"""Population creation, tournament selection and mutations (tiny networks, no env stepping)."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from marlpipe.config import ConfigError, MutationConfig, TournamentConfig
from marlpipe.config.mutation_kinds import KIND_NAMES as KINDS
from marlpipe.envs.spec import EnvSpec
from marlpipe.evolution import Mutations, TournamentSelection, create_population
from marlpipe.training.agilerl_style import mutations_from_keywords, tournament_from_keywords
from tests.helpers.builders import speaker_listener_spec

TINY_NET = {"hidden_sizes": [16, 16]}
TINY_HP = {"batch_size": 32, "learn_step": 10, "lr_actor": 1e-3, "lr_critic": 1e-3}


@pytest.fixture(scope="module")
def spec() -> EnvSpec:
    return speaker_listener_spec()


EVERY_KIND = MutationConfig(
    no_mutation=0.2, architecture=0.2, new_layer_prob=0.5, parameters=0.2, activation=0.2, rl_hp=0.2
)
"""Every mutation kind equally likely."""


def tiny_population(spec: EnvSpec, size: int = 4, seed: int = 0, algo: str = "MATD3"):
    return create_population(algo, spec, TINY_NET, TINY_HP, size, seed=seed)


def with_fitness(population, scores):
    for agent, score in zip(population, scores, strict=True):
        agent.fitness = list(np.atleast_1d(score).astype(float))
    return population


def actor_weights(agent) -> list[torch.Tensor]:
    return [p.detach().clone() for a in agent.agent_ids for p in agent.actors[a].parameters()]


def all_params(agent) -> list[torch.Tensor]:
    nets = [*agent.actors.values(), *agent.actor_targets.values()]
    nets += [agent.critic, agent.critic_target]
    return [p.detach().clone() for net in nets for p in net.parameters()]


def equal_params(a, b) -> bool:
    return all(torch.equal(x, y) for x, y in zip(all_params(a), all_params(b), strict=True))


# --------------------------------------------------------------------------------- population
@pytest.mark.parametrize("algo", ["MATD3", "MADDPG"])
def test_create_population_members(spec, algo):
    pop = tiny_population(spec, 3, algo=algo)
    assert [a.index for a in pop] == [0, 1, 2]
    assert all(type(a).__name__ == algo for a in pop)
    for agent in pop:
        assert agent.fitness == [] and agent.steps == 0 and agent.learn_credit == 0
        assert agent.lineage == {"parent": None, "generation": 0, "mutations": []}
        assert agent.batch_size == 32 and agent.learn_step == 10
    # Members are seeded differently: their initial weights differ.
    assert not torch.equal(actor_weights(pop[0])[0], actor_weights(pop[1])[0])
    # The same root seed gives the same population.
    again = tiny_population(spec, 3, algo=algo)
    for a, b in zip(pop, again, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(all_params(a), all_params(b), strict=True))


def test_create_population_accepts_upper_case_and_names_unknown_keys(spec):
    pop = create_population("matd3", spec, TINY_NET, {"BATCH_SIZE": 64, "MEMORY_SIZE": 10}, 1, 0)
    assert pop[0].batch_size == 64
    with pytest.raises(ValueError, match="learn_stepp"):
        create_population("MATD3", spec, TINY_NET, {"learn_stepp": 3}, 1, 0)
    with pytest.raises(ValueError, match="algo"):
        create_population("PPO", spec, TINY_NET, {}, 1, 0)


# ---------------------------------------------------------------------------------- selection
def test_elitism_keeps_the_best_with_new_indices_and_parent_links(spec):
    pop = with_fitness(tiny_population(spec), [-5.0, 3.0, -1.0, 0.0])
    elite, new = tournament_from_keywords(2, True, 4, eval_loop=1, rand_seed=0).select(pop)
    # The elite is an independent clone of new[0]: same index, lineage and weights.
    assert elite is not new[0] and elite.index == new[0].index == 4
    assert elite.lineage == new[0].lineage and elite.fitness == new[0].fitness
    assert elite.lineage["parent"] == 1 and elite.lineage["elite"]
    assert equal_params(elite, pop[1]) and equal_params(elite, new[0])
    assert [a.index for a in new] == [4, 5, 6, 7]  # fresh, past every old index
    assert all(a.lineage["generation"] == 1 for a in new)
    assert all(a.fitness == pop[a.lineage["parent"]].fitness for a in new)
    # With tournaments of two distinct members, the worst member can never win one.
    parents = Counter()
    selector = tournament_from_keywords(2, True, 4, eval_loop=1, rand_seed=1)
    for _ in range(30):
        parents.update(a.lineage["parent"] for a in selector.select(pop)[1][1:])
    assert 0 not in parents and set(parents) == {1, 2, 3}


def test_selection_of_nothing_is_refused_and_a_bare_lineage_is_generation_zero(spec):
    selector = tournament_from_keywords(2, True, 2, eval_loop=1, rand_seed=0)
    with pytest.raises(ValueError, match="^cannot select from an empty population$"):
        selector.select([])
    pop = with_fitness(tiny_population(spec, 2), [1.0, 2.0])
    for agent in pop:  # a lineage of the minimum: no generation, no mutations yet
        del agent.lineage["generation"]
        agent.lineage.pop("mutations", None)
    _, new = selector.select(pop)
    assert [a.lineage["generation"] for a in new] == [1, 1]
    assert [a.lineage["mutations"] for a in new] == [[], []]


def test_full_size_tournament_always_picks_the_best(spec):
    pop = with_fitness(tiny_population(spec), [1.0, 7.0, 2.0, 3.0])
    _, new = tournament_from_keywords(4, False, 4, eval_loop=1, rand_seed=0).select(pop)
    assert [a.lineage["parent"] for a in new] == [1, 1, 1, 1]
    assert not any(a.lineage["elite"] for a in new)


def test_size_one_tournament_is_uniform(spec):
    pop = with_fitness(tiny_population(spec), [1.0, 7.0, 2.0, 3.0])
    config = TournamentConfig(size=1, elitism=False, eval_last=1)  # unvalidated: random picks
    selector = TournamentSelection(config, 4, seed=0)
    fitness = selector.fitness(pop)
    wins = Counter(selector.tournament(fitness) for _ in range(4000))
    assert all(900 < wins[i] < 1100 for i in range(4))


def test_fitness_is_mean_of_last_eval_loop_scores(spec):
    # Last score favours member 0; the mean of the last three favours member 1.
    pop = with_fitness(tiny_population(spec, 2), [[0.0, 0.0, 5.0], [4.0, 4.0, 4.0]])
    assert (
        tournament_from_keywords(2, True, 2, eval_loop=1).select(pop)[0].lineage["parent"]
        == 0
    )
    assert (
        tournament_from_keywords(2, True, 2, eval_loop=3).select(pop)[0].lineage["parent"]
        == 1
    )


def test_selection_clones_are_independent(spec):
    pop = with_fitness(tiny_population(spec, 3), [0.0, 1.0, 2.0])
    _, new = tournament_from_keywords(3, True, 3, eval_loop=1, rand_seed=0).select(pop)
    assert len({id(a) for a in new}) == 3
    before = [all_params(a) for a in [*pop, *new]]
    with torch.no_grad():
        for p in new[1].actors[new[1].agent_ids[0]].parameters():
            p.add_(1.0)
    new[1].fitness.append(99.0)
    new[1].lineage["mutations"].append({"kind": "x"})
    for agent, old in zip([*pop, *new], before, strict=True):
        if agent is not new[1]:
            assert all(torch.equal(x, y) for x, y in zip(all_params(agent), old, strict=True))
            assert 99.0 not in agent.fitness and agent.lineage["mutations"] == []


@pytest.mark.parametrize("elitism", [True, False])
def test_returned_elite_is_independent_of_the_new_population(spec, elitism):
    pop = with_fitness(tiny_population(spec, 3), [0.0, 5.0, 2.0])
    elite, new = tournament_from_keywords(2, elitism, 3, eval_loop=1, rand_seed=0).select(
        pop
    )
    assert all(elite is not agent for agent in [*pop, *new])
    source = new[0] if elitism else pop[1]  # without elitism: the fittest, index and lineage kept
    assert elite.index == source.index and elite.lineage == source.lineage
    assert equal_params(elite, pop[1])
    params, fitness, lineage = all_params(elite), list(elite.fitness), json.dumps(elite.lineage)
    # Train, score and mutate everything that goes on: the elite must not change.
    for agent in [*pop, *new]:
        with torch.no_grad():
            for p in agent.actors[agent.agent_ids[0]].parameters():
                p.add_(1.0)
        agent.fitness.append(99.0)
        agent.lineage.setdefault("mutations", []).append({"kind": "x"})
        agent.learn_credit += 7
    assert all(torch.equal(x, y) for x, y in zip(all_params(elite), params, strict=True))
    assert elite.fitness == fitness and json.dumps(elite.lineage) == lineage
    assert elite.learn_credit == 0


def test_offspring_and_clones_carry_the_learn_credit(spec):
    pop = with_fitness(tiny_population(spec), [0.0, 1.0, 2.0, 3.0])
    for agent in pop:
        agent.learn_credit = 10 * agent.index + 3
    elite, new = tournament_from_keywords(2, True, 4, eval_loop=1, rand_seed=0).select(pop)
    assert all(a.learn_credit == pop[a.lineage["parent"]].learn_credit for a in new)
    assert elite.learn_credit == 33
    assert pop[2].clone().learn_credit == 23


def test_siblings_explore_with_their_own_noise(spec):
    # A full-size tournament clones member 1 three times: same weights, but each child's
    # random streams are reseeded, so their exploration noise differs (a plain clone would
    # repeat the parent's noise draw for draw).
    pop = with_fitness(tiny_population(spec), [1.0, 7.0, 2.0, 3.0])
    _, new = tournament_from_keywords(4, False, 4, eval_loop=1, rand_seed=0).select(pop)
    assert all(equal_params(new[0], child) for child in new[1:])
    obs = {a: np.zeros((2, *spec.observations[a].shape), np.float32) for a in spec.agent_ids}
    noisy = [child.get_action(obs, training=True)[0] for child in new]
    first = spec.agent_ids[0]
    assert not np.allclose(noisy[0][first], noisy[1][first])
    # Greedy actions agree: only the noise differs.
    greedy = [child.get_action(obs, training=False)[0] for child in new]
    assert np.allclose(greedy[0][first], greedy[1][first])


def test_selection_state_dict_resumes_exactly(spec):
    pop = with_fitness(tiny_population(spec), [1.0, 2.0, 3.0, 4.0])
    selector = tournament_from_keywords(2, False, 4, eval_loop=1, rand_seed=3)
    selector.select(pop)
    saved = json.loads(json.dumps(selector.state_dict()))
    first = [a.lineage["parent"] for a in selector.select(pop)[1]]
    resumed = tournament_from_keywords(2, False, 4, eval_loop=1)
    resumed.load_state_dict(saved)
    assert [a.lineage["parent"] for a in resumed.select(pop)[1]] == first


def test_selection_validates_sizes():
    with pytest.raises(ConfigError, match=r"tournament\.size: expected an integer <= population"):
        tournament_from_keywords(5, True, 4, 1)
    with pytest.raises(ConfigError, match=r"tournament\.eval_last: expected an integer >= 1"):
        tournament_from_keywords(2, True, 4, 0)
    with pytest.raises(ConfigError, match=r"population\.size: expected an integer >= tournament"):
        tournament_from_keywords(2, True, 1)


# ---------------------------------------------------------------------------------- mutations
def only(kind: str, **kwargs) -> Mutations:
    probs = {k: float(k == kind) for k in KINDS}
    return mutations_from_keywords(**{
        "no_mutation": probs["none"], "architecture": probs["architecture"],
        "new_layer_prob": 0.5, "parameters": probs["parameters"],
        "activation": probs["activation"], "rl_hp": probs["rl_hp"], "rand_seed": 0, **kwargs,
    })  # fmt: skip


def test_probabilities_are_normalised():
    mutations = mutations_from_keywords(
        no_mutation=2,
        architecture=2,
        new_layer_prob=0.5,
        parameters=2,
        activation=2,
        rl_hp=2,
        rand_seed=0,
    )
    assert np.allclose(mutations.probabilities, 0.2)
    with pytest.raises(ConfigError, match=r"mutation\.rl_hp_selection\[0\]: expected one of"):
        mutations_from_keywords(no_mutation=1, rl_hp_selection=("momentum",))


@pytest.mark.parametrize("new_layer_prob", [0.0, 1.0])
def test_architecture_mutation_grows_and_keeps_weights(spec, new_layer_prob):
    agent = tiny_population(spec, 1)[0]
    old = actor_weights(agent)
    mutations = only("architecture", new_layer_prob=new_layer_prob)
    mutations.mutation([agent])
    record = agent.lineage["mutations"][-1]
    assert record["kind"] == "architecture"
    assert record["method"] == ("add_layer" if new_layer_prob else "add_nodes")
    first = agent.actors[agent.agent_ids[0]]
    if new_layer_prob:
        assert len(first.hidden_sizes) == 3
    else:
        assert sum(first.hidden_sizes) > 32
        # add_nodes keeps every trained weight as the leading block of the grown tensor.
        for before, after in zip(old, actor_weights(agent), strict=True):
            assert torch.equal(after[tuple(slice(0, s) for s in before.shape)], before)
    assert all(pg["params"] for pg in agent.actor_optimizer.param_groups)


def test_parameter_mutation_perturbs_actor_weights_only(spec):
    agent = tiny_population(spec, 1)[0]
    critic = [p.detach().clone() for p in agent.critic.parameters()]
    before = {n: p.detach().clone() for n, p in agent.actors[agent.agent_ids[1]].named_parameters()}
    before_all = [(n, p.detach().clone()) for a in agent.agent_ids
                  for n, p in agent.actors[a].named_parameters()]  # fmt: skip
    only("parameters", mutation_sd=0.1).mutation([agent])
    after = dict(agent.actors[agent.agent_ids[1]].named_parameters())
    for name, old in before.items():
        if "bias" in name:
            assert torch.equal(after[name], old)
        else:
            change = (after[name] - old).abs()
            assert change.max() > 0
            # Relative noise: 10 sd would be astronomically rare.
            assert (change <= 10 * 0.1 * old.abs() + 1e-12).all()
    assert all(torch.equal(a, b) for a, b in zip(agent.critic.parameters(), critic, strict=True))
    record = agent.lineage["mutations"][-1]
    assert {k: record[k] for k in ("kind", "where", "sd")} == {
        "kind": "parameters", "where": "actors", "sd": 0.1,
    }  # fmt: skip
    # The norms recorded: all actor weight matrices (not biases) before and after.
    def weight_norm(named: list) -> float:
        return float(torch.sqrt(sum((w.detach() ** 2).sum() for n, w in named if "bias" not in n)))

    after_all = [p for a in agent.agent_ids for p in agent.actors[a].named_parameters()]
    assert record["new"] == {"weight_norm": pytest.approx(weight_norm(after_all), rel=1e-6)}
    assert record["old"] == {"weight_norm": pytest.approx(weight_norm(before_all), rel=1e-6)}
    assert record["old"] != record["new"]


def test_activation_mutation_picks_a_different_one(spec):
    agent = tiny_population(spec, 1)[0]
    mutations = only("activation", activation_selection=("ReLU", "GELU"))
    mutations.mutation([agent])
    record = agent.lineage["mutations"][-1]
    assert record["kind"] == "activation" and agent.critic.activation == "GELU"
    assert all(net.activation == "GELU" for net in agent.actors.values())
    mutations.mutation([agent])
    assert agent.critic.activation == "ReLU"
    for expected in ["GELU", "ReLU"] * 4:  # with two to choose from, it alternates: never a repeat
        mutations.mutation([agent])
        assert agent.critic.activation == expected
        assert all(net.activation == expected for net in agent.actors.values())


def test_rl_hp_mutation_scales_by_its_factor_within_wide_bounds(spec):
    """Each record: the value before, the factor (0.8 or 1.2) and the value after, which is
    ``old * factor`` (rounded for integers, at least one step away from ``old``)."""
    agent = tiny_population(spec, 1)[0]
    mutations = only("rl_hp", min_lr=1e-9, max_lr=1.0, min_batch_size=1, max_batch_size=10**6,
                     min_learn_step=1, max_learn_step=10**6)  # fmt: skip
    agent.learn_step = 2  # 2 * 0.8 and 2 * 1.2 both round back to 2: a step of one instead
    factors, small_steps = set(), 0
    for _ in range(40):
        mutations.mutation([agent])
        record = agent.lineage["mutations"][-1]
        assert set(record) == {"kind", "where", "old", "new", "factor", "generation"}
        old, factor, new = record["old"], record["factor"], record["new"]
        factors.add(factor)
        if record["where"] in ("batch_size", "learn_step"):
            expected = round(old * factor)
            if expected == old:
                expected, small_steps = old + (1 if factor > 1 else -1), small_steps + 1
            assert new == expected, record
        else:
            assert new == pytest.approx(old * factor, rel=1e-12), record
    assert factors == {0.8, 1.2} and small_steps > 0


def test_activation_and_none_records_say_what_changed(spec):
    agent = tiny_population(spec, 1)[0]
    only("activation", activation_selection=("ReLU", "GELU")).mutation([agent])
    record = agent.lineage["mutations"][-1]
    assert record["kind"] == "activation" and set(record["old"]) == set(record["new"])
    assert set(record["old"].values()) == {"ReLU"} and set(record["new"].values()) == {"GELU"}
    only("none").mutation([agent])
    record = agent.lineage["mutations"][-1]
    assert record == {"kind": "none", "where": None, "old": None, "new": None, "generation": 0}
    with pytest.raises(ValueError, match="unknown mutation kind 'grow'; expected one of"):
        only("none").apply(agent, "grow")


def test_current_activation_falls_back_to_the_net_config():
    from types import SimpleNamespace

    from marlpipe.evolution.mutations import current_activation

    agent = SimpleNamespace(actors={"a": nn.Linear(2, 2)}, net_config={"activation": "ELU"})
    assert current_activation(agent) == "ELU"
    assert current_activation(SimpleNamespace(actors=[nn.Linear(2, 2)], net_config={})) is None
    assert current_activation(SimpleNamespace(actors=[nn.Linear(2, 2)])) is None  # no config


class BareAgent:
    """An agent of the Agent protocol's minimum for mutations: one actor module (not a list), no
    ``generation`` or ``mutations`` in its lineage, and architecture changes whose records say
    nothing (a user's own agent need not): the mutation fills in what it did."""

    def __init__(self) -> None:
        self.actors = nn.Linear(3, 2)
        self.net_config = {"activation": "ReLU"}
        self.lineage: dict = {}
        self.calls: list = []

    def mutate_architecture(self, method, rng, **kwargs):
        self.calls.append((method, kwargs))
        return {}


def test_records_are_completed_for_an_agent_that_says_nothing():
    agent = BareAgent()
    only("activation", activation_selection=("ReLU", "Tanh")).mutation([agent])
    assert agent.calls == [("change_activation", {"name": "Tanh"})]
    assert agent.lineage["mutations"] == [
        {"kind": "activation", "old": "ReLU", "new": "Tanh", "generation": 0}
    ]
    only("architecture", new_layer_prob=1.0).mutation([agent])
    assert agent.calls[-1] == ("add_layer", {})
    assert agent.lineage["mutations"][-1] == {
        "kind": "architecture", "method": "add_layer", "generation": 0,
    }  # fmt: skip
    agent.lineage["generation"] = 4
    only("parameters").mutation([agent])  # a lone module is the one actor
    record = agent.lineage["mutations"][-1]
    assert record["kind"] == "parameters" and record["generation"] == 4
    assert record["old"]["weight_norm"] != record["new"]["weight_norm"]
    assert len(agent.lineage["mutations"]) == 3


def test_rl_hp_mutation_stays_in_bounds_and_rebuilds_optimisers(spec):
    agent = tiny_population(spec, 1)[0]
    mutations = only(
        "rl_hp", min_lr=5e-4, max_lr=2e-3, min_batch_size=16, max_batch_size=48,
        min_learn_step=5, max_learn_step=12,
    )  # fmt: skip
    seen = set()
    for _ in range(60):
        mutations.mutation([agent])
        record = agent.lineage["mutations"][-1]
        seen.add(record["where"])
        assert record["new"] == getattr(agent, record["where"])
        assert 5e-4 <= agent.lr_actor <= 2e-3 and 5e-4 <= agent.lr_critic <= 2e-3
        assert 16 <= agent.batch_size <= 48 and 5 <= agent.learn_step <= 12
        assert isinstance(agent.batch_size, int) and isinstance(agent.learn_step, int)
        assert agent.actor_optimizer.param_groups[0]["lr"] == agent.lr_actor
        assert agent.critic_optimizer.param_groups[0]["lr"] == agent.lr_critic
    assert seen == {"lr_actor", "lr_critic", "batch_size", "learn_step"}


@pytest.mark.parametrize("seed", range(8))
def test_batch_size_never_mutates_past_memory_size(spec, seed):
    """max_batch_size (2048, the default) above the buffer's 100 transitions: batch-size
    mutations stop at 100, whatever the seed; without memory_size they would pass it."""
    agent = create_population("MATD3", spec, TINY_NET, {**TINY_HP, "batch_size": 90}, 1, seed)[0]
    mutations = only("rl_hp", rl_hp_selection=["batch_size"], memory_size=100, rand_seed=seed)
    assert mutations.hp_bounds("batch_size") == (64, 100)
    sizes = []
    for _ in range(30):
        mutations.mutation([agent])
        sizes.append(agent.batch_size)
        assert agent.lineage["mutations"][-1]["new"] == agent.batch_size
    assert max(sizes) == 100 and all(64 <= s <= 100 for s in sizes)
    unbounded = create_population("MATD3", spec, TINY_NET, {**TINY_HP, "batch_size": 90}, 1, 0)
    free = only("rl_hp", rl_hp_selection=["batch_size"], rand_seed=seed)
    free_sizes = []
    for _ in range(30):
        free.mutation(unbounded)
        free_sizes.append(unbounded[0].batch_size)
    assert max(free_sizes) > 100  # the same draws, uncapped: past the buffer


def test_batch_size_ceiling_is_the_smaller_bound():
    assert only("rl_hp", max_batch_size=48, min_batch_size=16,
                memory_size=100).hp_bounds("batch_size") == (16, 48)  # fmt: skip
    assert only("rl_hp", memory_size=100).hp_bounds("learn_step") == (20, 400)
    assert Mutations(MutationConfig(), 0, memory_size=100_000).hp_bounds("batch_size") == (
        64, 2048,
    )  # fmt: skip


def test_min_batch_size_above_memory_size_is_refused():
    with pytest.raises(ConfigError) as err:
        only("rl_hp", min_batch_size=128, memory_size=100)
    message = str(err.value)
    assert "\n" not in message and message.startswith("Mutations: ")
    assert "mutation.bounds.min_batch_size: expected an integer <= memory_size (100), got 128" in (
        message
    )
    # never mutated (no rl_hp weight, or batch_size not selectable): the bound cannot bite
    only("none", min_batch_size=128, memory_size=100)
    only("rl_hp", min_batch_size=128, memory_size=100, rl_hp_selection=["lr_actor"])


def test_every_kind_occurs_once_per_member_and_elite_is_protected(spec):
    pop = with_fitness(tiny_population(spec), [0.0, 1.0, 2.0, 3.0])
    selector = tournament_from_keywords(2, True, 4, eval_loop=1, rand_seed=0)
    mutations = Mutations(EVERY_KIND, 0)
    kinds = Counter()
    for generation in range(1, 9):
        elite, pop = selector.select(pop)
        elite_params = all_params(elite)
        pop = mutations.mutation(pop)
        assert all(len(a.lineage["mutations"]) == generation for a in pop)
        assert all(a.lineage["mutations"][-1]["generation"] == generation for a in pop)
        assert pop[0].lineage["mutations"][-1].get("reason") == "elite"
        assert all(torch.equal(x, y) for x, y in zip(all_params(pop[0]), elite_params, strict=True))
        kinds.update(a.lineage["mutations"][-1]["kind"] for a in pop[1:])
        with_fitness(pop, [float(i) for i in range(4)])
    assert set(kinds) == set(KINDS)


def test_mutations_are_reproducible_and_resumable(spec):
    def mutated(mutations):
        pop = tiny_population(spec, 3)
        mutations.mutation(pop)
        return pop

    def same(pop_a, pop_b):
        for a, b in zip(pop_a, pop_b, strict=True):
            assert a.lineage == b.lineage and a.hyperparameters() == b.hyperparameters()
            assert all(torch.equal(x, y) for x, y in zip(all_params(a), all_params(b), strict=True))

    original = Mutations(EVERY_KIND, 7)
    same(
        mutated(original),
        mutated(Mutations(EVERY_KIND, 7)),
    )
    state = json.loads(json.dumps(original.state_dict()))
    resumed = Mutations(EVERY_KIND, None)
    resumed.load_state_dict(state)
    same(mutated(original), mutated(resumed))


def test_seed_style_constructors_take_the_config_defaults():
    """Every default lives in the config dataclasses; the AgileRL-style conveniences read them."""
    import inspect

    from marlpipe.config import EvolutionConfig, MutationBounds, MutationConfig
    from marlpipe.training import train_multi_agent

    weights = {"no_mutation": 0.4, "architecture": 0.2, "parameters": 0.2, "rl_hp": 0.2}
    assert mutations_from_keywords(**weights).config == MutationConfig(**weights)
    assert mutations_from_keywords(**weights).config.bounds == MutationBounds()
    tournament = tournament_from_keywords(2, True, 4)
    assert tournament.config == TournamentConfig()
    defaults = EvolutionConfig()
    signature = inspect.signature(train_multi_agent).parameters
    names = {"eval_loop": "eval_episodes", "eval_steps": "eval_max_steps",
             "eps_start": "epsilon_start", "eps_end": "epsilon_end",
             "eps_decay": "epsilon_decay", "target": "target"}  # fmt: skip
    for keyword, field in names.items():
        assert signature[keyword].default == getattr(defaults, field), keyword


def test_one_table_of_mutation_kinds_drives_draws_validation_and_figures(spec):
    """``MUTATION_KINDS`` is in draw order; every kind names a config weight, a ``Mutations``
    method and a figure marker; ``Mutations`` and ``check_mutation`` read its weights."""
    import dataclasses

    from marlpipe.config.mutation_kinds import MUTATION_KINDS, mutation_weights
    from marlpipe.tracking.figures import MARKERS

    assert KINDS == ("none", "architecture", "parameters", "activation", "rl_hp")
    assert KINDS == tuple(kind.name for kind in MUTATION_KINDS)
    fields = {f.name for f in dataclasses.fields(MutationConfig)}
    config = MutationConfig(no_mutation=0.1, architecture=0.2, parameters=0.3, activation=0.15,
                            rl_hp=0.25)  # fmt: skip
    assert mutation_weights(config) == [0.1, 0.2, 0.3, 0.15, 0.25]
    mutations = Mutations(config, seed=0)
    np.testing.assert_allclose(mutations.probabilities, np.array([0.1, 0.2, 0.3, 0.15, 0.25]))
    for kind in MUTATION_KINDS:
        assert kind.config_field in fields
        assert kind.method is None or callable(getattr(mutations, kind.method))
        assert MARKERS[kind.name] == kind.marker


def test_members_satisfy_the_agent_protocol(spec):
    from marlpipe.algos.protocols import Agent

    for algo in ("MATD3", "MADDPG"):
        member = tiny_population(spec, size=1, algo=algo)[0]
        assert isinstance(member, Agent)
        assert isinstance(member.clone(3), Agent)
