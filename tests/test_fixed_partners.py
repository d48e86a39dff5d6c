"""Fixed partners act as named, on the bare Prisoner's Dilemma and under RUSP, and stay fixed in a PPO job."""

import numpy as np
import torch
from gymnasium.spaces import Discrete
from ray.rllib.core.columns import Columns

from rapid.envs.social import make_prisoners_buddy, make_prisoners_dilemma
from rapid.envs.social.rusp import RuspSettings, wrap_rusp
from rapid.platform.registry import MODULES


def partner(name: str, env, **model_config) -> object:
    return MODULES.get(name)(observation_space=env.observation_space("player_1"), action_space=Discrete(2),
                             model_config=model_config)


def play_against(name: str, moves: list[int], rusp: bool) -> list[int]:
    """The partner's actions while player_0 plays `moves`."""
    env = make_prisoners_dilemma({"end_probability": 1e-9})
    if rusp:
        env = wrap_rusp(env, RuspSettings())
    module = partner(name, env, **({} if rusp else {"observation_key": None}))
    observations, _ = env.reset(seed=0)
    played = []
    for move in moves:
        obs = observations["player_1"]
        batch = {key: torch.tensor(value)[None] for key, value in obs.items()} if isinstance(obs, dict) else torch.tensor(obs)[None]
        greedy, exploring = module.forward_inference({Columns.OBS: batch}), module.forward_exploration({Columns.OBS: batch})
        assert greedy[Columns.ACTIONS].shape == (1,) and greedy[Columns.ACTIONS] == exploring[Columns.ACTIONS]
        played.append(int(greedy[Columns.ACTIONS][0]))
        observations, *_ = env.step({"player_0": move, "player_1": played[-1]})
    return played


def test_fixed_partners_act_as_named() -> None:
    moves = [1, 0, 0, 1, 1, 0]
    for rusp in (False, True):
        assert play_against("always_cooperate", moves, rusp) == [0] * 6
        assert play_against("always_defect", moves, rusp) == [1] * 6
        assert play_against("tit_for_tat", moves, rusp) == [0, 1, 0, 0, 1, 1]
    batch = {Columns.OBS: np.zeros((4, 3), np.float32)}
    assert partner("always_defect", make_prisoners_dilemma({})).forward_inference(batch)[Columns.ACTIONS].tolist() == [1] * 4


def test_a_constant_partner_always_picks_the_same_agent_in_prisoners_buddy() -> None:
    env = make_prisoners_buddy({})
    module = MODULES.get("constant_action")(observation_space=env.observation_space("agent_3"),
                                            action_space=env.action_space("agent_3"), model_config={"action": [1, 0]})
    observations, _ = env.reset(seed=0)
    for _ in range(7):
        [action] = module.forward_inference({Columns.OBS: observations["agent_3"][None]})[Columns.ACTIONS]
        assert action.tolist() == [1, 0] and env.action_space("agent_3").contains(action)
        picks = {agent: env.action_space(agent).sample() for agent in env.possible_agents} | {"agent_3": action}
        observations, *_ = env.step(picks)
        assert env.choice[3] == 0  # agent_3's others are 4, 0, 1, 2: the second is agent_0


JOB = """
kind: rllib
name: ipd_against_tit_for_tat
algorithm: PPO
env: prisoners_dilemma
env_config: {rusp: {}}
multi_agent:
  policies:
    learner:
      module: asymmetric_lstm
      model_config: {actor_keys: [obs, rusp], critic_keys: [obs, rusp_critic], actor_hidden: [16], lstm_size: 8,
                     critic_hidden: [16], max_seq_len: 5}
    partner: {module: tit_for_tat}
  policy_mapping: {player_0: learner, player_1: partner}
  policies_to_train: [learner]
training: {train_batch_size_per_learner: 100, minibatch_size: 50, num_epochs: 1}
resources: {env_runners: 0}
stop: {iterations: 1}
"""


def test_a_ppo_job_trains_against_a_fixed_partner_that_keeps_its_rule(local_ray, tmp_path) -> None:
    from rapid.platform.rllib_config import build_algorithm_config, register_env
    from rapid.platform.spec_file import load_spec

    path = tmp_path / "job.yaml"
    path.write_text(JOB)
    job = load_spec(path).job
    register_env(job)
    algo = build_algorithm_config(job).build_algo()
    try:
        result = algo.train()
        assert "policy_loss" in result["learners"]["learner"]
        assert "policy_loss" not in result["learners"].get("partner", {})
        episodes = algo.env_runner.sample(num_timesteps=200, explore=True)
        assert any(episode.env_t_started == 0 for episode in episodes)
        for episode in episodes:
            learner, partner = (np.asarray(episode.agent_episodes[a].get_actions()) for a in ("player_0", "player_1"))
            if episode.env_t_started == 0:  # not the rest of an episode that began in the last sample
                assert partner[0] == 0
            np.testing.assert_array_equal(partner[1:], learner[:-1])  # tit for tat
    finally:
        algo.stop()
