"""AsymmetricLSTMModule: shapes, recurrence, the critic's privileged input, and one real PPO iteration."""

import math
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.spaces import Box, Dict, Discrete, MultiDiscrete
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rapid.policies.asymmetric_lstm import MODEL_CONFIG_KEYS, AsymmetricLSTMModule

OBS_SPACE = Dict(actor=Box(-1.0, 1.0, (10,)), critic=Box(-1.0, 1.0, (30,)))
BOX_ACTIONS = Box(-1.0, 1.0, (4,))
SMALL = {"actor_hidden": [32], "lstm_size": 16, "critic_hidden": [32, 32]}


def make_module(action_space: gym.Space = BOX_ACTIONS, **kwargs: Any) -> AsymmetricLSTMModule:
    torch.manual_seed(0)
    return AsymmetricLSTMModule(observation_space=OBS_SPACE, action_space=action_space, model_config=dict(SMALL), **kwargs)


def initial_state(module: AsymmetricLSTMModule, batch_size: int) -> dict[str, torch.Tensor]:
    """The module's unbatched initial state repeated over the batch, as RLlib's connectors do."""
    return {k: torch.from_numpy(v).unsqueeze(0).repeat(batch_size, 1) for k, v in module.get_initial_state().items()}


def obs_batch(b: int, t: int, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"actor": torch.randn(b, t, 10, generator=g), "critic": torch.randn(b, t, 30, generator=g)}


def test_defaults_are_written_into_model_config_for_rllibs_connectors():
    module = make_module()
    assert set(module.model_config) == MODEL_CONFIG_KEYS
    assert module.model_config["max_seq_len"] == 20
    assert module.model_config["lstm_size"] == 16
    assert module.is_stateful()


def test_forward_shapes_on_env_runner_and_learner():
    module = make_module()
    for forward in (module.forward_exploration, module.forward_inference):
        out = forward({Columns.OBS: obs_batch(3, 1), Columns.STATE_IN: initial_state(module, 3)})
        assert out[Columns.ACTION_DIST_INPUTS].shape == (3, 1, 8)
        assert {k: v.shape for k, v in out[Columns.STATE_OUT].items()} == {"h": (3, 16), "c": (3, 16)}

    batch = {Columns.OBS: obs_batch(2, 5), Columns.STATE_IN: initial_state(module, 2)}
    out = module.forward_train(batch)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (2, 5, 8)
    assert {k: v.shape for k, v in out[Columns.STATE_OUT].items()} == {"h": (2, 16), "c": (2, 16)}
    assert module.compute_values(batch).shape == (2, 5)


def test_gaussian_log_std_is_one_learned_parameter_shared_by_all_states():
    module = make_module()
    out = module.forward_train({Columns.OBS: obs_batch(2, 5), Columns.STATE_IN: initial_state(module, 2)})
    log_std = out[Columns.ACTION_DIST_INPUTS][..., 4:]
    assert torch.equal(log_std, module.log_std.expand(2, 5, 4))
    dist = module.get_train_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
    assert dist.sample().shape == (2, 5, 4)


@pytest.mark.parametrize(("space", "width", "action_shape"), [(Discrete(3), 3, (2, 5)), (MultiDiscrete([11, 11]), 22, (2, 5, 2))])
def test_discrete_action_spaces_get_logits(space: gym.Space, width: int, action_shape: tuple[int, ...]):
    module = make_module(space)
    assert module.log_std is None
    out = module.forward_train({Columns.OBS: obs_batch(2, 5), Columns.STATE_IN: initial_state(module, 2)})
    assert out[Columns.ACTION_DIST_INPUTS].shape == (2, 5, width)
    assert module.get_exploration_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS]).sample().shape == action_shape


def test_unsupported_spaces_are_rejected():
    with pytest.raises(ValueError, match="1-D Box, Discrete"):
        make_module(Box(-1.0, 1.0, (2, 3)))
    with pytest.raises(ValueError, match=r"the keys \['actor'\]"):
        AsymmetricLSTMModule(observation_space=Box(-1.0, 1.0, (40,)), action_space=Discrete(2), model_config=dict(SMALL))


def test_named_entries_feed_the_actor_and_the_critic_each_only_its_own():
    """RUSP's layout: the actor reads the game and its noisy view, the critic the game and the truth."""
    space = Dict(obs=Box(-1.0, 1.0, (3,)), rusp=Box(-1.0, 1.0, (8,)), rusp_critic=Box(-1.0, 1.0, (8,)))
    config = {**SMALL, "actor_keys": ["obs", "rusp"], "critic_keys": ["obs", "rusp_critic"]}
    torch.manual_seed(0)
    module = AsymmetricLSTMModule(observation_space=space, action_space=Discrete(2), model_config=config)
    g = torch.Generator().manual_seed(3)
    obs = {key: torch.randn(2, 4, part.shape[0], generator=g) for key, part in space.spaces.items()}

    def outputs(changed: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        batch = {Columns.OBS: {**obs, **({changed: obs[changed] + 1.0} if changed else {})},
                 Columns.STATE_IN: initial_state(module, 2)}
        return module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS], module.compute_values(batch)

    with torch.no_grad():
        (pi_0, v_0), (pi_rusp, v_rusp) = outputs(None), outputs("rusp")
        (pi_true, v_true), (pi_game, v_game) = outputs("rusp_critic"), outputs("obs")
    assert torch.equal(v_rusp, v_0) and not torch.allclose(pi_rusp, pi_0)
    assert torch.equal(pi_true, pi_0) and not torch.allclose(v_true, v_0)
    assert not torch.allclose(pi_game, pi_0) and not torch.allclose(v_game, v_0)


def test_initial_state_changes_the_output():
    module = make_module()
    obs = obs_batch(2, 5)
    zero = module.forward_inference({Columns.OBS: obs, Columns.STATE_IN: initial_state(module, 2)})
    g = torch.Generator().manual_seed(7)
    other = {k: torch.randn(2, 16, generator=g) for k in ("h", "c")}
    moved = module.forward_inference({Columns.OBS: obs, Columns.STATE_IN: other})
    assert not torch.allclose(zero[Columns.ACTION_DIST_INPUTS], moved[Columns.ACTION_DIST_INPUTS])


def test_one_sequence_call_equals_stepping_with_the_state_carried():
    module = make_module()
    obs = obs_batch(2, 5)
    whole = module.forward_train({Columns.OBS: obs, Columns.STATE_IN: initial_state(module, 2)})

    state, steps = initial_state(module, 2), []
    for t in range(5):
        step_obs = {k: v[:, t : t + 1] for k, v in obs.items()}
        out = module.forward_inference({Columns.OBS: step_obs, Columns.STATE_IN: state})
        steps.append(out[Columns.ACTION_DIST_INPUTS])
        state = out[Columns.STATE_OUT]

    torch.testing.assert_close(torch.cat(steps, dim=1), whole[Columns.ACTION_DIST_INPUTS].detach(), atol=1e-5, rtol=1e-5)
    for k in ("h", "c"):
        torch.testing.assert_close(state[k], whole[Columns.STATE_OUT][k].detach(), atol=1e-5, rtol=1e-5)


def test_critic_sees_only_the_privileged_state():
    module = make_module()
    obs = obs_batch(2, 5)
    values = module.compute_values({Columns.OBS: obs})
    other_actor = module.compute_values({Columns.OBS: {"actor": obs["actor"] + 1.0, "critic": obs["critic"]}})
    other_critic = module.compute_values({Columns.OBS: {"actor": obs["actor"], "critic": obs["critic"] + 1.0}})
    assert torch.equal(values, other_actor)
    assert not torch.allclose(values, other_critic)


def test_observation_statistics_update_on_learner_batches_and_reach_env_runners():
    module = make_module()
    b, t = 4, 5
    obs = {"actor": 100.0 + 10.0 * torch.randn(b, t, 10), "critic": -50.0 + 3.0 * torch.randn(b, t, 30)}
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[:, -1] = False  # a padded step must not count
    obs["actor"][:, -1] = 0.0
    batch = {Columns.OBS: obs, Columns.STATE_IN: initial_state(module, b), Columns.LOSS_MASK: mask}
    module.forward_inference(batch)
    assert torch.allclose(module.actor_norm.mean, torch.zeros(10)), "acting never moves the statistics"
    module.forward_train(batch)
    assert module.actor_norm.mean.mean().item() == pytest.approx(100.0, abs=3.0)
    assert module.critic_norm.mean.mean().item() == pytest.approx(-50.0, abs=2.0)
    normalized = module.actor_norm(obs["actor"][:, :-1])
    assert normalized.abs().mean().item() < 2.0
    runner_state = module.get_state(inference_only=True)
    assert "actor_norm.mean" in runner_state and not any(k.startswith("critic") for k in runner_state)
    runner = make_module(inference_only=True)
    runner.set_state(runner_state)
    assert torch.equal(runner.actor_norm.mean, module.actor_norm.mean)


def test_inference_only_module_has_no_critic_and_loads_the_learners_weights():
    learner_module = make_module()
    runner_module = make_module(inference_only=True)
    assert not hasattr(runner_module, "critic")
    assert not any(name.startswith("critic") for name, _ in runner_module.named_parameters())

    shipped = learner_module.get_state(inference_only=True)
    assert not any(key.startswith("critic") for key in shipped)
    runner_module.set_state(shipped)
    batch = {Columns.OBS: obs_batch(3, 1), Columns.STATE_IN: initial_state(runner_module, 3)}
    torch.testing.assert_close(
        runner_module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS],
        learner_module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS],
    )


class HiddenVelocityPendulum(gym.ObservationWrapper):
    """Pendulum-v1 whose actor senses the angle only; the critic also gets the angular velocity."""

    def __init__(self, config: dict[str, Any] | None = None):
        super().__init__(gym.make("Pendulum-v1"))
        self.observation_space = Dict(actor=Box(-1.0, 1.0, (2,), np.float32), critic=self.env.observation_space)

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        return {"actor": observation[:2].copy(), "critic": observation}


def test_ppo_trains_with_the_critic_on_the_learner_only(local_ray):
    config = (
        PPOConfig()
        .environment(HiddenVelocityPendulum)
        .env_runners(num_env_runners=0)
        .training(train_batch_size_per_learner=256, minibatch_size=64, num_epochs=1)
        .rl_module(rl_module_spec=RLModuleSpec(module_class=AsymmetricLSTMModule, model_config={**SMALL, "max_seq_len": 8}))
    )
    algo = config.build_algo()
    try:
        for _ in range(2):
            result = algo.train()
        assert math.isfinite(result["learners"][DEFAULT_MODULE_ID]["vf_loss"])

        runner_module = algo.env_runner.module
        assert runner_module.inference_only
        assert not hasattr(runner_module, "critic")
        # foreach_learner returns RemoteCallResults (not the list its docstring says).
        on_learners = algo.learner_group.foreach_learner(lambda learner: hasattr(learner.module[DEFAULT_MODULE_ID], "critic"))
        assert [r.get() for r in on_learners] == [True]
    finally:
        algo.stop()
