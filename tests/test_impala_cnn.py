"""ImpalaCNN on its own (shapes, no RLlib needed) and ImpalaLSTMModule: shapes, recurrence, every input
used and trained, config errors, and one PPO iteration on a stand-in env with Simon Says' observations."""

import math
import subprocess
import sys
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.spaces import Box, Dict, Discrete
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from rapid.platform.registry import MODULES
from rapid.policies.impala_cnn import ImpalaCNN
from rapid.policies.impala_lstm import MODEL_CONFIG_KEYS, ImpalaLSTMModule

N_TASKS, N_INVENTORY, N_ACTIONS = 22, 16, 17
ACTIONS = Discrete(N_ACTIONS)
SMALL = {"cnn_channels": [8, 16, 16], "cnn_out": 32, "target_embedding": 8, "inventory_hidden": 8, "lstm_cell_size": 16}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def obs_space(size: tuple[int, int] = (32, 32)) -> Dict:
    return Dict(
        image=Box(0, 255, (*size, 3), np.uint8),
        target=Box(0.0, 1.0, (N_TASKS,), np.float32),
        inventory=Box(0.0, np.inf, (N_INVENTORY,), np.float32),
    )


def make_module(space: gym.Space | None = None, actions: gym.Space = ACTIONS, **config: Any) -> ImpalaLSTMModule:
    torch.manual_seed(0)
    return ImpalaLSTMModule(observation_space=space or obs_space(), action_space=actions, model_config={**SMALL, **config})


def obs_batch(b: int, t: int, size: tuple[int, int] = (32, 32), seed: int = 1) -> dict[str, torch.Tensor]:
    """Random uint8 frames, one-hot targets (task i for row i), small inventory counts."""
    g = torch.Generator().manual_seed(seed)
    targets = torch.nn.functional.one_hot(torch.arange(b) % N_TASKS, N_TASKS).float()
    return {
        "image": torch.randint(0, 256, (b, t, *size, 3), dtype=torch.uint8, generator=g),
        "target": targets.unsqueeze(1).repeat(1, t, 1),
        "inventory": torch.randint(0, 10, (b, t, N_INVENTORY), generator=g).float(),
    }


def initial_state(module: ImpalaLSTMModule, b: int) -> dict[str, torch.Tensor]:
    """The unbatched initial state repeated over the batch, as RLlib's connectors do."""
    return {k: torch.from_numpy(v).unsqueeze(0).repeat(b, 1) for k, v in module.get_initial_state().items()}


def logits_of(module: ImpalaLSTMModule, obs: dict[str, torch.Tensor], state: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    with torch.no_grad():
        batch = {Columns.OBS: obs, Columns.STATE_IN: state or initial_state(module, obs[module.image_key].shape[0])}
        return module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]


@pytest.mark.parametrize(("shape", "flat"), [((3, 64, 64), 32 * 8 * 8), ((3, 84, 61), 32 * 11 * 8), ((1, 9, 9), 32 * 2 * 2)])
def test_cnn_output_shape_for_any_image_size(shape: tuple[int, int, int], flat: int):
    cnn = ImpalaCNN(shape)
    assert cnn.fc.in_features == flat, "three stages each halve height and width, rounding up"
    out = cnn(torch.rand(5, *shape))
    assert out.shape == (5, 256) and (out >= 0).all()


def test_cnn_stage_channels_and_width_are_configurable():
    cnn = ImpalaCNN((3, 64, 64), channels=(8, 16), out_features=64)
    assert [stage.conv.out_channels for stage in cnn.stages] == [8, 16]
    assert cnn.fc.in_features == 16 * 16 * 16
    assert cnn(torch.rand(2, 3, 64, 64)).shape == (2, 64)


def test_cnn_imports_without_ray():
    """A plain torch training loop (behavioural cloning from pixels) can use the CNN without Ray."""
    code = "import sys, rapid.policies.impala_cnn; print(sorted(m for m in sys.modules if m.split('.')[0] == 'ray'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_defaults_reach_model_config_for_rllibs_connectors():
    space = obs_space((64, 64))
    module = ImpalaLSTMModule(observation_space=space, action_space=ACTIONS, model_config={"vf_share_layers": False})
    assert MODEL_CONFIG_KEYS <= set(module.model_config)
    expected = {"image_key": "image", "target_key": "target", "inventory_key": "inventory", "cnn_channels": [16, 32, 32],
                "cnn_out": 256, "target_embedding": 32, "inventory_hidden": 64, "lstm_cell_size": 256, "max_seq_len": 20}
    assert {k: module.model_config[k] for k in MODEL_CONFIG_KEYS} == expected
    assert module.is_stateful()
    assert {k: v.shape for k, v in module.get_initial_state().items()} == {"h": (256,), "c": (256,)}


def test_registered_for_specs_as_impala_lstm():
    entry = MODULES.entry("impala_lstm")
    assert entry.load() is ImpalaLSTMModule
    assert entry.extra["config_fields"]() == set(MODEL_CONFIG_KEYS)


def test_forward_shapes_on_env_runner_and_learner():
    module = make_module()
    for forward in (module.forward_exploration, module.forward_inference):
        out = forward({Columns.OBS: obs_batch(3, 1), Columns.STATE_IN: initial_state(module, 3)})
        assert out[Columns.ACTION_DIST_INPUTS].shape == (3, 1, N_ACTIONS)
        assert {k: v.shape for k, v in out[Columns.STATE_OUT].items()} == {"h": (3, 16), "c": (3, 16)}
        assert Columns.EMBEDDINGS not in out, "features would be stored in every episode step"

    batch = {Columns.OBS: obs_batch(2, 5), Columns.STATE_IN: initial_state(module, 2)}
    out = module.forward_train(batch)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (2, 5, N_ACTIONS)
    assert {k: v.shape for k, v in out[Columns.STATE_OUT].items()} == {"h": (2, 16), "c": (2, 16)}
    values = module.compute_values(batch)
    assert values.shape == (2, 5)
    torch.testing.assert_close(module.compute_values(batch, embeddings=out[Columns.EMBEDDINGS]), values)
    assert module.get_exploration_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS]).sample().shape == (2, 5)


def test_the_cnn_gets_channels_first_frames_scaled_to_unit_range():
    module = make_module()
    seen: list[torch.Tensor] = []
    module.cnn.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    obs = obs_batch(2, 3)
    obs["image"][0, 0, 4, 7] = torch.tensor([255, 0, 51], dtype=torch.uint8)
    logits_of(module, obs)
    (frames,) = seen
    assert frames.shape == (6, 3, 32, 32) and frames.dtype == torch.float32
    assert 0.0 <= frames.min() and frames.max() <= 1.0
    torch.testing.assert_close(frames[0, :, 4, 7], torch.tensor([1.0, 0.0, 0.2]))


def test_inventory_counts_are_squashed_by_log1p():
    module = make_module()
    seen: list[torch.Tensor] = []
    module.inventory_mlp.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    obs = obs_batch(2, 3)
    obs["inventory"][0, 0, :3] = torch.tensor([0.0, 1.0, 99.0])
    logits_of(module, obs)
    torch.testing.assert_close(seen[0][0, 0, :3], torch.tensor([0.0, math.log(2.0), math.log(100.0)]))


def test_the_recurrent_state_carries_information():
    module = make_module()
    obs = obs_batch(2, 3)
    g = torch.Generator().manual_seed(7)
    other = {k: torch.randn(2, 16, generator=g) for k in ("h", "c")}
    assert not torch.allclose(logits_of(module, obs), logits_of(module, obs, other))


def test_one_sequence_call_equals_stepping_with_the_state_carried():
    module = make_module()
    obs = obs_batch(2, 5)
    with torch.no_grad():
        whole = module.forward_inference({Columns.OBS: obs, Columns.STATE_IN: initial_state(module, 2)})
        state, steps = initial_state(module, 2), []
        for t in range(5):
            out = module.forward_inference({Columns.OBS: {k: v[:, t : t + 1] for k, v in obs.items()}, Columns.STATE_IN: state})
            steps.append(out[Columns.ACTION_DIST_INPUTS])
            state = out[Columns.STATE_OUT]
    torch.testing.assert_close(torch.cat(steps, dim=1), whole[Columns.ACTION_DIST_INPUTS], atol=1e-5, rtol=1e-5)
    for k in ("h", "c"):
        torch.testing.assert_close(state[k], whole[Columns.STATE_OUT][k], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("key", ["image", "target", "inventory"])
def test_every_observation_part_changes_the_logits(key: str):
    module = make_module()
    obs = obs_batch(4, 2)
    changed = dict(obs)
    if key == "image":
        changed["image"] = 255 - obs["image"]
    elif key == "target":
        changed["target"] = obs["target"].roll(1, dims=-1)  # every row asks for the next item
    else:
        changed["inventory"] = obs["inventory"] + 5.0
    before, after = logits_of(module, obs), logits_of(module, changed)
    assert not torch.allclose(before, after, atol=1e-6), f"'{key}' does not reach the policy"


def test_a_ppo_like_loss_trains_the_cnn_the_target_embedding_and_the_inventory_layers():
    module = make_module()
    obs = obs_batch(4, 3)
    batch = {Columns.OBS: obs, Columns.STATE_IN: initial_state(module, 4)}
    dist_cls = module.get_train_action_dist_cls()
    with torch.no_grad():
        old = dist_cls.from_logits(module.forward_train(batch)[Columns.ACTION_DIST_INPUTS])
        actions = old.sample()
        old_logp = old.logp(actions)
    out = module.forward_train(batch)
    dist = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
    ratio = torch.exp(dist.logp(actions) - old_logp)
    advantages, targets = torch.randn(4, 3), torch.randn(4, 3)
    surrogate = torch.min(advantages * ratio, advantages * ratio.clamp(0.8, 1.2))
    values = module.compute_values(batch, embeddings=out[Columns.EMBEDDINGS])
    loss = -surrogate.mean() + 0.5 * (values - targets).pow(2).mean() - 0.01 * dist.entropy().mean()
    loss.backward()
    assert math.isfinite(loss.item())

    for name in ("cnn.stages.0.conv.weight", "cnn.fc.weight", "inventory_mlp.0.weight", "lstm.weight_ih_l0", "pi_head.weight",
                 "vf_head.weight"):
        assert module.get_parameter(name).grad.abs().sum() > 0, f"no gradient reaches {name}"
    # An embedding table: exactly the rows (columns of the Linear) of the targets in the batch learn.
    used = module.target_embedding.weight.grad.abs().sum(0) > 0
    assert used.tolist() == [i < 4 for i in range(N_TASKS)]


def test_wrong_spaces_and_model_config_typos_are_refused():
    with pytest.raises(ValueError, match=r"keys \['image', 'target', 'inventory'\] \(not flattened\)"):
        make_module(Box(0.0, 1.0, (100,)))
    with pytest.raises(ValueError, match="'image' must be an \\(H, W, C\\) uint8 Box"):
        make_module(Dict({**obs_space().spaces, "image": Box(0.0, 1.0, (32, 32, 3), np.float32)}))
    with pytest.raises(ValueError, match="'target' must be a 1-D Box"):
        make_module(Dict({**obs_space().spaces, "target": Discrete(N_TASKS)}))
    with pytest.raises(ValueError, match="supports Discrete actions"):
        make_module(actions=Box(-1.0, 1.0, (2,)))
    with pytest.raises(ValueError, match=r"model_config\.lstm_size"):
        make_module(lstm_size=64)
    with pytest.raises(ValueError, match=r"model_config\.cnn_channels"):
        make_module(cnn_channels=[])


def test_observation_keys_come_from_model_config():
    space = Dict(rgb=obs_space()["image"], goal=obs_space()["target"], items=obs_space()["inventory"])
    module = make_module(space, image_key="rgb", target_key="goal", inventory_key="items")
    obs = obs_batch(2, 1)
    renamed = {"rgb": obs["image"], "goal": obs["target"], "items": obs["inventory"]}
    torch.testing.assert_close(logits_of(module, renamed), logits_of(make_module(), obs))


class SimonSaysStandIn(gym.Env):
    """Random frames, a random target each episode, rewards for matching it; 20 steps an episode."""

    def __init__(self, config: dict | None = None):
        self.observation_space = obs_space()
        self.action_space = ACTIONS
        self.rng = np.random.default_rng(0)

    def _obs(self) -> dict[str, np.ndarray]:
        return {
            "image": self.rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),
            "target": np.eye(N_TASKS, dtype=np.float32)[self.target],
            "inventory": self.rng.integers(0, 5, N_INVENTORY).astype(np.float32),
        }

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.t, self.target = 0, int(self.rng.integers(N_TASKS))
        return self._obs(), {}

    def step(self, action: int):
        self.t += 1
        return self._obs(), float(action == self.target % N_ACTIONS), False, self.t >= 20, {}


def test_ppo_trains_the_module_on_the_new_api_stack(local_ray):
    config = (
        PPOConfig()
        .environment(SimonSaysStandIn)
        .env_runners(num_env_runners=0)
        .training(train_batch_size_per_learner=64, minibatch_size=32, num_epochs=1)
        .rl_module(rl_module_spec=RLModuleSpec(module_class=ImpalaLSTMModule, model_config={**SMALL, "max_seq_len": 10}))
    )
    algo = config.build_algo()
    try:
        before = {k: v.clone() for k, v in algo.env_runner.module.state_dict().items()}
        result = algo.train()
        learner = result["learners"][DEFAULT_MODULE_ID]
        assert math.isfinite(learner["vf_loss"]) and math.isfinite(learner["policy_loss"])
        after = algo.env_runner.module.state_dict()
        assert not torch.equal(after["cnn.fc.weight"], before["cnn.fc.weight"]), "trained weights reach the EnvRunner"
        assert algo.env_runner.module.model_config["max_seq_len"] == 10
    finally:
        algo.stop()
