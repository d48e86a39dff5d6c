"""Hindsight Experience Replay: relabelling on real FetchReach episodes, spec errors, and a real run."""

import math
import pickle
import signal
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import ray
import torch
from conftest import ROOT, Head, embedded_env, rapid, results_of, rows, start_run, wait_for_checkpoints
from ray.rllib.connectors.module_to_env import GetActions
from ray.rllib.core.columns import Columns
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.numpy import flatten_inputs_to_1d_tensor
from ray.rllib.utils.spaces.space_utils import get_base_struct_from_space

from rapid.platform.registry import ENVS
from rapid.platform.rllib_config import build_algorithm_config, register_env
from rapid.platform.spec_file import load_spec
from rapid.platform.trainable import RLlibJobTrainable, rllib_body
from rapid.policies.normalized_sac import NormalizedSACModule
from rapid.training.her.buffer import HindsightReplayBuffer, goal_layout
from rapid.training.random_actions.connector import RandomActions

GAMMA = 0.98


def fetch_reach_episode(steps: int, seed: int, terminate: bool = False) -> tuple[SingleAgentEpisode, np.ndarray]:
    """A FetchReach episode under random actions, observations flattened as RLlib's connector
    does (sorted keys); returns it and its achieved goals per observation index. FetchReach
    never terminates: `terminate` ends the last step as if it had."""
    env = ENVS.get("FetchReach-v4")({})
    struct = get_base_struct_from_space(env.observation_space)
    env.action_space.seed(seed)
    obs, info = env.reset(seed=seed)
    episode = SingleAgentEpisode(observation_space=None, action_space=env.action_space)
    episode.add_env_reset(observation=flatten_inputs_to_1d_tensor(obs, struct, batch_axis=False), infos=info)
    achieved = [obs["achieved_goal"]]
    for step in range(steps):
        action = env.action_space.sample()
        obs, reward, terminated, truncated, info = env.step(action)
        flat = flatten_inputs_to_1d_tensor(obs, struct, batch_axis=False)
        terminated = terminated or (terminate and step == steps - 1)
        episode.add_env_step(flat, action, reward, infos=info, terminated=terminated, truncated=truncated and not terminated)
        achieved.append(obs["achieved_goal"])
    env.close()
    return episode, np.array(achieved)


def buffer(strategy: str | None, k: int = 4) -> HindsightReplayBuffer:
    return HindsightReplayBuffer(env="FetchReach-v4", env_config={}, strategy=strategy, k=k)


def sample(replay: HindsightReplayBuffer, n: int = 2000, n_step: int = 1) -> dict[str, np.ndarray]:
    """A batch of SAC's train columns, as HindsightSAC hands it to the learner."""
    return replay.sample(n, n_step=n_step, gamma=GAMMA)


@pytest.fixture(scope="module")
def episode() -> tuple[SingleAgentEpisode, np.ndarray]:
    return fetch_reach_episode(50, seed=3)


@pytest.fixture(scope="module")
def reward_of():
    return ENVS.get("FetchReach-v4")({}).unwrapped.compute_reward


def test_layout_matches_rllibs_flattening() -> None:
    env = ENVS.get("FetchReach-v4")({})
    obs, _ = env.reset(seed=0)
    flat = flatten_inputs_to_1d_tensor(obs, get_base_struct_from_space(env.observation_space), batch_axis=False)
    for key, where in goal_layout(env.observation_space).items():
        np.testing.assert_allclose(flat[where], obs[key], rtol=1e-6)


def test_future_goals_come_from_later_in_the_episode_with_recomputed_rewards(episode, reward_of) -> None:
    source, achieved = episode
    replay = buffer("future")
    replay.add([source])
    layout = replay.layout
    original_goal = source.get_observations(0)[layout["desired_goal"]]
    relabelled = 0
    batch = sample(replay)
    for t, obs, next_obs, reward, action in zip(batch["t"].tolist(), batch["obs"], batch["new_obs"], batch["rewards"], batch["actions"], strict=True):
        np.testing.assert_allclose(obs[layout["observation"]], source.get_observations(t)[layout["observation"]], rtol=1e-6)
        np.testing.assert_allclose(action, source.get_actions(t), rtol=1e-6)
        goal = obs[layout["desired_goal"]]
        np.testing.assert_array_equal(goal, next_obs[layout["desired_goal"]])
        next_achieved = next_obs[layout["achieved_goal"]]
        if np.allclose(goal, original_goal):
            assert reward == pytest.approx(source.get_rewards(t))
            continue
        relabelled += 1
        matches = [j for j in range(len(achieved)) if np.allclose(achieved[j], goal, atol=1e-6)]
        assert matches and max(matches) >= t + 1, "the goal was achieved later in the same episode"
        assert reward == pytest.approx(float(reward_of(next_achieved, goal, None)))
    share = relabelled / len(batch["t"])
    assert 0.76 < share < 0.84, f"k=4 relabels 4/5 of samples, got {share:.3f}"
    stored = replay.episodes[0]
    np.testing.assert_array_equal(np.asarray(stored.get_observations(slice(0, 51)))[:, layout["desired_goal"]],
                                  np.repeat(original_goal[None], 51, axis=0), err_msg="relabelling left the stored episode alone")


def test_relabelled_samples_follow_k(episode) -> None:
    replay = buffer("future", k=1)
    replay.add([episode[0]])
    goal = episode[0].get_observations(0)[replay.layout["desired_goal"]]
    share = np.mean([not np.allclose(obs[replay.layout["desired_goal"]], goal) for obs in sample(replay)["obs"]])
    assert 0.45 < share < 0.55


def test_no_her_buffer_never_relabels(episode) -> None:
    source, _ = episode
    replay = buffer(None)
    replay.add([source])
    batch = sample(replay, 500)
    for t, obs, next_obs, reward in zip(batch["t"].tolist(), batch["obs"], batch["new_obs"], batch["rewards"], strict=True):
        np.testing.assert_array_equal(obs, source.get_observations(t))
        np.testing.assert_array_equal(next_obs, source.get_observations(t + 1))
        assert reward == pytest.approx(source.get_rewards(t))
    assert batch["terminateds"].dtype == bool and not batch["terminateds"].any(), "Fetch episodes are truncated, never terminated"
    np.testing.assert_array_equal(batch["n_step"], 1)
    assert batch["actions"].shape == (500, 4) and batch["rewards"].shape == (500,)
    assert {batch[c].dtype for c in ("obs", "new_obs", "actions", "rewards", "n_step", "weights")} == {np.dtype(np.float32)}


def test_only_an_episodes_last_step_is_terminal() -> None:
    source, _ = fetch_reach_episode(20, seed=4, terminate=True)
    replay = buffer("future")
    replay.add([source])
    batch = sample(replay, 500, n_step=3)
    np.testing.assert_array_equal(batch["terminateds"], batch["t"] + batch["n_step"] == 20)
    assert batch["terminateds"].any() and not batch["terminateds"].all()


def test_a_running_episode_offers_only_goals_it_has_reached() -> None:
    source, achieved = fetch_reach_episode(50, seed=5)
    replay = buffer("future")
    replay.add([source.slice(slice(0, 10))])  # a chunk of an episode still running
    reached = achieved[:11]
    for obs in sample(replay, 500)["obs"]:
        goal = obs[replay.layout["desired_goal"]]
        assert any(np.allclose(goal, a) for a in [*reached, source.get_observations(0)[replay.layout["desired_goal"]]])


def test_chunks_join_their_episode_and_evicted_episodes_leave() -> None:
    """Runners hand the buffer chunks of running episodes; full episodes push the oldest out."""
    first, _ = fetch_reach_episode(50, seed=7)
    second, _ = fetch_reach_episode(50, seed=8)
    replay = HindsightReplayBuffer(capacity=80, env="FetchReach-v4", env_config={}, strategy=None)
    replay.add([first.slice(slice(0, 10))])
    replay.add([first.slice(slice(10, 30)), first.slice(slice(30, 50))])
    batch = sample(replay, 500)
    assert batch["t"].max() >= 10, "the second chunk's steps are sampled"
    for t, obs, next_obs in zip(batch["t"].tolist(), batch["obs"], batch["new_obs"], strict=True):
        np.testing.assert_array_equal(obs, first.get_observations(t))
        np.testing.assert_array_equal(next_obs, first.get_observations(t + 1))
    replay.add([second])  # 100 steps > capacity 80: the first episode is evicted
    batch = sample(replay, 500)
    for t, obs in zip(batch["t"].tolist(), batch["obs"], strict=True):
        np.testing.assert_array_equal(obs, second.get_observations(t))
    third, _ = fetch_reach_episode(50, seed=9)
    fourth, _ = fetch_reach_episode(40, seed=10)
    replay.add([third, fourth])  # the second goes, and the third right after it came in
    assert replay.get_num_episodes() == 1
    batch = sample(replay, 200)
    assert batch["t"].max() < 40
    for t, obs in zip(batch["t"].tolist(), batch["obs"], strict=True):
        np.testing.assert_array_equal(obs, fourth.get_observations(t))


def test_final_and_episode_strategies(episode) -> None:
    source, achieved = episode
    final = buffer("final")
    final.add([source])
    goal = source.get_observations(0)[final.layout["desired_goal"]]
    relabelled = [obs[final.layout["desired_goal"]] for obs in sample(final, 300)["obs"]]
    assert all(np.allclose(g, goal) or np.allclose(g, achieved[-1]) for g in relabelled)
    assert 0.7 < np.mean([np.allclose(g, achieved[-1]) for g in relabelled]) < 0.9, "k=4: 4/5 take the final goal"
    anywhere = buffer("episode")
    anywhere.add([source])
    early = 0
    batch = sample(anywhere, 1000)
    for t, obs in zip(batch["t"].tolist(), batch["obs"], strict=True):
        relabelled = obs[anywhere.layout["desired_goal"]]
        steps = [j for j in range(len(achieved)) if np.allclose(achieved[j], relabelled)]
        early += bool(steps) and max(steps) <= t
    assert early > 0, "the episode strategy also draws goals from before the transition"


def test_n_step_rewards_are_recomputed_per_step(episode, reward_of) -> None:
    source, achieved = episode
    replay = buffer("future")
    replay.add([source])
    goal0 = source.get_observations(0)[replay.layout["desired_goal"]]
    checked, at_end = 0, 0
    batch = sample(replay, 1000, n_step=3)
    for t, obs, next_obs, reward, n_step in zip(batch["t"].tolist(), batch["obs"], batch["new_obs"], batch["rewards"], batch["n_step"], strict=True):
        goal = obs[replay.layout["desired_goal"]]
        if np.allclose(goal, goal0):
            continue
        steps = min(3, len(source) - t)  # fewer at the episode's end
        expected = sum(GAMMA**i * float(reward_of(achieved[t + 1 + i], goal, None)) for i in range(steps))
        assert reward == pytest.approx(expected, rel=1e-5)
        assert n_step == steps, "the target discounts by the steps taken"
        np.testing.assert_allclose(next_obs, np.concatenate(
            [achieved[t + steps], goal, source.get_observations(t + steps)[replay.layout["observation"]]]), rtol=1e-6)
        checked += 1
        at_end += steps < 3
    assert checked > 500 and at_end > 0


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["env=Pendulum-v1"], "her: env 'Pendulum-v1' is not a goal env HER can relabel: its observations are Box"),
        (["her.strategy=futur"], "her.strategy"),
        (["her.k=0"], "her.k"),
        (["algorithm=PPO", "training={}"], "needs algorithm SAC, not PPO"),
        (["random_actions=1.5"], "random_actions"),
        (["algorithm=PPO", "training={}", "her=null", "random_actions=0.3"], "random actions need an off-policy algorithm, SAC or DQN, not PPO"),
        (["training.target_q_range=[0,-50]"],
         "jobs/fetch_reach_her.yaml: job 'fetch_reach_her': RLlib rejects the config: `target_q_range` must be [low, high]"),
    ],
    ids=["not-a-goal-env", "unknown-strategy", "k-below-1", "on-policy", "random-share-above-1", "random-actions-on-policy",
         "target-q-range-reversed"],
)
def test_bad_her_input_exits_2_before_ray(tmp_path: Path, overrides: list[str], expected: str) -> None:
    args = [x for o in overrides for x in ("--set", o)]
    outcome = rapid("run", "jobs/fetch_reach_her.yaml", "--profile", "smoke", *args, "--set", f"storage_path={tmp_path}",
                    env=embedded_env())
    assert outcome.returncode == 2, outcome.stderr
    assert expected in outcome.stderr
    assert not any(tmp_path.iterdir()), "nothing written"


@pytest.mark.slow  # 3 min in CI; the buffer and temperature checkpoint test and the relabelling tests stay
def test_sac_her_on_fetch_reach_checkpoints_resumes_and_logs_success(ray_head: Head, tmp_path: Path) -> None:
    args = ["jobs/fetch_reach_her.yaml", "--profile", "smoke", "--set", f"storage_path={tmp_path}"]
    driver = start_run([*args, "--set", "stop.env_steps=1200"], ray_head.env())
    run = wait_for_checkpoints(tmp_path, "fetch_reach_her", 3, driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait(60)
    outcome = rapid("run", "--resume", str(run), env=ray_head.env())
    assert outcome.returncode == 0, outcome.stderr
    table = rows(run)
    assert table["env_steps"][-1] >= 1200
    success = [v for v in table["evaluation/env_runners/success_rate"] if v == v]
    assert success and all(0.0 <= v <= 1.0 for v in success)
    assert any(since != it for it, since in zip(table["iteration"], table["iterations_since_restore"], strict=True))
    assert results_of(tmp_path, "fetch_reach_her") == [run]
    checkpoint = sorted((run / "checkpoints").glob("checkpoint_*"))[-1]
    state = pickle.loads((checkpoint / "learner_group/learner/rl_module/default_policy/module_state.pkl").read_bytes())
    assert float(state["obs_norm.count"]) > 100, "the input normalization learned from learner batches and was saved"


def log_alpha(trainable: RLlibJobTrainable) -> float:
    calls = trainable.algo.learner_group.foreach_learner(lambda learner: float(learner.curr_log_alpha["default_policy"].detach()[0]))
    return next(iter(calls)).get()


def test_the_replay_buffer_and_the_temperature_travel_with_checkpoints(tmp_path: Path) -> None:
    """RLlib's new stack checkpoints leave out the buffer and SAC's alpha; rapid saves and restores both."""
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        job = load_spec(ROOT / "jobs" / "fetch_reach_her.yaml", profile="smoke").job
        config = {"job": rllib_body(job)}
        first = RLlibJobTrainable(config=config)
        for _ in range(3):
            first.train()
        learner = first.algo.train()["learners"]["default_policy"]
        assert learner["num_module_steps_trained"] > 0 and np.isfinite(learner["qf_loss"]), "the buffer's batches train SAC"
        stored = first.algo.local_replay_buffer
        saved_steps = stored.get_num_timesteps()
        saved_log_alpha = log_alpha(first)
        first.save_checkpoint(str(tmp_path))
        second = RLlibJobTrainable(config=config)
        assert second.algo.local_replay_buffer.get_num_timesteps() == 0
        assert log_alpha(second) != saved_log_alpha, "training moved alpha away from its initial value"
        second.load_checkpoint(str(tmp_path))
        assert log_alpha(second) == saved_log_alpha
        restored = second.algo.local_replay_buffer
        assert restored.get_num_timesteps() == stored.get_num_timesteps() > 0
        assert [e.id_ for e in restored.episodes] == [e.id_ for e in stored.episodes]
        second.train()
        first.train()
        first.load_checkpoint(str(tmp_path))  # restoring into a trainable that already holds data
        assert first.algo.local_replay_buffer.get_num_timesteps() == saved_steps
        first.train()
        first.stop()
        second.stop()
    finally:
        ray.shutdown()


def test_target_q_range_clips_what_the_critic_bootstraps_from() -> None:
    """HER's target clipping: every target r + gamma * Q'(s') stays within the range,
    however far the target critic has drifted past it."""
    job = load_spec(ROOT / "jobs" / "fetch_reach_her.yaml", profile="smoke").job
    assert job.training["target_q_range"] == [-50, math.inf], "the HER jobs clip from below at the lowest return"
    config = build_algorithm_config(job)
    spaces = {"default_policy": (gym.spaces.Box(-np.inf, np.inf, (16,), np.float32), gym.spaces.Box(-1, 1, (4,), np.float32))}
    learner = config.build_learner(env=None, spaces=spaces)
    learner.build()
    rewards = torch.tensor([-1.0, -1.0, 0.0, 0.0])
    batch = {Columns.REWARDS: rewards, Columns.TERMINATEDS: torch.zeros(4), "n_step": torch.ones(4), "weights": torch.ones(4)}
    target_q_next = torch.tensor([-1000.0, -30.0, 7.0, -0.5])
    zero_entropy = {"logp_next_resampled": torch.zeros(4), "logp_resampled": torch.zeros(4), "q_curr": torch.zeros(4)}
    module_config = learner.config.get_config_for_module("default_policy")

    def critic_loss(predicted: torch.Tensor, target_q_range: list[float] | None) -> float:
        fwd_out = {"qf_preds": predicted, "qf_twin_preds": predicted, "q_target_next": target_q_next, **zero_entropy}
        ranged = module_config.copy(copy_frozen=False).training(target_q_range=target_q_range)
        learner.compute_loss_for_module(module_id="default_policy", config=ranged, batch=batch, fwd_out=fwd_out)
        return float(learner._temp_losses[("default_policy", "qf_loss")])

    for low, high in ((-50, 0), (-50, math.inf)):
        targets = rewards + GAMMA * target_q_next.clamp(low, high)
        assert targets.min() >= -50 and (high > 0 or targets.max() <= 0)
        assert critic_loss(targets, [low, high]) == 0.0, "the critic's predictions equal the clipped targets"
        assert critic_loss(targets, None) > 10.0


def test_the_critic_is_one_mlp_over_observation_and_action() -> None:
    """HER's and SAC's papers' critic (and SB3's): fcnet_hiddens over [observation, action], then one output."""
    obs_space = gym.spaces.Box(-np.inf, np.inf, (31,), np.float32)
    module = NormalizedSACModule(observation_space=obs_space, action_space=gym.spaces.Box(-1, 1, (4,), np.float32),
                                 model_config={"fcnet_hiddens": [64, 64, 64], "fcnet_activation": "tanh", "twin_q": True})
    for body, head in ((module.qf_encoder, module.qf), (module.qf_twin_encoder, module.qf_twin)):
        layers = [m for m in [*body.modules(), *head.modules()] if isinstance(m, torch.nn.Linear)]
        assert [(layer.in_features, layer.out_features) for layer in layers] == [(35, 64), (64, 64), (64, 64), (64, 1)]
    q = module.compute_q_values({"obs": torch.zeros(5, 31), "actions": torch.zeros(5, 4)})
    assert q.shape == (5,)


def test_deterministic_actions_are_the_squashed_mean() -> None:
    """Evaluation (explore: false) acts with tanh(mean), the mode of the squashed Gaussian SAC
    samples from in training, not the raw mean clipped to the bounds (RLlib 2.60's own)."""
    module = NormalizedSACModule(observation_space=gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
                                 action_space=gym.spaces.Box(-1, 1, (2,), np.float32),
                                 model_config={"fcnet_hiddens": [8], "fcnet_activation": "tanh", "twin_q": True})
    mean = torch.tensor([[2.0, -0.5]])
    batch = {Columns.ACTION_DIST_INPUTS: torch.cat([mean, torch.zeros(1, 2)], dim=-1)}
    actions = GetActions()(rl_module=module, batch=batch, episodes=[SingleAgentEpisode()], explore=False, shared_data={})[Columns.ACTIONS]
    assert torch.allclose(actions, torch.tanh(mean))


def test_a_share_of_exploring_actions_is_uniform_random() -> None:
    """`random_actions: 0.3` (HER's DDPG) makes 30% of exploring steps uniform random: the env
    steps with them and the buffer stores them. Deterministic evaluation never gets one."""
    job = load_spec(ROOT / "jobs" / "fetch_reach_her.yaml", profile="smoke", overrides=["random_actions=0.3", "seed=1"]).job
    register_env(job)
    runner = SingleAgentEnvRunner(config=build_algorithm_config(job))
    pieces = [type(piece).__name__ for piece in runner._module_to_env.connectors]
    assert pieces.index("RandomActions") < pieces.index("NormalizeAndClipActions"), "the env steps with the random action"
    head = [m for m in runner.module.pi.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():  # the policy itself always pushes every joint to +1
        head.weight.zero_()
        head.bias.copy_(torch.tensor([20.0] * 4 + [-20.0] * 4))
    episodes = runner.sample(num_timesteps=3000, explore=True, random_actions=False)
    actions = np.concatenate([e.get_actions() for e in episodes])
    uniform = actions[~np.all(actions > 0.999, axis=1)]
    assert len(uniform) / len(actions) == pytest.approx(0.3, abs=0.03)
    assert np.all(np.abs(uniform) <= 1) and np.mean(uniform) == pytest.approx(0, abs=0.05)
    assert np.std(uniform) == pytest.approx(1 / np.sqrt(3), abs=0.03), "uniform over the action range"
    evaluation = runner.sample(num_episodes=4, explore=False)
    assert np.all(np.concatenate([e.get_actions() for e in evaluation]) > 0.999)
    runner.stop()


@pytest.mark.parametrize(
    ("space", "normalized", "low", "high"),
    [
        (gym.spaces.Box(np.float32([-2, 0]), np.float32([2, 0.5])), True, [-1, -1], [1, 1]),
        (gym.spaces.Box(np.float32([-2, 0]), np.float32([2, 0.5])), False, [-2, 0], [2, 0.5]),
        (gym.spaces.Discrete(3, start=1), False, 1, 3),
    ],
    ids=["box-normalized", "box-bounds", "discrete"],
)
def test_random_actions_cover_the_action_range(space: gym.Space, normalized: bool, low, high) -> None:
    """Before RLlib unsquashes them, a normalized algorithm's actions lie in [-1, 1]; otherwise the
    draw spans the env's own bounds or choices."""
    piece = RandomActions(input_action_space=space, share=1.0, normalized=normalized)
    batch = {Columns.ACTIONS: [np.full(space.shape, 9, space.dtype)] * 2000}
    drawn = np.array(piece(rl_module=None, batch=batch, episodes=[], explore=True)[Columns.ACTIONS])
    assert np.all(drawn >= low) and np.all(drawn <= high)
    np.testing.assert_allclose(drawn.min(axis=0), low, atol=0.01)
    np.testing.assert_allclose(drawn.max(axis=0), high, atol=0.01)
