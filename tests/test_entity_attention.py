"""EntityAttentionModule: shapes, masking (hidden entities reach only the critic, padding nothing), recurrence,
statistics, config errors, and one PPO iteration on a multi-agent env with the hide-and-seek observation contract."""

import math
from typing import Any

import numpy as np
import pytest
import torch
from gymnasium.spaces import Box, Dict, Discrete, MultiDiscrete
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from rapid.policies.entity_attention import MODEL_CONFIG_KEYS, EntityAttentionModule, masked_mean, masked_softmax

ENTITIES = {"agents": (3, 9), "boxes": (6, 10), "ramps": (2, 10)}
ACTIONS = MultiDiscrete([11, 11, 11, 2, 2])
SMALL = {"embed_dim": 16, "heads": 4, "fc": 32, "lstm_cell_size": 16, "lidar_channels": 3}
STATE_KEYS = {"actor_h", "actor_c", "critic_h", "critic_c"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def obs_space(lidar: bool = True, entities: dict[str, tuple[int, int]] = ENTITIES) -> Dict:
    spaces: dict[str, Box] = {"self": Box(-10.0, 10.0, (12,), np.float32)}
    if lidar:
        spaces["lidar"] = Box(0.0, 6.0, (30,), np.float32)
    for key, (n, f) in entities.items():
        spaces[key] = Box(-10.0, 10.0, (n, f), np.float32)
        spaces[f"{key}_visible"] = Box(0.0, 1.0, (n,), np.float32)
        spaces[f"{key}_present"] = Box(0.0, 1.0, (n,), np.float32)
    return Dict(spaces)


def make_module(space: Dict | None = None, actions: Any = ACTIONS, **config: Any) -> EntityAttentionModule:
    torch.manual_seed(0)
    return EntityAttentionModule(observation_space=space or obs_space(), action_space=actions, model_config={**SMALL, **config})


def obs_batch(b: int, t: int, space: Dict | None = None, seed: int = 1) -> dict[str, torch.Tensor]:
    """Random features; in every step the last agent slot is padding, box 0 is present but hidden."""
    g = torch.Generator().manual_seed(seed)
    obs = {key: torch.randn(b, t, *box.shape, generator=g) for key, box in (space or obs_space()).spaces.items()}
    for key in obs:
        if key.endswith(("_visible", "_present")):
            obs[key] = torch.ones_like(obs[key])
    if "lidar" in obs:
        obs["lidar"] = obs["lidar"].abs()
    obs["agents_present"][..., -1] = obs["agents_visible"][..., -1] = 0.0
    obs["boxes_visible"][..., 0] = 0.0
    return obs


def initial_state(module: EntityAttentionModule, b: int) -> dict[str, torch.Tensor]:
    """The unbatched initial state repeated over the batch, as RLlib's connectors do."""
    return {k: torch.from_numpy(v).unsqueeze(0).repeat(b, 1) for k, v in module.get_initial_state().items()}


def batch_of(module: EntityAttentionModule, obs: dict[str, torch.Tensor]) -> dict[str, Any]:
    return {Columns.OBS: obs, Columns.STATE_IN: initial_state(module, obs["self"].shape[0])}


def outputs(module: EntityAttentionModule, obs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """Policy logits, next state, values of one batch, without touching the statistics."""
    with torch.no_grad():
        batch = batch_of(module, obs)
        out = module.forward_inference(batch)
        return out[Columns.ACTION_DIST_INPUTS], out[Columns.STATE_OUT], module.compute_values(batch)


def test_defaults_are_the_papers_and_reach_model_config_for_rllibs_connectors():
    module = EntityAttentionModule(observation_space=obs_space(), action_space=ACTIONS, model_config={"vf_share_layers": False})
    assert MODEL_CONFIG_KEYS <= set(module.model_config)
    expected = {"embed_dim": 128, "heads": 4, "fc": 256, "lstm_cell_size": 256, "lidar_channels": 9, "lidar_kernel": 3}
    assert {k: module.model_config[k] for k in expected} == expected
    assert module.model_config["max_seq_len"] == 10
    assert module.is_stateful() and set(module.get_initial_state()) == STATE_KEYS
    assert module.entity_types == ["agents", "boxes", "ramps"]
    logits, state, values = outputs(module, obs_batch(2, 1))
    assert logits.shape == (2, 1, 37) and values.shape == (2, 1)
    assert all(v.shape == (2, 256) for v in state.values())


def test_forward_shapes_on_env_runner_and_learner():
    module = make_module()
    for forward in (module.forward_exploration, module.forward_inference):
        out = forward(batch_of(module, obs_batch(3, 1)))
        assert out[Columns.ACTION_DIST_INPUTS].shape == (3, 1, 37)
        assert {k: v.shape for k, v in out[Columns.STATE_OUT].items()} == {k: (3, 16) for k in STATE_KEYS}
        assert Columns.EMBEDDINGS not in out, "critic features would be stored in every episode step"

    batch = batch_of(module, obs_batch(2, 5))
    out = module.forward_train(batch)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (2, 5, 37)
    values = module.compute_values(batch)
    assert values.shape == (2, 5)
    torch.testing.assert_close(module.compute_values(batch, embeddings=out[Columns.EMBEDDINGS]), values)
    actions = module.get_exploration_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS]).sample()
    assert actions.shape == (2, 5, 5)
    assert (actions[..., :3] < 11).all() and (actions[..., 3:] < 2).all()


def test_discrete_actions_and_a_space_without_lidar():
    module = make_module(obs_space(lidar=False), Discrete(7))
    assert module.actor.lidar_conv is None
    out = module.forward_train(batch_of(module, obs_batch(2, 3, obs_space(lidar=False))))
    assert out[Columns.ACTION_DIST_INPUTS].shape == (2, 3, 7)
    assert module.get_train_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS]).sample().shape == (2, 3)


def test_entity_types_are_found_from_the_space():
    space = obs_space(entities={"food": (4, 5), "agents": (2, 9)})
    module = make_module(space)
    assert module.entity_types == ["agents", "food"]
    with pytest.raises(ValueError, match=r"\['team'\] are neither"):
        make_module(Dict({**space.spaces, "team": Box(0.0, 1.0, (2,))}))
    with pytest.raises(ValueError, match="'food_present' must be a Box of shape \\(4,\\)"):
        make_module(Dict({**space.spaces, "food_present": Box(0.0, 1.0, (3,))}))
    with pytest.raises(ValueError, match="with a 'self' key"):
        make_module(Box(-1.0, 1.0, (40,)))
    with pytest.raises(ValueError, match="Discrete and 1-D MultiDiscrete"):
        make_module(actions=Box(-1.0, 1.0, (3,)))


def test_a_hidden_entity_reaches_the_critic_only_and_padding_reaches_nothing():
    module = make_module()
    obs = obs_batch(4, 3)
    logits, state, values = outputs(module, obs)

    hidden = {**obs, "boxes": obs["boxes"].clone()}
    hidden["boxes"][..., 0, :] += 100.0  # box 0: present, not visible
    h_logits, h_state, h_values = outputs(module, hidden)
    assert torch.equal(h_logits, logits)
    assert all(torch.equal(h_state[k], state[k]) for k in ("actor_h", "actor_c"))
    assert not torch.allclose(h_values, values), "the critic sees every present entity"
    assert not torch.allclose(h_state["critic_h"], state["critic_h"])

    padded = {**obs, "agents": obs["agents"].clone()}
    padded["agents"][..., -1, :] = float("nan")  # the padding slot: neither present nor visible
    p_logits, p_state, p_values = outputs(module, padded)
    assert torch.equal(p_logits, logits) and torch.equal(p_values, values)
    assert all(torch.equal(p_state[k], state[k]) for k in STATE_KEYS)

    seen = {**obs, "boxes": obs["boxes"].clone()}
    seen["boxes"][..., 1, :] += 100.0  # box 1 is visible: the policy must react
    assert not torch.allclose(outputs(module, seen)[0], logits)


def test_extra_keys_reach_only_the_pathway_that_names_them():
    """RUSP's seam: the policy reads its noisy view (`rusp`), the critic the truth (`rusp_critic`)."""
    space = Dict({**obs_space().spaces, "rusp": Box(-5.0, 5.0, (8,), np.float32), "rusp_critic": Box(-5.0, 5.0, (8,), np.float32)})
    module = make_module(space, actor_extra_keys=["rusp"], critic_extra_keys=["rusp_critic"])
    obs = obs_batch(4, 3, space)
    logits, state, values = outputs(module, obs)

    truth = {**obs, "rusp_critic": obs["rusp_critic"] + 3.0}
    t_logits, t_state, t_values = outputs(module, truth)
    assert torch.equal(t_logits, logits) and all(torch.equal(t_state[k], state[k]) for k in ("actor_h", "actor_c"))
    assert not torch.allclose(t_values, values)

    belief = {**obs, "rusp": obs["rusp"] + 3.0}
    b_logits, _, b_values = outputs(module, belief)
    assert not torch.allclose(b_logits, logits) and torch.equal(b_values, values)

    with pytest.raises(ValueError, match=r"\['rusp', 'rusp_critic'\] are neither"):
        make_module(space)
    with pytest.raises(ValueError, match=r"extra keys \['rusp_truth'\] are not in the observations"):
        make_module(space, actor_extra_keys=["rusp"], critic_extra_keys=["rusp_truth"])


def test_no_entity_to_see_gives_finite_outputs_and_gradients():
    module = make_module()
    obs = obs_batch(2, 3)
    for key in ("agents", "boxes", "ramps"):
        obs[f"{key}_visible"] = torch.zeros_like(obs[f"{key}_visible"])
        obs[f"{key}_present"] = torch.zeros_like(obs[f"{key}_present"])
    batch = batch_of(module, obs)
    out = module.forward_train(batch)
    values = module.compute_values(batch, embeddings=out[Columns.EMBEDDINGS])
    (out[Columns.ACTION_DIST_INPUTS].sum() + values.sum()).backward()
    assert torch.isfinite(out[Columns.ACTION_DIST_INPUTS]).all() and torch.isfinite(values).all()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)


def test_masked_softmax_and_pooling_over_an_empty_set_are_zero():
    logits = torch.randn(2, 4, requires_grad=True)
    mask = torch.tensor([[True, False, True, False], [False, False, False, False]])
    weights = masked_softmax(logits, mask)
    assert torch.allclose(weights[0].sum(), torch.tensor(1.0)) and (weights[0, ~mask[0]] == 0).all()
    assert torch.equal(weights[1], torch.zeros(4))
    weights.sum().backward()
    assert torch.isfinite(logits.grad).all()
    pooled = masked_mean(torch.randn(2, 4, 3), mask)
    assert torch.equal(pooled[1], torch.zeros(3)) and torch.isfinite(pooled).all()


def test_one_sequence_call_equals_stepping_with_both_states_carried():
    module = make_module()
    obs = obs_batch(2, 5)
    batch = batch_of(module, obs)
    with torch.no_grad():
        whole = module.forward_inference(batch)
        values = module.compute_values(batch)
    state, steps, step_values = initial_state(module, 2), [], []
    with torch.no_grad():
        for t in range(5):
            step = {Columns.OBS: {k: v[:, t : t + 1] for k, v in obs.items()}, Columns.STATE_IN: state}
            out = module.forward_inference(step)
            steps.append(out[Columns.ACTION_DIST_INPUTS])
            step_values.append(module.compute_values(step))
            state = out[Columns.STATE_OUT]
    torch.testing.assert_close(torch.cat(steps, dim=1), whole[Columns.ACTION_DIST_INPUTS], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat(step_values, dim=1), values, atol=1e-5, rtol=1e-5)
    for key in STATE_KEYS:
        torch.testing.assert_close(state[key], whole[Columns.STATE_OUT][key], atol=1e-5, rtol=1e-5)


def test_statistics_move_on_learner_batches_only_and_skip_padding():
    module = make_module()
    b, t = 4, 5
    obs = obs_batch(b, t)
    obs["self"] = 100.0 + 10.0 * obs["self"]
    obs["boxes"] = -50.0 + 3.0 * obs["boxes"]
    obs["agents"][..., -1, :] = 1e6  # padding slot
    mask = torch.ones(b, t, dtype=torch.bool)
    mask[:, -1] = False  # padded step
    obs["self"][:, -1] = 1e6
    batch = {**batch_of(module, obs), Columns.LOSS_MASK: mask}
    module.forward_exploration(batch)
    assert torch.equal(module.norms["self"].mean, torch.zeros(12)), "acting never moves the statistics"
    module.forward_train(batch)
    assert module.norms["self"].mean.mean().item() == pytest.approx(100.0, abs=5.0)
    assert module.norms["boxes"].mean.mean().item() == pytest.approx(-50.0, abs=2.0)
    assert module.norms["agents"].mean.abs().max().item() < 5.0, "padded entity slots are left out"
    assert module.norms["lidar"].mean.shape == (1,), "one statistic for all rays"
    assert (module.norms["self"](obs["self"]).abs() <= 5.0).all(), "clipped to +-5"


def test_a_ppo_like_gradient_step_trains_both_pathways():
    module = make_module()
    batch = batch_of(module, obs_batch(4, 5))
    with torch.no_grad():
        old = module.forward_train(batch)
        dist_cls = module.get_train_action_dist_cls()
        actions = dist_cls.from_logits(old[Columns.ACTION_DIST_INPUTS]).sample()
        old_logp = dist_cls.from_logits(old[Columns.ACTION_DIST_INPUTS]).logp(actions)
    before = {name: p.detach().clone() for name, p in module.named_parameters()}
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    out = module.forward_train(batch)
    dist = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
    ratio = torch.exp(dist.logp(actions) - old_logp)
    advantages, targets = torch.randn(4, 5), torch.randn(4, 5)
    surrogate = torch.min(advantages * ratio, advantages * ratio.clamp(0.8, 1.2))
    values = module.compute_values(batch, embeddings=out[Columns.EMBEDDINGS])
    loss = -surrogate.mean() + 0.5 * (values - targets).pow(2).mean() - 0.01 * dist.entropy().mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert math.isfinite(loss.item())
    changed = {name.split(".")[0] for name, p in module.named_parameters() if not torch.equal(p, before[name])}
    assert changed == {"actor", "critic", "pi_heads", "vf_head"}


def test_model_config_typos_and_bad_values_are_refused_with_the_key():
    with pytest.raises(ValueError, match=r"model_config\.embed_dimm: unknown key \(did you mean 'embed_dim'\?\)"):
        make_module(embed_dimm=64)
    with pytest.raises(ValueError, match=r"model_config\.heads: must divide embed_dim \(16\)"):
        make_module(heads=3)
    with pytest.raises(ValueError, match=r"model_config\.lidar_kernel: must be odd"):
        make_module(lidar_kernel=4)
    with pytest.raises(ValueError, match=r"model_config\.fc"):
        make_module(fc=0)
    module = make_module(vf_share_layers=False, fcnet_hiddens=[8])  # RLlib's own keys pass through, unused
    assert module.model_config["fcnet_hiddens"] == [8]


class HideAndSeekStandIn(MultiAgentEnv):
    """Two agents with the hide-and-seek observation contract and random observations; 12 steps an episode."""

    def __init__(self, config: dict | None = None):
        super().__init__()
        self.agents = self.possible_agents = ["hider_0", "seeker_0"]
        self.observation_spaces = {a: obs_space() for a in self.agents}
        self.action_spaces = {a: ACTIONS for a in self.agents}
        self.rng = np.random.default_rng(0)

    def _obs(self) -> dict[str, dict[str, np.ndarray]]:
        def one() -> dict[str, np.ndarray]:
            sample = obs_space().sample()
            return {k: (v > 0.5).astype(np.float32) if k.endswith(("_visible", "_present")) else v for k, v in sample.items()}

        return {a: one() for a in self.agents}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.t = 0
        return self._obs(), {}

    def step(self, action_dict: dict[str, np.ndarray]):
        self.t += 1
        rewards = {a: float(self.rng.normal()) for a in self.agents}
        done = self.t >= 12
        return self._obs(), rewards, {"__all__": done}, {"__all__": False}, {}


def test_ppo_trains_one_shared_module_on_a_multi_agent_env(local_ray):
    spec = RLModuleSpec(module_class=EntityAttentionModule, model_config={**SMALL, "max_seq_len": 4})
    config = (
        PPOConfig()
        .environment(HideAndSeekStandIn)
        .env_runners(num_env_runners=0)
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda agent_id, episode, **kwargs: "shared")
        .rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs={"shared": spec}))
        .training(train_batch_size_per_learner=96, minibatch_size=48, num_epochs=1)
    )
    algo = config.build_algo()
    try:
        result = algo.train()
        learner = result["learners"]["shared"]
        assert math.isfinite(learner["vf_loss"]) and math.isfinite(learner["policy_loss"])
        assert algo.env_runner.module["shared"].model_config["max_seq_len"] == 4
    finally:
        algo.stop()
