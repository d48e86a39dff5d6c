"""Oasis: the survival rules (health, food, attacks, death and respawn) and the MuJoCo env built on
hide-and-seek's engine, as PettingZoo's API test and scripted scenes check them."""

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from rapid.envs.social import make_oasis
from rapid.envs.social.oasis import OasisEnv, agent_features, self_features
from rapid.envs.social.oasis_rules import ATTACK, EAT, NOTHING, Survival, SurvivalRules
from rapid.envs.social.repeated_game import others_order
from rapid.platform.plugins import SettingsError

SELF, OTHER = self_features(16), agent_features(16)
NOOP = [5, 5, 5, NOTHING, 0]


def survival(n: int = 3) -> Survival:
    rules = Survival(SurvivalRules(), others_order(n))
    rules.reset(np.random.default_rng(0))
    return rules


def settle(rules: Survival, option: np.ndarray, attack: np.ndarray | None = None, eaten: np.ndarray | None = None) -> np.ndarray:
    """One step of the rules with no physics: respawn, then the step's attacks and food."""
    rules.respawn()
    n = rules.n
    attack = np.zeros((n, n), dtype=bool) if attack is None else attack
    return rules.settle(attack, np.zeros(n) if eaten is None else eaten, option)


def test_health_runs_down_and_death_costs_100_then_a_frozen_100_steps_at_full_health():
    rules, idle = survival(), np.full(3, NOTHING)
    rewards = [settle(rules, idle)[0] for _ in range(20)]
    assert rewards[:19] == [1.0] * 19 and rewards[19] == 1.0 - 100.0  # in play at its last step, then dead
    frozen = [settle(rules, idle)[0] for _ in range(100)]
    assert frozen == [0.0] * 100 and rules.health[0] == 20.0
    assert settle(rules, idle)[0] == 1.0 and rules.health[0] == 19.0
    summary = rules.summary()[0]
    assert summary["deaths"] == 1.0 and summary["survival_time"] == pytest.approx(21 / 2)


def test_an_attack_needs_reach_and_sight_costs_5_and_stops_the_victim_eating():
    rules = survival()
    positions = np.array([[0.0, 0.0, 0.15], [0.5, 0.0, 0.15], [3.0, 0.0, 0.15]])
    option = np.array([ATTACK, EAT, ATTACK])
    target = np.array([0, 0, 0])  # agent 0's first other is agent 1; agent 2's is agent 0, 3 m away
    seen = np.ones((3, 3), dtype=bool)
    rules.respawn()
    attack = rules.attacks(option, target, positions, seen)
    assert attack.tolist() == [[False, True, False], [False, False, False], [False, False, False]]
    assert rules.eaters(option, attack).tolist() == [False, False, False]  # agent 1 was hit while eating
    rules.settle(attack, np.zeros(3), option)
    assert rules.health.tolist() == [19.0, 14.0, 19.0] and rules.attacked_me[1, 0]
    unseen = seen.copy()
    unseen[0, 1] = False
    assert not rules.attacks(option, target, positions, unseen).any()
    summary = rules.summary()
    assert summary[0]["attacks"] == 1.0 and summary[1]["attacked"] == 1.0


def test_oasis_passes_pettingzoos_parallel_api_test():
    parallel_api_test(make_oasis({"seed": 0, "end_probability": 0.02}), num_cycles=200)


def oasis(**config: object) -> OasisEnv:
    env = make_oasis({"seed": 0, "end_probability": 1e-9, "floor_size": [3.0, 3.0], **config})
    env.reset(seed=1)
    return env


def test_food_feeds_one_eater_well_and_three_not_enough():
    env = oasis()
    angles = np.array([0.0, 2.1, 4.2])  # three agents 0.28 m from the food, 0.48 m apart
    env.world.qpos[:3, :2] = env.food[0, :2] + 0.28 * np.column_stack([np.cos(angles), np.sin(angles)])
    env.world.refresh()
    env.observe()
    gain = env.survival.health_per_food
    for _ in range(30):
        env.step({agent: [5, 5, 5, EAT, 0] for agent in env.possible_agents})
    assert env.survival.health == pytest.approx(np.full(3, 20.0 + 30 * (gain / 3 - 1.0)))  # 2.1-2.7 a unit, shared
    alone = oasis()
    alone.world.qpos[0, :2] = alone.food[0, :2]
    alone.world.refresh()
    alone.observe()
    for _ in range(30):
        alone.step({"agent_0": [5, 5, 5, EAT, 0], "agent_1": NOOP, "agent_2": NOOP})
    assert alone.survival.health[0] == 20.0
    assert alone.survival.deaths[1:].tolist() == [1.0, 1.0]  # the others starved at step 20


def test_a_dead_agent_waits_outside_the_floor_with_its_actions_ignored_then_plays_again():
    env = oasis()
    # agent_1 and agent_2 share the food (2.1-2.7 health a unit: they hold), agent_0 starves far from it.
    env.world.qpos[1:3, :2] = env.food[0, :2] + [[0.25, 0.0], [-0.25, 0.0]]
    env.world.qpos[0, :2] = env.food[0, :2] + [1.2, 1.2] * np.sign(-env.food[0, :2] + 1e-9)
    env.world.refresh()
    env.observe()
    fed = {"agent_1": [5, 5, 5, EAT, 0], "agent_2": [5, 5, 5, EAT, 0]}
    rewards = [env.step({"agent_0": NOOP, **fed})[1]["agent_0"] for _ in range(20)]
    assert rewards[-1] == -99.0
    observations, reward, *_ = env.step({"agent_0": [10, 10, 10, EAT, 0], **fed})
    xy = env.world.qpos[0, :2]
    assert reward["agent_0"] == 0.0 and (np.abs(xy) >= env.floor_size / 2).all()
    own = observations["agent_0"]["self"]
    assert own[SELF.index("dead")] == 1.0 and own[SELF.index("health")] == 20.0 and own[SELF.index("time_to_alive")] == 0.01
    assert own[SELF.index("chose_nothing")] == 1.0  # its eat was ignored
    for _ in range(99):
        _, reward, *_ = env.step({"agent_0": [10, 10, 10, EAT, 0], **fed})
        assert reward["agent_0"] == 0.0
    assert np.abs(env.world.qpos[0, :2] - xy).max() < 1e-6, "a frozen agent does not move"
    _, reward, *_ = env.step({"agent_0": NOOP, **fed})
    assert reward["agent_0"] == 1.0 and env.survival.deaths.tolist() == [1.0, 0.0, 0.0]


def test_an_attack_in_the_arena_goes_by_sight_and_each_side_observes_it():
    env = oasis()
    env.world.qpos[:3] = [[0.0, 0.0, 0.15, 0.0], [0.45, 0.0, 0.15, 0.0], [-1.2, 1.2, 0.15, 0.0]]  # all face +x
    env.world.qvel[:] = 0.0
    env.world.refresh()
    env.observe()
    # agent_0 hits agent_1 ahead of it; agent_1 strikes back at agent_0 behind it, which it cannot see.
    observations, *_ = env.step({"agent_0": [5, 5, 5, ATTACK, 0], "agent_1": [5, 5, 5, ATTACK, 1], "agent_2": NOOP})
    assert env.survival.health.tolist() == [19.0, 14.0, 19.0]
    # agent_1's others are agent_2, agent_0: agent_0 attacked it.
    rows = observations["agent_1"]["agents"]
    assert rows[:, OTHER.index("attacked_me")].tolist() == [0.0, 1.0]
    assert observations["agent_1"]["self"][SELF.index("n_attacked_me")] == 1.0
    assert observations["agent_0"]["agents"][0, OTHER.index("health")] == 14.0
    assert observations["agent_2"]["agents"][1, OTHER.index("chose_attack")] == 1.0


def test_observations_match_their_feature_names_and_the_floor_is_redrawn_each_episode():
    env = make_oasis({"seed": 0, "end_probability": 1e-3})
    env.reset(seed=0)
    for _ in range(7):
        observations, *_ = env.step({agent: [8, 3, 5, NOTHING, 0] for agent in env.possible_agents})
    qpos, others = env.world.qpos, env.others
    for i, agent in enumerate(env.possible_agents):
        own, rows = observations[agent]["self"], observations[agent]["agents"]
        assert own.shape == (len(SELF),) and rows.shape == (2, len(OTHER))
        assert own[SELF.index("time")] == pytest.approx(7 * 1e-3)
        assert own[[SELF.index("x"), SELF.index("y")]] == pytest.approx(qpos[i, :2])
        assert own[SELF.index("identity_0") : SELF.index("identity_15") + 1] == pytest.approx(env.identity[i])
        assert own[SELF.index("health")] == 13.0 and own[SELF.index("chose_nothing")] == 1.0
        assert rows[:, OTHER.index("x")] == pytest.approx(qpos[others[i], 0])
        assert observations[agent]["agents_visible"].tolist() == env.perception.sense()[0][i, others[i]].tolist()
        assert observations[agent]["food"] == pytest.approx(env.food)
    sizes = set()
    for _ in range(5):
        env.reset()
        sizes.add(round(env.floor_size, 3))
        assert 1.5 <= env.floor_size <= 6.0
    assert len(sizes) == 5


@pytest.mark.parametrize(("config", "key"), [({"floor_size": [6.0, 2.0]}, "env_config.floor_size"),
                                             ({"n_agents": 1}, "env_config.n_agents"),
                                             ({"n_agents": 8, "n_food": 4}, "env_config.n_agents: 8 agents and 4 food items need"),
                                             ({"food_health": [-1.0, 2.0]}, "env_config.food_health")])
def test_bad_settings_name_their_key(config: dict, key: str):
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        make_oasis(config)
