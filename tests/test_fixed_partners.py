"""Fixed partners act as named, on the bare Prisoner's Dilemma and under RUSP, and stay fixed in a PPO job."""

import numpy as np
import torch
from gymnasium.spaces import Discrete
from ray.rllib.core.columns import Columns

from rapid.envs.social import make_indirect_reciprocity, make_prisoners_buddy, make_prisoners_dilemma
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


def test_indirect_tit_for_tat_repeats_to_each_agent_what_that_agent_last_did_to_it() -> None:
    """agent_2 plays the partner; agent_0 always defects, agent_1 always cooperates. The memory travels
    as the module's state, the way RLlib carries it (a time axis of 1 while acting)."""
    env = wrap_rusp(make_indirect_reciprocity({"end_probability": 1e-9}), RuspSettings())
    module = MODULES.get("indirect_tit_for_tat")(observation_space=env.observation_space("agent_2"),
                                                 action_space=Discrete(2), model_config={})
    assert module.is_stateful()
    state = {key: torch.tensor(value)[None] for key, value in module.get_initial_state().items()}
    observations, _ = env.reset(seed=3)
    first_meeting: dict[int, int] = {}
    replies: dict[int, list[int]] = {0: [], 1: []}
    for _ in range(60):
        pair = env.unwrapped.pair
        obs = {key: torch.tensor(value)[None, None] for key, value in observations["agent_2"].items()}
        out = module.forward_inference({Columns.OBS: obs, Columns.STATE_IN: state})
        state = {key: torch.as_tensor(value) for key, value in out[Columns.STATE_OUT].items()}
        action = int(out[Columns.ACTIONS][0, 0])
        if 2 in pair:
            opponent = pair[0]
            first_meeting.setdefault(opponent, action)
            replies[opponent].append(action)
        observations, *_ = env.step({"agent_0": 1, "agent_1": 0, "agent_2": action})
    assert first_meeting == {0: 0, 1: 0}, "it cooperates with an agent it has not met"
    assert replies[0][1:] and set(replies[0][1:]) == {1}, "then defects on the defector, every time after"
    assert set(replies[1]) == {0}, "and keeps cooperating with the cooperator, whatever the defector did"


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
