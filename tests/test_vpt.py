"""VPT on Crafter: the rollout recorder, the inverse dynamics model and its labels, behavioural
cloning, the KL to the cloned policy, and the pipeline that chains them (with resume and errors)."""

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pyarrow as pa
import pytest
import ray
import torch
import yaml
from conftest import Head, embedded_env, killed_smoke_pipeline, rapid, step_after_restore
from ray.rllib.core.columns import Columns

from rapid.platform.datasets import Dataset
from rapid.platform.env_stack import make_env
from rapid.platform.errors import RapidError
from rapid.platform.rollout_recorder import RecorderSettings, decode_image, encode_image, record_rollouts
from rapid.policies.impala_lstm import ImpalaLSTMModule
from rapid.sweeps.vpt.bc import BCTrainable
from rapid.sweeps.vpt.idm import IDMTrainable
from rapid.sweeps.vpt.label import LabelSettings, check_label_inputs, label_dataset
from rapid.training.kl_to_reference.loss import kl_to, load_reference

ENV_CONFIG = {"tasks": ["collect_iron"], "max_steps": 40, "area": [16, 16]}
SMALL_POLICY = {"target_key": None, "inventory_key": None, "max_seq_len": 8, "cnn_channels": [8, 8], "cnn_out": 32,
                "lstm_cell_size": 32}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dataset]:
    """Twelve scripted episodes, half of them with their actions, recorded by two actors."""
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    out = Dataset(str(tmp_path_factory.mktemp("collect") / "dataset"))
    settings = RecorderSettings(env="simon_says", env_config=ENV_CONFIG, player="crafter_tech_tree", episodes=12,
                                episodes_per_shard=3, labelled_share=0.5, observation_keys=["image"], info_keys=["task"])
    try:
        figures = record_rollouts(settings, out, restore=False)
        assert figures["episodes"] == 12 and figures["labelled_frames"] < figures["frames"]
        yield out
    finally:
        ray.shutdown()


def test_recorded_frames_and_actions_replay_to_the_same_trajectory(recorded: Dataset) -> None:
    table = recorded.read_table()
    assert table.num_rows == 12 and sorted(table["episode"].to_pylist()) == list(range(12))
    assert sum(table["labelled"].to_pylist()) == 6
    env = make_env("simon_says", ENV_CONFIG)
    for row in table.to_pylist():
        frames = [decode_image(png) for png in row["obs/image"]]
        assert len(frames) == row["length"] + 1 == len(row["info/task"])
        if not row["labelled"]:
            assert row["action"] is None  # video without actions
            continue
        obs, _ = env.reset(seed=row["seed"])
        assert np.array_equal(obs["image"], frames[0])
        for action, frame, reward in zip(row["action"], frames[1:], row["reward"], strict=True):
            obs, replayed, *_ = env.step(int(action))
            assert np.array_equal(obs["image"], frame) and replayed == reward


def test_a_resumed_recording_writes_only_the_shards_it_lacks(recorded: Dataset, tmp_path: Path) -> None:
    out = Dataset(str(tmp_path / "dataset"))
    first, second = recorded.shards()[:2]
    for name in (first, second):
        out.dir.write_bytes(f"part-{name}.parquet", recorded.dir.read_bytes(f"part-{name}.parquet"))
    before = {name: os.stat(tmp_path / "dataset" / f"part-{name}.parquet").st_mtime_ns for name in (first, second)}
    settings = RecorderSettings(env="simon_says", env_config=ENV_CONFIG, player="crafter_tech_tree", episodes=12,
                                episodes_per_shard=3, labelled_share=0.5, observation_keys=["image"], info_keys=["task"])
    record_rollouts(settings, out, restore=True)
    assert out.shards() == recorded.shards()
    assert before == {name: os.stat(tmp_path / "dataset" / f"part-{name}.parquet").st_mtime_ns for name in (first, second)}
    assert out.read_table().sort_by("episode").equals(recorded.read_table().sort_by("episode"))


def test_the_inverse_dynamics_model_beats_the_majority_action(recorded: Dataset) -> None:
    trainable = IDMTrainable(config={"data": recorded.uri, "clip": 8, "clips_per_epoch": 32, "batch_size": 4, "width": 32,
                                     "layers": 1, "heads": 2, "cnn_channels": [8, 8], "lr": 1e-3, "validation_share": 0.34})
    results = [trainable.train() for _ in range(30)]
    assert results[-1]["idm_loss"] < results[0]["idm_loss"]
    assert max(r["idm_accuracy"] for r in results[-5:]) > results[-1]["majority_accuracy"] + 0.05
    trainable.stop()


def test_pseudo_labels_cover_every_frame(recorded: Dataset, tmp_path: Path) -> None:
    trainable = IDMTrainable(config={"data": recorded.uri, "clip": 8, "clips_per_epoch": 4, "batch_size": 2, "width": 16,
                                     "layers": 1, "heads": 2, "cnn_channels": [8]})
    trainable.train()
    checkpoint = trainable.save(str(tmp_path / "idm")).checkpoint.path
    out = Dataset(str(tmp_path / "labelled"))
    figures = label_dataset(LabelSettings(data=recorded.uri, idm=checkpoint, actors=1, episodes_per_batch=2), out, restore=False)
    table = out.read_table()
    assert table.num_rows == 12
    for row in table.to_pylist():
        assert len(row["pseudo_action"]) == row["length"] and all(0 <= a < 17 for a in row["pseudo_action"])
    assert figures["frames"] == sum(table["length"].to_pylist()) and 0 <= figures["label_agreement"] <= 1
    small = recorded.read_table().slice(0, 1)
    frames = [[encode_image(decode_image(png)[::2, ::2]) for png in small["obs/image"][0].as_py()]]
    small = small.set_column(small.column_names.index("obs/image"), "obs/image", pa.array(frames, pa.list_(pa.binary())))
    Dataset(str(tmp_path / "small")).write_shard("0", small)
    with pytest.raises(ValueError, match=r"labels frames of \(64, 64, 3\) \(H, W, C\), but config.data: .* frames of \(32, 32, 3\)"):
        check_label_inputs(LabelSettings(data=str(tmp_path / "small"), idm=checkpoint))


def test_behavioural_cloning_on_recorded_actions_moves_its_loss_down(recorded: Dataset) -> None:
    trainable = BCTrainable(config={"data": recorded.uri, "env": "simon_says", "env_config": ENV_CONFIG, "labels": "recorded",
                                    "policy": {"module": "impala_lstm", "model_config": SMALL_POLICY}, "seq_len": 8,
                                    "lr": 1e-3, "validation_share": 0.34})
    losses = [trainable.train()["bc_loss"] for _ in range(4)]
    assert losses[-1] < losses[0]
    trainable.stop()


def _module(**model_config: object) -> ImpalaLSTMModule:
    space = gym.spaces.Dict({"image": gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)})
    return ImpalaLSTMModule(observation_space=space, action_space=gym.spaces.Discrete(17),
                            model_config={**SMALL_POLICY, **model_config})


def test_the_kl_to_the_reference_is_zero_for_equal_weights_and_grows_as_the_policy_moves() -> None:
    torch.manual_seed(0)
    module = _module()
    # Sequences that start mid-episode: the state at each start is not the initial one.
    batch = {Columns.OBS: {"image": torch.randint(0, 256, (4, 8, 16, 16, 3), dtype=torch.uint8)},
             Columns.STATE_IN: {"h": torch.randn(4, 32), "c": torch.randn(4, 32)},
             Columns.LOSS_MASK: torch.ones(4, 8, dtype=torch.bool)}
    reference = copy.deepcopy(module)
    assert kl_to(module, reference, batch, module.forward_train(batch)).item() == 0.0
    kls = []
    for scale in (0.01, 0.1, 1.0):
        moved = copy.deepcopy(reference)
        with torch.no_grad():
            moved.pi_head.weight.add_(scale * torch.randn_like(moved.pi_head.weight))
        kls.append(kl_to(moved, reference, batch, moved.forward_train(batch)).item())
    assert 0 < kls[0] < kls[1] < kls[2]


def test_the_kl_weight_decays_per_train_batch_of_env_steps_and_keeps_its_place_after_a_resume() -> None:
    from types import SimpleNamespace

    from ray.rllib.utils.metrics import NUM_ENV_STEPS_SAMPLED_LIFETIME

    from rapid.training.kl_to_reference import KLToReference
    from rapid.training.kl_to_reference.loss import KLToReferenceLoss

    learner = SimpleNamespace(config=SimpleNamespace(total_train_batch_size=4096))
    term = KLToReferenceLoss(KLToReference(checkpoint=None, coeff=0.2, decay=0.9995), job=None)
    term.before_update(learner, {NUM_ENV_STEPS_SAMPLED_LIFETIME: 4096 * 1000})
    assert term.coefficient == pytest.approx(0.2 * 0.9995**1000)
    resumed = KLToReferenceLoss(KLToReference(checkpoint=None, coeff=0.2, decay=0.9995), job=None)
    resumed.before_update(learner, {NUM_ENV_STEPS_SAMPLED_LIFETIME: 4096 * 1000})  # its first update after a resume
    assert resumed.coefficient == term.coefficient


def test_cloning_resumes_from_its_checkpoint_where_it_stopped(recorded: Dataset, tmp_path: Path) -> None:
    config = {"data": recorded.uri, "env": "simon_says", "env_config": ENV_CONFIG, "labels": "recorded", "seq_len": 8,
              "policy": {"module": "impala_lstm", "model_config": SMALL_POLICY}, "validation_share": 0.34}
    going_on, again = step_after_restore(BCTrainable, config, tmp_path / "bc")
    assert again["epoch"] == going_on["epoch"] == 2
    assert again["bc_loss"] == pytest.approx(going_on["bc_loss"], rel=1e-5)


def test_a_reference_of_another_architecture_is_refused_with_its_keys_and_shapes(tmp_path: Path) -> None:
    _module(lstm_cell_size=16).save_to_path(tmp_path / "learner_group/learner/rl_module/default_policy")
    with pytest.raises(RapidError, match=r"lstm.weight_hh_l0: \(64, 16\) where the policy has \(128, 32\)"):
        load_reference(str(tmp_path), "default_policy", _module())


def test_minerl_takes_vpt_actions_as_button_and_camera_indices() -> None:
    from rapid.envs.minecraft.minerl import MineRLBackend, MineRLSettings
    from rapid.envs.minecraft.vpt_actions import from_minerl

    backend = MineRLBackend(MineRLSettings(actions="vpt"))
    assert backend.action_space == gym.spaces.MultiDiscrete([8641, 121])
    action = backend._minerl_action(np.array([101, 73]))  # a button combination with the camera on
    assert json.loads(json.dumps(action)) == action  # it crosses the pipe to MineRL's process as JSON
    assert action["camera"] != [0.0, 0.0]
    assert from_minerl({**action, "camera": np.asarray(action["camera"])}) == (101, 73)


def test_bad_vpt_input_is_refused_before_ray_starts(tmp_path: Path) -> None:
    pipeline = "jobs/vpt_crafter.yaml"
    share = rapid("validate", pipeline, "--set", "stages=[{name: collect, spec: vpt_crafter/collect.yaml, "
                                                 "set: {config.labelled_share: 0}}]")
    assert share.returncode == 2 and "config.labelled_share" in share.stderr and "greater than 0" in share.stderr
    missing = rapid("run", "jobs/vpt_crafter/label.yaml", "--set", f"config.data={tmp_path}/none",
                    "--set", f"config.idm={tmp_path}", "--set", f"storage_path={tmp_path}/results")
    assert missing.returncode == 2 and f"config.data: {tmp_path}/none: no such file or folder" in missing.stderr
    assert not (tmp_path / "results").exists()
    cluster = rapid("run", pipeline, "--profile", "cluster", "--set", f"storage_path={tmp_path}/results")
    assert cluster.returncode == 2 and "MineRL is not installed" in cluster.stderr
    released = rapid("run", "jobs/vpt_crafter/finetune_released.yaml", "--set", "env=simon_says",
                     "--set", "env_config={tasks: [collect_wood]}", "--set", f"storage_path={tmp_path}/results")
    assert released.returncode == 2 and "VPT's released files are not here: model_config.model: /models/vpt/" in released.stderr
    too_many = rapid("run", "jobs/vpt_crafter/collect.yaml", "--profile", "cluster", "--set", f"storage_path={tmp_path}/results",
                     env=embedded_env())
    assert too_many.returncode == 2 and "asks for 64 CPU" in too_many.stderr, too_many.stderr
    elsewhere = rapid("validate", "jobs/vpt_crafter/label.yaml", "--set", "config.data=/mnt/cluster/demos",
                      "--set", f"config.idm={tmp_path}")
    assert elsewhere.returncode == 0 and "config.data: /mnt/cluster/demos" in elsewhere.stdout + elsewhere.stderr
    kind = rapid("validate", pipeline, "--set", "stages=[{name: idm, spec: vpt_crafter/idm.yaml, set: {config.data: /mnt/demos}}, "
                                                "{name: label, spec: vpt_crafter/label.yaml, set: {config.data: '{idm.dataset}'}}]")
    assert kind.returncode == 2 and "stage 'idm' is a sweep job, which leaves checkpoint, run_dir; not a dataset" in kind.stderr
    noise = rapid("validate", "jobs/vpt_crafter/collect.yaml", "--set", "config.player_config={noise: 2}")
    assert noise.returncode == 2 and "config.player_config: player 'crafter_tech_tree' refuses it: noise 2" in noise.stderr
    no_idm = rapid("run", "jobs/vpt_crafter/label.yaml", "--set", f"config.data={tmp_path}",
                   "--set", f"config.idm={tmp_path}", "--set", f"storage_path={tmp_path}/results")
    assert no_idm.returncode == 2 and "no idm.pt; expected a checkpoint of the vpt_idm trainable" in no_idm.stderr


def test_the_smoke_pipeline_runs_end_to_end_and_resumes_after_a_killed_stage(ray_head: Head, tmp_path: Path) -> None:
    run = killed_smoke_pipeline("jobs/vpt_crafter.yaml", "label", tmp_path / "results", ray_head.env())
    shards = {p.name: p.stat().st_mtime_ns for p in (run / "collect" / "dataset").iterdir()}
    resumed = rapid("run", "--resume", str(run), env=ray_head.env(), timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert shards == {p.name: p.stat().st_mtime_ns for p in (run / "collect" / "dataset").iterdir()}
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert [s["stage"] for s in summary["stages"]] == ["collect", "idm", "label", "bc", "finetune"]
    finetune = json.loads((run / "finetune" / "summary.json").read_text())
    assert finetune["iterations"] == 2
    spec = yaml.safe_load((run / "finetune" / "spec.yaml").read_text())
    assert spec["kl_to_reference"]["checkpoint"] == spec["policy"]["init_checkpoint"] and f"{run}/bc/" in spec["policy"]["init_checkpoint"]
