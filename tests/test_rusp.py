"""RUSP and the social games: relationships as the paper draws them, rewards mixed by them (and
untouched in evaluation), each agent's noisy view observed, PettingZoo's API kept, bad settings
refused before Ray starts."""

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from conftest import ROOT
from pettingzoo.test import parallel_api_test

from rapid.envs.social import make_indirect_reciprocity, make_prisoners_buddy, make_prisoners_dilemma
from rapid.envs.social.rusp import CRITIC_KEY, OBS_KEY, RUSP_KEY, RuspSettings, draw_preferences, team_sizes, wrap_rusp
from rapid.platform.plugins import SettingsError, validate_settings
from rapid.platform.spec_file import load_spec


def teams_of(M: np.ndarray) -> list[frozenset[int]]:
    """The teams M's non-zero pattern makes (agents i, j share a team when M_ij > 0)."""
    return sorted({frozenset(np.flatnonzero(row > 0).tolist()) for row in M}, key=min)


def rusp(settings: dict, **game: object):
    return wrap_rusp(make_prisoners_dilemma(game), validate_settings(RuspSettings, settings, ("rusp",)))


def play(env, seed: int, actions: np.ndarray) -> tuple[list[dict[str, float]], dict[str, dict]]:
    """Rewards of each step of one episode, the agents acting by `actions` (rounds, 2), until it
    ends, and the last step's infos."""
    env.reset(seed=seed)
    rewards = []
    for row in actions:
        _, reward, terminated, truncated, infos = env.step(dict(zip(env.possible_agents, row.tolist(), strict=True)))
        rewards.append(reward)
        if all(terminated.values()) or all(truncated.values()):
            break
    return rewards, infos


def test_relationships_are_symmetric_teams_and_rows_of_the_transform_sum_to_one() -> None:
    rng = np.random.default_rng(0)
    settings = RuspSettings(min_team_size=2, max_team_size=3)
    batch = draw_preferences(settings, 5, rng, 200)
    for k in range(200):
        prefs = batch.episode(k)
        np.testing.assert_array_equal(prefs.M, prefs.M.T)
        teams = teams_of(prefs.M)
        assert sorted(len(team) for team in teams) == [2, 3]  # the one partition of 5 into sizes 2-3
        assert set().union(*teams) == set(range(5)) and sum(map(len, teams)) == 5  # a partition
        np.testing.assert_allclose(prefs.T.sum(axis=1), 1.0)
        assert (prefs.T >= 0).all()


def test_team_sizes_are_drawn_uniformly_among_integer_partitions() -> None:
    assert set(team_sizes(3, 1, 3)) == {(1, 1, 1), (1, 2), (3,)}
    rng = np.random.default_rng(1)
    batch = draw_preferences(RuspSettings(), 3, rng, 3000)
    drawn = Counter(tuple(sorted(map(len, teams_of(batch.episode(k).M)))) for k in range(3000))
    assert set(drawn) == {(1, 1, 1), (1, 2), (3,)}
    assert all(abs(count / 3000 - 1 / 3) < 0.04 for count in drawn.values()), drawn


def test_rewards_are_mixed_by_the_episodes_transform() -> None:
    bare, wrapped = make_prisoners_dilemma({}), rusp({"min_team_size": 2})
    actions = np.random.default_rng(2).integers(0, 2, (50, 2))
    (own, _), (mixed, _) = play(bare, 7, actions), play(wrapped, 7, actions)
    assert len(own) == len(mixed) > 1
    T = wrapped.preferences.T
    assert not np.allclose(T, np.eye(2))
    for before, after in zip(own, mixed, strict=True):
        np.testing.assert_allclose([after["player_0"], after["player_1"]], T @ [before["player_0"], before["player_1"]])


def test_evaluation_leaves_the_rewards_bit_for_bit_and_shows_identity_without_noise() -> None:
    bare, wrapped = make_prisoners_dilemma({}), rusp({"evaluation": True, "min_team_size": 2})
    actions = np.random.default_rng(3).integers(0, 2, (50, 2))
    (own, _), (untouched, infos) = play(bare, 11, actions), play(wrapped, 11, actions)
    assert own == untouched
    assert infos["player_0"]["social_welfare"] == sum(sum(step.values()) for step in own)
    observation = wrapped.reset(seed=0)[0]["player_1"]
    np.testing.assert_array_equal(observation[RUSP_KEY], [0, 1, 0, 0, 1, 1, 0, 0])  # row, noise, diagonal, noise
    np.testing.assert_array_equal(observation[CRITIC_KEY][:4], [0, 1, 1, 1])


def test_each_observer_sees_its_own_noisy_view_with_its_noise_levels_and_the_critic_the_truth() -> None:
    env = wrap_rusp(make_prisoners_dilemma({}), RuspSettings(min_team_size=2))
    observations, _ = env.reset(seed=5)
    prefs = env.preferences
    n = 2
    for i, agent in enumerate(env.possible_agents):
        view, critic = observations[agent][RUSP_KEY], observations[agent][CRITIC_KEY]
        row, row_noise, diagonal, diagonal_noise = view.reshape(4, n)
        np.testing.assert_allclose(row_noise, prefs.noise[i, i], rtol=1e-6)
        np.testing.assert_allclose(diagonal_noise, np.diag(prefs.noise[i]), rtol=1e-6)
        assert not np.allclose(row, prefs.M[i], atol=1e-3)  # noisy
        np.testing.assert_allclose(row, prefs.believed[i, i], rtol=1e-6)
        true_row, true_diagonal, their_belief, _ = critic.reshape(4, n)
        np.testing.assert_allclose(true_row, prefs.M[i], rtol=1e-6)
        np.testing.assert_allclose(true_diagonal, np.diag(prefs.M), rtol=1e-6)
        np.testing.assert_allclose(their_belief, [prefs.believed[j, j, i] for j in range(n)], rtol=1e-6)
        assert observations[agent][OBS_KEY].shape == (3,)
    assert not np.allclose(observations["player_0"][RUSP_KEY], observations["player_1"][RUSP_KEY])
    quiet = wrap_rusp(make_prisoners_dilemma({}), RuspSettings(min_team_size=2, noise=[0.0, 0.0]))
    quiet.reset(seed=5)
    np.testing.assert_array_equal(quiet.preferences.believed, np.broadcast_to(quiet.preferences.M, (2, 2, 2)))


def test_the_games_and_rusp_keep_the_parallel_api() -> None:
    for make in (make_prisoners_dilemma, make_indirect_reciprocity, make_prisoners_buddy):
        parallel_api_test(make({}), num_cycles=200)
        parallel_api_test(wrap_rusp(make({}), RuspSettings()), num_cycles=200)


def test_prisoners_dilemma_pays_the_table_and_ends_after_ten_rounds_on_average() -> None:
    env = make_prisoners_dilemma({"end_probability": 1e-9})
    env.reset(seed=0)
    table = {(0, 0): (2, 2), (0, 1): (-2, 4), (1, 0): (4, -2), (1, 1): (0, 0)}
    for (a, b), paid in table.items():
        observations, rewards, *_ = env.step({"player_0": a, "player_1": b})
        assert (rewards["player_0"], rewards["player_1"]) == paid
        np.testing.assert_array_equal(observations["player_1"][:2], [b, a])  # own, then the partner's last action
    env = make_prisoners_dilemma({})
    lengths, cooperation = [], []
    for episode in range(2000):
        env.reset(seed=episode)
        while env.agents:
            *_, infos = env.step({"player_0": 0, "player_1": episode % 2})
        lengths.append(env.rounds)
        cooperation.append(infos["player_1"]["cooperation"])
    assert abs(np.mean(lengths) - 10.0) < 0.7  # geometric with p = 0.1: standard error 0.21
    assert np.mean(cooperation) == pytest.approx(0.5)


def test_settings_that_cannot_apply_are_refused() -> None:
    with pytest.raises(SettingsError, match="min_team_size: 3 is more than the env's 2 agents"):
        rusp({"min_team_size": 3})
    with pytest.raises(SettingsError, match=r"rusp.noise: \[0.5, 2.0\] is not a range within \[0, 1\]"):
        rusp({"noise": [0.5, 2.0]})
    import gymnasium as gym

    with pytest.raises(SettingsError, match="single-agent env"):
        wrap_rusp(gym.make("CartPole-v1"), RuspSettings())


def test_a_job_whose_rusp_cannot_apply_exits_2_before_ray(tmp_path) -> None:
    spec = ROOT / "jobs" / "multiagent_selfplay.yaml"
    load_spec(spec)
    done = subprocess.run([sys.executable, "-m", "rapid", "run", str(spec), "--profile", "smoke",
                           "--set", "env_config.rusp={min_team_size: 9}", "--set", f"storage_path={tmp_path}"],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "env_config.rusp.min_team_size: 9 is more than the env's 4 agents" in done.stderr
    assert not any(tmp_path.iterdir())


def test_indirect_reciprocity_pays_only_the_drawn_pair_whom_everyone_sees() -> None:
    env = make_indirect_reciprocity({"end_probability": 1e-9})
    observations, _ = env.reset(seed=0)
    pairs = Counter()
    for _ in range(3000):
        a, b = env.pair
        pairs[(a, b)] += 1
        watcher = ({0, 1, 2} - {a, b}).pop()
        plays_now = [observations[f"agent_{i}"][2] for i in range(3)]
        assert plays_now == [float(i in (a, b)) for i in range(3)]
        moves = {f"agent_{i}": int(i == a) for i in range(3)}  # a defects, b cooperates
        observations, rewards, *_ = env.step(moves)
        assert (rewards[f"agent_{a}"], rewards[f"agent_{b}"], rewards[f"agent_{watcher}"]) == (4.0, -2.0, 0.0)
        seen = observations[f"agent_{watcher}"]
        assert seen[0] == -1  # the watcher did not play
        others = {(watcher + k) % 3: seen[20 + 18 * (k - 1)] for k in (1, 2)}  # each other agent's last action
        assert others == {a: 1.0, b: 0.0}
    assert set(pairs) == {(0, 1), (0, 2), (1, 2)}
    assert all(abs(count / 3000 - 1 / 3) < 0.04 for count in pairs.values()), pairs
    env = make_indirect_reciprocity({})
    lengths = []
    for episode in range(1000):
        env.reset(seed=episode)
        while env.agents:
            env.step(dict.fromkeys(env.possible_agents, 0))
        lengths.append(env.rounds)
    assert abs(np.mean(lengths) - 20.0) < 1.8  # geometric with p = 0.05: standard error 0.62


def test_indirect_reciprocity_reports_cooperation_with_the_last_agent_for_those_who_met_it() -> None:
    """agent_0 cooperates with agent_2 only on even rounds; agent_1 always defects."""
    env = make_indirect_reciprocity({"end_probability": 0.01})
    env.reset(seed=4)
    with_last = {0: [0, 0], 1: [0, 0]}  # [rounds against agent_2, cooperations in them]
    while env.agents:
        a, b = env.pair
        moves = {"agent_0": env.rounds % 2, "agent_1": 1, "agent_2": 0}
        if b == 2:
            with_last[a][0] += 1
            with_last[a][1] += moves[f"agent_{a}"] == 0
        *_, infos = env.step(moves)
    for agent, (met, cooperated) in with_last.items():
        if met:
            assert infos[f"agent_{agent}"]["cooperation_with_last"] == pytest.approx(cooperated / met)
        else:
            assert "cooperation_with_last" not in infos[f"agent_{agent}"]
    assert "cooperation_with_last" not in infos["agent_2"]


def test_prisoners_buddy_pays_returned_and_unreturned_choices_every_fifth_step() -> None:
    env = make_prisoners_buddy({"end_probability": 1e-9})
    env.reset(seed=0)
    # Others of agent i are i+1, i+2, ... : 0 and 1 choose each other, 2 and 3 choose 1, 4 sits out.
    picks = {"agent_0": [0, 0], "agent_1": [3, 0], "agent_2": [3, 0], "agent_3": [2, 0], "agent_4": [0, 1]}
    for step in range(1, 11):
        observations, rewards, *_ = env.step(picks)
        if step % 5:
            assert set(rewards.values()) == {0.0}
        else:
            assert rewards == {"agent_0": 2.0, "agent_1": 4.0, "agent_2": -2.0, "agent_3": -2.0, "agent_4": 0.0}
    mine = observations["agent_1"]
    chose_me_last = [mine[19 + 20 * k + 17] for k in range(4)]  # others of agent_1: 2, 3, 4, 0
    assert chose_me_last == [1.0, 1.0, 0.0, 1.0]
    picks["agent_0"] = [1, 0]  # agent_0 now chooses agent_2, which chooses agent_1
    while env.agents and env.rounds < 20:
        *_, infos = env.step(picks)
    env.config = env.config.model_copy(update={"end_probability": 1.0})
    *_, infos = env.step(picks)
    summary = infos["agent_0"]
    assert summary["mutual_share"] == pytest.approx(0.2)  # 2 of 5 agents paired at 2 of 4 counted steps
    assert summary["pair_length"] == 2.0 and summary["team_changes"] == 2.0
    env = make_prisoners_buddy({})
    lengths = []
    for episode in range(1000):
        env.reset(seed=episode)
        while env.agents:
            env.step(dict.fromkeys(env.possible_agents, [0, 1]))
        lengths.append(env.rounds)
    assert abs(np.mean(lengths) - 50.0) < 5.0  # geometric with p = 0.02: standard error 1.6
