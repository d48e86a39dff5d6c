"""VPT's released-weights path: a synthetic released state dict (names and shapes written here from
openai/Video-Pre-Training's module structure, small random tensors) loads key for key into the
rebuilt network, a mismatched one is refused by name, the network's memory behaves as VPT's
clipped causal attention, the RLModule acts and trains through RLlib's own EnvRunner and PPO
Learner (no Ray needed), and the MineRL action adapter round-trips."""

import itertools
import math
import pickle
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner

from rapid.envs.minecraft import vpt_actions
from rapid.envs.minecraft.minerl_actions import MINERL_KEYS
from rapid.platform.errors import RapidError
from rapid.policies import vpt_released
from rapid.policies.vpt_module import MODEL_CONFIG_KEYS, VPTReleasedModule
from rapid.policies.vpt_released import RELEASED_NET_ARGS, VPTArch, VPTMemory, VPTPolicyNet
from rapid.policies.vpt_weights import load_vpt, released_name_to_ours

SMALL = {
    **RELEASED_NET_ARGS["1x"],
    "hidsize": 64, "impala_width": 1, "attention_heads": 2, "n_recurrence_layers": 2,
    "img_shape": [32, 32, 3], "attention_memory_size": 12, "timesteps": 8,
}
"""The released models' structure at toy sizes: memory of 4 frames, 2 blocks, 2 heads."""
N_LOGITS = 8641 + 121
NAMED_ACTIONS = gym.spaces.Dict(buttons=gym.spaces.Discrete(8641), camera=gym.spaces.Discrete(121))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def released_shapes(args: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """MinecraftAgentPolicy's state dict names and shapes for released-style net args (group norm 1,
    post-pool group norm, no pre-LN), following lib/policy.py, lib/impala_cnn.py, lib/util.py,
    lib/xf.py, lib/action_head.py, lib/scaled_mse_head.py and lib/normalize_ewma.py. (Checked once,
    outside this repo, against the state_dict of the reference's own MinecraftAgentPolicy for SMALL
    and for each of RELEASED_NET_ARGS.)"""
    hid, heads = args["hidsize"], args["attention_heads"]
    chans = [int(args["impala_width"] * c) for c in args["impala_chans"]]
    height, width, inchan = args["img_shape"]
    shapes: dict[str, tuple[int, ...]] = {}

    def normed(prefix: str, insize: int) -> None:
        shapes[prefix + "norm.weight"] = shapes[prefix + "norm.bias"] = (insize,)

    for i, out in enumerate(chans):
        stack = f"net.img_process.cnn.stacks.{i}."
        if i == 0:  # first_conv_norm=False: no norm, so the conv has a bias
            shapes[stack + "firstconv.layer.bias"] = (out,)
        else:
            normed(stack + "firstconv.", inchan)
        shapes[stack + "firstconv.layer.weight"] = (out, inchan, 3, 3)
        shapes[stack + "n.weight"] = shapes[stack + "n.bias"] = (out,)
        for block, conv in itertools.product(range(2), range(2)):
            normed(f"{stack}blocks.{block}.conv{conv}.", out)
            shapes[f"{stack}blocks.{block}.conv{conv}.layer.weight"] = (out, out, 3, 3)
        inchan, height, width = out, (height + 1) // 2, (width + 1) // 2
    flat = inchan * height * width
    normed("net.img_process.cnn.dense.", flat)
    shapes["net.img_process.cnn.dense.layer.weight"] = (256, flat)
    normed("net.img_process.linear.", 256)
    shapes["net.img_process.linear.layer.weight"] = (hid, 256)
    for b in range(args["n_recurrence_layers"]):
        block = f"net.recurrent_layer.blocks.{b}."
        normed(block + "mlp0.", hid)
        shapes[block + "mlp0.layer.weight"] = (4 * hid, hid)
        shapes[block + "mlp1.layer.weight"] = (hid, 4 * hid)
        shapes[block + "mlp1.layer.bias"] = (hid,)
        shapes[block + "pre_r_ln.weight"] = shapes[block + "pre_r_ln.bias"] = (hid,)
        attn = block + "r.orc_block."
        for layer in ("q_layer", "k_layer", "v_layer", "proj_layer"):
            shapes[attn + layer + ".weight"] = (hid, hid)
        shapes[attn + "q_layer.bias"] = shapes[attn + "proj_layer.bias"] = (hid,)
        shapes[attn + "r_layer.weight"] = (10 * heads, hid)
        shapes[attn + "r_layer.bias"] = (10 * heads,)
        shapes[attn + "b_nd"] = (10, args["attention_memory_size"] - args["timesteps"])
    normed("net.lastlayer.", hid)
    shapes["net.lastlayer.layer.weight"] = (hid, hid)
    shapes["net.final_ln.weight"] = shapes["net.final_ln.bias"] = (hid,)
    shapes["value_head.linear.weight"], shapes["value_head.linear.bias"] = (1, hid), (1,)
    shapes["value_head.normalizer.running_mean"] = shapes["value_head.normalizer.running_mean_sq"] = (1,)
    shapes["value_head.normalizer.debiasing_term"] = ()
    for head, n in (("buttons", 8641), ("camera", 121)):
        shapes[f"pi_head.{head}.linear_layer.weight"], shapes[f"pi_head.{head}.linear_layer.bias"] = (n, hid), (n,)
    return shapes


def synthetic_state(args: dict[str, Any]) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    state = {key: torch.randn(shape, generator=g) * 0.1 for key, shape in released_shapes(args).items()}
    state["value_head.normalizer.debiasing_term"] = torch.tensor(0.5)  # a positive EWMA debias, as after training
    state["value_head.normalizer.running_mean_sq"] = torch.tensor([4.0])
    return state


def write_files(tmp_path: Path, state: dict[str, torch.Tensor], args: dict[str, Any] = SMALL) -> tuple[Path, Path]:
    """A `.model` as run_agent.py reads it and a `.weights` state dict."""
    model, weights = tmp_path / "toy.model", tmp_path / "toy.weights"
    model.write_bytes(pickle.dumps({"model": {"args": {"net": {"args": args}, "pi_head_opts": {"temperature": 2.0}}}}))
    torch.save(state, weights)
    return model, weights


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, torch.Tensor]]:
    state = synthetic_state(SMALL)
    return (*write_files(tmp_path_factory.mktemp("vpt"), state), state)


# --- the network and its weights --------------------------------------------------------------------


def test_every_released_key_loads_into_its_own_parameter(released):
    model, weights, state = released
    net = load_vpt(model, weights)
    ours = net.state_dict()
    mapped = {released_name_to_ours(key): key for key in state}
    assert set(mapped) == set(ours), "one released key for every parameter and statistic, and no two on one"
    for name, key in mapped.items():
        assert torch.equal(ours[name], state[key]), f"{key} -> {name}"
    block = "net.recurrent_layer.blocks.1."
    assert torch.equal(net.blocks[1].attn.key.weight, state[block + "r.orc_block.k_layer.weight"])
    assert torch.equal(net.blocks[1].mlp[1].layer.bias, state[block + "mlp1.layer.bias"])
    assert torch.equal(net.cnn.stages[2].entry.norm.weight, state["net.img_process.cnn.stacks.2.firstconv.norm.weight"])
    assert torch.equal(net.buttons_head.weight, state["pi_head.buttons.linear_layer.weight"])
    assert net.temperature == 2.0, "the .model's pi_head_opts temperature"


def test_a_renamed_key_is_refused_by_name(released, tmp_path):
    _, _, state = released
    renamed = dict(state)
    attn = "net.recurrent_layer.blocks.0.r.orc_block."
    renamed[attn + "query.weight"] = renamed.pop(attn + "q_layer.weight")
    model, weights = write_files(tmp_path, renamed)
    with pytest.raises(RapidError) as caught:
        load_vpt(model, weights)
    message = str(caught.value)
    assert "net.recurrent_layer.blocks.0.r.orc_block.query.weight (64, 64) (no rule matches)" in message
    assert "1 missing: blocks.0.attn.query.weight (64, 64)" in message


def test_a_wrong_shape_and_a_surplus_block_are_refused_with_shapes(released, tmp_path):
    _, _, state = released
    wrong = {
        **state,
        "pi_head.camera.linear_layer.weight": torch.zeros(120, 64),
        "net.recurrent_layer.blocks.2.pre_r_ln.bias": torch.zeros(64),
    }
    model, weights = write_files(tmp_path, wrong)
    with pytest.raises(RapidError) as caught:
        load_vpt(model, weights)
    message = str(caught.value)
    assert "pi_head.camera.linear_layer.weight is (120, 64) but camera_head.weight is (121, 64)" in message
    assert "blocks.2.pre_r_ln.bias (64,) (-> blocks.2.attn_norm.bias, which this network does not have)" in message


def test_an_empty_state_lists_only_a_handful_of_missing_keys(released, tmp_path):
    model, weights = write_files(tmp_path, {})
    with pytest.raises(RapidError, match=r"\d+ missing: .*, and \d+ more$") as caught:
        load_vpt(model, weights)
    assert caught.value.args[0].count("(") < 15


def test_unsupported_net_args_are_refused_by_key(tmp_path):
    for change, key in (({"recurrence_type": "multi_layer_lstm"}, "recurrence_type"),
                        ({"init_norm_kwargs": {"batch_norm": True}}, "init_norm_kwargs"),
                        ({"attention_mask_style": "none"}, "attention_mask_style")):
        model, _ = write_files(tmp_path, {}, {**SMALL, **change})
        with pytest.raises(RapidError, match=key):
            load_vpt(model, None)


class _Touches:
    """Unpickled by plain pickle, this would create `path`: the code a hostile `.model` could run."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return Path.touch, (self.path,)


def test_a_model_file_is_read_without_running_its_code(tmp_path):
    ran = tmp_path / "ran"
    content = {"model": {"args": {"net": {"args": SMALL}, "pi_head_opts": {"temperature": np.float64(1.5)}}}, "x": _Touches(ran)}
    (tmp_path / "a.model").write_bytes(pickle.dumps(content))
    net = load_vpt(tmp_path / "a.model", None)
    assert not ran.exists() and net.temperature == 1.5 and net.arch.hidsize == 64


def count_elements(arch: VPTArch) -> int:
    """Parameters plus value statistics of the network for `arch`, counted on the meta device
    (no memory is allocated, so the 3x model counts in milliseconds)."""
    with torch.device("meta"):
        net = VPTPolicyNet(arch)
    return sum(math.prod(tensor.shape) for tensor in net.state_dict().values())


def test_released_sizes_count_the_same_in_both_namings():
    """Without allocating: our network for the 1x/2x/3x args has exactly the elements of the
    reference's state dict (the 2x args are agent.py's; see RELEASED_NET_ARGS for 1x and 3x). The
    pinned totals are the reference MinecraftAgentPolicy's own for these args; they agree with the
    paper's 0.5B-parameter foundation model (3x) and a user's "VPT240M" for 2x.model."""
    totals = {"1x": 71_326_654, "2x": 248_495_294, "3x": 531_520_958}
    for size, args in RELEASED_NET_ARGS.items():
        assert sum(math.prod(shape) for shape in released_shapes(args).values()) == totals[size], size
        assert count_elements(VPTArch.from_net_args(args)) == totals[size], size


def frames(b: int, t: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, 256, (b, t, 32, 32, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_many_steps_at_once_equal_one_at_a_time(released):
    """The clipped causal mask and the carried cache: 6 frames in one pass (as a learner runs them)
    give the latents and memory of 6 single steps (as an EnvRunner runs them)."""
    net = load_vpt(*released[:2])
    clip = frames(2, 6)
    with torch.no_grad():
        together, memory = net.latent_of(clip, net.initial_memory(2))
        step_memory, steps = net.initial_memory(2), []
        for t in range(6):
            latent, step_memory = net.latent_of(clip[:, t : t + 1], step_memory)
            steps.append(latent)
    torch.testing.assert_close(torch.cat(steps, dim=1), together, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(step_memory.keys, memory.keys, rtol=1e-4, atol=1e-5)
    assert memory.valid.shape == (2, 4) and bool((memory.valid == 1).all())


def test_memory_reaches_exactly_as_far_back_as_the_band_allows(released):
    """Each block sees its frame and the 3 before it (memory 4), so two blocks reach 6 frames back:
    frame 1 still moves frame 7's latent, frame 0 no longer does; nothing sees the future."""
    net = load_vpt(*released[:2])
    clip = frames(1, 8)
    with torch.no_grad():
        base, _ = net.latent_of(clip, net.initial_memory(1))
        for changed in (0, 1, 5):
            other = clip.clone()
            other[:, changed] = 255 - other[:, changed]
            latent, _ = net.latent_of(other, net.initial_memory(1))
            moved = [(latent[0, t] - base[0, t]).abs().max().item() > 1e-6 for t in range(8)]
            assert moved == [changed <= t <= changed + 6 for t in range(8)], changed


def test_a_fresh_memory_ignores_whatever_its_slots_hold(released):
    net = load_vpt(*released[:2])
    fresh = net.initial_memory(1)
    junk = VPTMemory(torch.randn_like(fresh.keys), torch.randn_like(fresh.values), fresh.valid)
    with torch.no_grad():
        torch.testing.assert_close(net.latent_of(frames(1, 2), junk)[0], net.latent_of(frames(1, 2), fresh)[0])


# --- the RLModule ------------------------------------------------------------------------------------


def make_module(released, actions: gym.Space | None = None, **config: Any) -> VPTReleasedModule:
    model, weights, _ = released
    obs = gym.spaces.Dict(image=gym.spaces.Box(0, 255, (32, 32, 3), np.uint8))
    return VPTReleasedModule(
        observation_space=obs,
        action_space=actions or gym.spaces.MultiDiscrete([8641, 121]),
        model_config={"model": str(model), "weights": str(weights), **config},
    )


def batch_of(module: VPTReleasedModule, clip: torch.Tensor, state: dict[str, torch.Tensor] | None = None) -> dict[str, Any]:
    initial = {k: torch.from_numpy(v).expand(clip.shape[0], *v.shape).clone() for k, v in module.get_initial_state().items()}
    return {Columns.OBS: {"image": clip}, Columns.STATE_IN: state or initial}


@pytest.mark.parametrize("t", [1, 3])
def test_module_acts_values_and_carries_state(released, t):
    module = make_module(released)
    assert {"model", "weights", "net_args", "max_seq_len"} <= MODEL_CONFIG_KEYS
    assert module.get_initial_state()["keys"].shape == (2, 4, 64)
    with torch.no_grad():
        out = module.forward_train(batch_of(module, frames(2, t)))
        values = module.compute_values(batch_of(module, frames(2, t)))
        dist = module.get_inference_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
        actions = dist.sample()
        later = module.forward_inference(batch_of(module, frames(2, 1, seed=2), out[Columns.STATE_OUT]))
        fresh = module.forward_inference(batch_of(module, frames(2, 1, seed=2)))
    assert out[Columns.ACTION_DIST_INPUTS].shape == (2, t, N_LOGITS) and out[Columns.EMBEDDINGS].shape == (2, t, 64)
    assert values.shape == (2, t) and actions.shape == (2, t, 2) and dist.logp(actions).shape == (2, t)
    assert int(actions[..., 0].max()) < 8641 and int(actions[..., 1].max()) < 121
    shapes = {k: tuple(v.shape) for k, v in out[Columns.STATE_OUT].items()}
    assert shapes == {"keys": (2, 2, 4, 64), "values": (2, 2, 4, 64), "valid": (2, 4)}
    assert out[Columns.STATE_OUT]["valid"].sum().item() == 2 * t
    assert not torch.allclose(later[Columns.ACTION_DIST_INPUTS], fresh[Columns.ACTION_DIST_INPUTS]), "the memory matters"


def test_module_logits_are_the_networks_over_its_temperature(released):
    module = make_module(released, temperature=0.5)
    net = load_vpt(*released[:2])
    with torch.no_grad():
        logits = module.forward_inference(batch_of(module, frames(1, 1)))[Columns.ACTION_DIST_INPUTS]
        latent, _ = net.latent_of(frames(1, 1), net.initial_memory(1))
    torch.testing.assert_close(logits[..., :8641], net.buttons_head(latent) / 0.5, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(logits[..., 8641:], net.camera_head(latent) / 0.5, rtol=1e-4, atol=1e-5)


def test_module_takes_a_dict_action_space(released):
    module = make_module(released, actions=NAMED_ACTIONS)
    with torch.no_grad():
        logits = module.forward_inference(batch_of(module, frames(2, 1)))[Columns.ACTION_DIST_INPUTS]
    sample = module.get_exploration_action_dist_cls().from_logits(logits).sample()
    assert set(sample) == {"buttons", "camera"} and sample["buttons"].shape == (2, 1)


def test_module_refuses_spaces_the_network_cannot_serve(released):
    with pytest.raises(ValueError, match="MultiDiscrete"):
        make_module(released, actions=gym.spaces.Discrete(8641))
    with pytest.raises(ValueError, match=r"shape \(64, 64, 3\)"):
        make_module(released, net_args={"img_shape": [64, 64, 3]}, weights=None)


class MineRLStandIn(gym.Env):
    """Random frames; the action goes through the MineRL adapter and attacking is rewarded."""

    def __init__(self, config: dict | None = None):
        self.observation_space = gym.spaces.Dict(image=gym.spaces.Box(0, 255, (32, 32, 3), np.uint8))
        self.action_space = (config or {}).get("actions") or gym.spaces.MultiDiscrete([8641, 121])
        self.rng = np.random.default_rng(0)

    def _obs(self) -> dict[str, np.ndarray]:
        return {"image": self.rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self.t = 0
        return self._obs(), {}

    def step(self, action: Any):
        pair = (action["buttons"], action["camera"]) if isinstance(action, dict) else tuple(action)
        self.t += 1
        return self._obs(), float(vpt_actions.to_minerl(*map(int, pair))["attack"]), False, self.t >= 15, {}


def test_rllib_samples_and_ppo_updates_in_both_action_spaces(released):
    """RLlib's own pipeline, without Ray: an EnvRunner acts through the connectors (state in and
    out, the action distribution, the MineRL adapter in the env), a PPO Learner cuts the episodes
    into max_seq_len chunks with their states and takes a step from the released weights."""
    model, weights, state = released
    for actions in (None, NAMED_ACTIONS):
        config = (
            PPOConfig()
            .environment(MineRLStandIn, env_config={"actions": actions})
            .env_runners(num_env_runners=0)
            .training(train_batch_size_per_learner=48, minibatch_size=24, num_epochs=1)
            .rl_module(rl_module_spec=RLModuleSpec(
                module_class=VPTReleasedModule, model_config={"model": str(model), "weights": str(weights), "max_seq_len": 8}
            ))
        )
        runner = SingleAgentEnvRunner(config=config)
        episodes = runner.sample(num_timesteps=48, random_actions=False)
        assert sum(len(episode) for episode in episodes) >= 48
        learner = config.build_learner(env=runner.env)
        steps = {"num_env_steps_sampled_lifetime": 48}
        metrics = learner.update(episodes=episodes, timesteps=steps, num_epochs=1, minibatch_size=24)
        losses = {k: metrics[DEFAULT_MODULE_ID][k].peek() for k in ("policy_loss", "vf_loss")}
        assert all(math.isfinite(loss) for loss in losses.values()), (actions, losses)
        tuned = learner.module[DEFAULT_MODULE_ID].net.buttons_head.weight.detach()
        assert not torch.equal(tuned, state["pi_head.buttons.linear_layer.weight"]), "PPO moved the released weights"


# --- the MineRL action adapter -----------------------------------------------------------------------


def test_sizes_match_the_network_and_keys_the_minerl_backend():
    assert (vpt_actions.N_BUTTONS, vpt_actions.N_CAMERA) == (vpt_released.N_BUTTONS, vpt_released.N_CAMERA) == (8641, 121)
    assert vpt_actions.NULL_CAMERA == 60 and vpt_actions.INVENTORY == 8640
    assert set(vpt_actions.to_minerl(0, 60)) == {*MINERL_KEYS, "camera"}, "every key of the MineRL backend's action dicts"


def test_every_button_index_is_its_product_combination_and_round_trips():
    combinations = list(itertools.product(*vpt_actions.BUTTON_GROUPS)) + ["inventory"]
    assert len(combinations) == 8641
    moving = [camera for camera in range(121) if camera != vpt_actions.NULL_CAMERA]
    for index, combination in enumerate(combinations):
        moves = combination != "inventory" and combination[-1] == "camera"
        camera = moving[index % len(moving)] if moves else vpt_actions.NULL_CAMERA
        action = vpt_actions.to_minerl(index, camera)
        pressed = {"inventory"} if combination == "inventory" else set(combination[:-1]) - {"none"}
        assert {k for k, v in action.items() if k != "camera" and v} == pressed, index
        assert vpt_actions.from_minerl(action) == (index, camera), index


def test_pairs_round_trip_exactly_when_the_camera_agrees_with_the_meta_choice():
    buttons = np.arange(8641)
    meta_on = np.array([c != "inventory" and c[-1] == "camera" for c in itertools.product(*vpt_actions.BUTTON_GROUPS)] + [False])
    for camera in range(121):
        factored = vpt_actions.indices_to_factored(buttons, np.full(8641, camera))
        back_buttons, back_camera = vpt_actions.factored_to_indices(*factored)
        agrees = meta_on if camera != 60 else ~meta_on
        np.testing.assert_array_equal((back_buttons == buttons) & (back_camera == camera), agrees)


def test_encoding_resolves_conflicts_as_vpt_records_them():
    def pressed(*names: str, camera: tuple[float, float] = (0.0, 0.0)) -> tuple[int, int]:
        return vpt_actions.from_minerl({**dict.fromkeys(names, 1), "camera": np.array(camera)})

    def named(buttons: int) -> set[str]:
        return {k for k, v in vpt_actions.to_minerl(buttons, 60).items() if k != "camera" and v}

    assert pressed() == (0, 60), "nothing pressed is the all-'none' combination"
    assert named(pressed("forward", "back", "jump")[0]) == {"jump"}
    assert named(pressed("left", "right")[0]) == set()
    assert named(pressed("sprint", "sneak", "hotbar.1", "hotbar.2")[0]) == {"sneak", "hotbar.2"}
    assert pressed("inventory", "attack", camera=(5.0, -5.0)) == (8640, 60)
    assert pressed("ESC", "swapHands", "pickItem") == (0, 60), "keys VPT does not model are dropped"
    buttons, camera = pressed("attack", camera=(1.0, 0.0))
    assert named(buttons) == {"attack"} and camera == 6 * 11 + 5


def test_camera_quantizes_by_the_mu_law_formula_and_bins_round_trip():
    angles = np.array([-180.0, -10.0, -1.0, -0.2, 0.0, 0.2, 0.3, 0.61, 1.0, 3.0, 10.0, 90.0])
    clipped = np.clip(angles, -10, 10) / 10
    expected = np.round((10 * np.sign(clipped) * np.log(1 + 10 * np.abs(clipped)) / np.log(11) + 10) / 2)
    np.testing.assert_array_equal(vpt_actions.quantize_camera(angles), expected)
    np.testing.assert_array_equal(vpt_actions.quantize_camera([0.2, 0.3, 1.0, -180.0, 180.0]), [5, 6, 6, 0, 10])
    bins = np.arange(11)
    np.testing.assert_array_equal(vpt_actions.quantize_camera(vpt_actions.dequantize_camera(bins)), bins)
    np.testing.assert_allclose(vpt_actions.dequantize_camera([5, 6, 10]), [0.0, 11**0.2 - 1, 10.0])
    for camera in range(121):
        pitch, yaw = divmod(camera, 11)
        action = vpt_actions.to_minerl(vpt_actions.INVENTORY, camera)  # inventory lets any camera through
        np.testing.assert_allclose(action["camera"], vpt_actions.dequantize_camera([pitch, yaw]), rtol=1e-6)
