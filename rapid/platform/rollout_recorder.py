"""The rollout recorder: Ray actors step any registered single-agent env with a policy and write
each episode as one row of a columnar dataset (the `record_rollouts` data step).

The policy is random actions, a registered scripted player (`rapid list player`: one that reads
the env's privileged state, as a demonstrator does), or the module of an RLlib checkpoint. A row
holds the episode's seed, `obs/<key>` (one entry per step plus the last; images, uint8 (H, W, C)
arrays, as PNG bytes: lossless, so a replay compares exactly), `info/<key>` for the info keys
asked for (from reset's info on, aligned with the observations), `reward`, and `action`, which
only the labelled share keeps (null elsewhere: "video without actions"). Episode i resets with
seed `seed + i` and which episodes are labelled is fixed by the seed, so a resumed recording
writes only the shards it lacks and gets the same rows.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import gymnasium as gym
import numpy as np
import pyarrow as pa
import ray
from pydantic import Field, field_validator, model_validator

from rapid.platform.datasets import Dataset
from rapid.platform.env_stack import make_env
from rapid.platform.initial_weights import MODULE_WEIGHTS
from rapid.platform.plugins import Strict
from rapid.platform.registry import ENVS, PLAYERS
from rapid.platform.spec_parts import MAX_ACTORS, registered

# Where an RLlib checkpoint keeps the module of a single-agent job.
MODULE_PATH = f"{MODULE_WEIGHTS}/default_policy"
Policy = Callable[[Any, dict[str, Any]], Any]


class RecorderSettings(Strict):
    """config of `record_rollouts`."""

    env: str = Field(..., description="a registered env id (single-agent)")
    env_config: dict[str, Any] = Field({}, description="keyword arguments for the env (wrappers included)")
    player: str | None = Field(None, description="a registered scripted player (`rapid list player`)")
    player_config: dict[str, Any] = Field({}, description="keyword arguments for the player (crafter_tech_tree: noise)")
    checkpoint: str | None = Field(None, description="an RLlib checkpoint whose policy acts (null with no player: random)")
    episodes: int = Field(..., ge=1, le=10_000_000, description="episodes to record")
    actors: int = Field(2, ge=1, le=MAX_ACTORS, description="Ray actors stepping envs in parallel, one CPU each")
    episodes_per_shard: int = Field(8, ge=1, description="episodes per parquet shard (the unit a resume skips)")
    labelled_share: float = Field(1.0, gt=0, le=1, description="share of episodes that keep their actions; the rest store none")
    observation_keys: list[str] | None = Field(None, description="keys of a Dict observation to keep (null: all)")
    info_keys: list[str] = Field([], description="info keys to store per step (numbers, strings or arrays)")
    seed: int = Field(0, ge=0, description="episode i resets with seed + i")

    @field_validator("env")
    @classmethod
    def _known_env(cls, name: str) -> str:
        return registered(ENVS, name)

    @field_validator("player")
    @classmethod
    def _known_player(cls, name: str | None) -> str | None:
        return None if name is None else registered(PLAYERS, name)

    @model_validator(mode="after")
    def _one_policy(self) -> "RecorderSettings":
        if self.player is not None and self.checkpoint is not None:
            raise ValueError("give a player or a checkpoint, not both")
        if self.player_config and self.player is None:
            raise ValueError("player_config is given but no player")
        return self


def labelled_episodes(settings: RecorderSettings) -> set[int]:
    """The episodes that keep their actions: the labelled share (at least one), fixed by the seed."""
    count = max(1, round(settings.labelled_share * settings.episodes))
    order = np.random.default_rng(settings.seed).permutation(settings.episodes)
    return set(order[:count].tolist())


def encode_image(image: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", image[..., ::-1] if image.shape[-1] == 3 else image)
    if not ok:
        raise ValueError(f"could not encode an image of shape {image.shape}")
    return png.tobytes()


def decode_image(png: bytes) -> np.ndarray:
    """An (H, W, C) uint8 array, as the env gave it."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    return image[..., ::-1].copy() if image.ndim == 3 and image.shape[-1] == 3 else image.reshape(*image.shape[:2], -1)


def is_image(space: gym.Space) -> bool:
    return isinstance(space, gym.spaces.Box) and space.dtype == np.uint8 and len(space.shape) == 3


def _column(space: gym.Space, values: list[Any]) -> list[Any]:
    """One observation (or info) column's entries: PNG bytes for images, strings as they are, flat
    float lists for arrays, floats for numbers."""
    if space is not None and is_image(space):
        return [encode_image(v) for v in values]
    return [v if isinstance(v, str) else np.asarray(v, np.float64).ravel().tolist() if np.ndim(v) else float(v) for v in values]


class ModulePolicy:
    """Samples actions from an RLlib checkpoint's module, carrying a recurrent module's state."""

    def __init__(self, checkpoint: str) -> None:
        from ray.rllib.core.rl_module.rl_module import RLModule

        self.module = RLModule.from_checkpoint(f"{checkpoint.rstrip('/')}/{MODULE_PATH}")
        self.module.eval()
        self.state = None

    def reset(self) -> None:
        self.state = self.module.get_initial_state() if self.module.is_stateful() else None

    def __call__(self, obs: Any, info: dict[str, Any]) -> Any:
        import torch
        from ray.rllib.core.columns import Columns
        from ray.rllib.utils.torch_utils import convert_to_torch_tensor

        # (B=1, T=1, ...) for a recurrent module, (B=1, ...) otherwise.
        lead = (1, 1) if self.state is not None else (1,)
        batch = {Columns.OBS: convert_to_torch_tensor(_batched(obs, lead))}
        if self.state is not None:
            batch[Columns.STATE_IN] = convert_to_torch_tensor(_batched(self.state, (1,)))
        with torch.no_grad():
            out = self.module.forward_exploration(batch)
        if self.state is not None:
            self.state = {k: v[0].numpy() for k, v in out[Columns.STATE_OUT].items()}
        action = self.module.get_exploration_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS]).sample()[0]
        return (action if self.state is None else action[0]).numpy()


def _batched(value: Any, lead: tuple[int, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _batched(v, lead) for k, v in value.items()}
    array = np.asarray(value)
    return array.reshape(*lead, *array.shape)


@ray.remote(num_cpus=1)
class RecorderActor:
    """One env and one policy; records whole shards of episodes."""

    def __init__(self, settings: RecorderSettings) -> None:
        self.settings = settings
        self.env = make_env(settings.env, settings.env_config)
        space = self.env.observation_space
        keys = settings.observation_keys
        if isinstance(space, gym.spaces.Dict):
            self.obs_spaces = {k: space[k] for k in (keys or list(space.spaces))}
        else:
            self.obs_spaces = {"": space}
        self.labelled = labelled_episodes(settings)
        self.module = ModulePolicy(settings.checkpoint) if settings.checkpoint else None

    def _policy(self, episode: int) -> Policy:
        if self.module is not None:
            self.module.reset()
            return self.module
        if self.settings.player is not None:
            rng = np.random.default_rng([self.settings.seed, episode])
            return PLAYERS.get(self.settings.player)(self.env.unwrapped, rng, **self.settings.player_config)
        self.env.action_space.seed(self.settings.seed + episode)
        return lambda obs, info: self.env.action_space.sample()

    def record(self, name: str, episodes: list[int], out_uri: str) -> tuple[int, float]:
        """Write the episodes as shard `name`; returns (frames, seconds spent stepping)."""
        start, rows = time.perf_counter(), []
        for episode in episodes:
            rows.append(self._episode(episode))
        Dataset(out_uri).write_shard(name, pa.Table.from_pylist(rows))
        return sum(row["length"] for row in rows), time.perf_counter() - start

    def _episode(self, episode: int) -> dict[str, Any]:
        seed = self.settings.seed + episode
        act = self._policy(episode)
        obs, info = self.env.reset(seed=seed)
        observations, infos, actions, rewards = [obs], [info], [], []
        terminated = truncated = False
        while not (terminated or truncated):
            action = act(obs, info)
            obs, reward, terminated, truncated, info = self.env.step(action)
            observations.append(obs)
            infos.append(info)
            actions.append(action)
            rewards.append(float(reward))
        row: dict[str, Any] = {
            "episode": episode, "seed": seed, "length": len(actions), "labelled": episode in self.labelled,
            "return": float(sum(rewards)), "terminated": bool(terminated), "truncated": bool(truncated), "reward": rewards,
        }
        for key, space in self.obs_spaces.items():
            values = [o[key] for o in observations] if key else observations
            row[f"obs/{key}" if key else "obs"] = _column(space, values)
        for key in self.settings.info_keys:
            row[f"info/{key}"] = _column(None, [i.get(key, np.nan) for i in infos])
        row["action"] = _column(None, actions) if row["labelled"] else None
        return row


def recorder_inputs(settings: RecorderSettings) -> dict[str, tuple[str, str]]:
    return {"checkpoint": (settings.checkpoint, "an RLlib checkpoint folder")} if settings.checkpoint else {}


def recorder_resources(settings: RecorderSettings) -> dict[str, float]:
    return {"CPU": float(settings.actors)}


def check_recorder(settings: RecorderSettings) -> None:
    """Before Ray starts: the env builds with its env_config and is single-agent, the observation
    keys are its own, the player takes it, and the checkpoint holds a single-agent policy."""
    from ray.rllib.env.multi_agent_env import MultiAgentEnv

    try:
        env = make_env(settings.env, settings.env_config)
    except Exception as err:
        raise ValueError(f"config.env_config: env '{settings.env}' does not build with it: {err}") from None
    if isinstance(env, MultiAgentEnv):
        raise ValueError(f"config.env: '{settings.env}' is multi-agent; the recorder steps single-agent envs")
    space = env.observation_space
    for key in settings.observation_keys or []:
        if not isinstance(space, gym.spaces.Dict) or key not in space.spaces:
            have = ", ".join(space.spaces) if isinstance(space, gym.spaces.Dict) else "none: not a Dict"
            raise ValueError(f"config.observation_keys: '{key}' is not a key of the env's observations ({have})")
    if settings.player is not None:
        make_player = PLAYERS.get(settings.player)
        try:
            make_player(env.unwrapped, np.random.default_rng(0))
        except (AttributeError, TypeError) as err:
            raise ValueError(f"config.player: '{settings.player}' cannot play env '{settings.env}': {err}") from None
        try:
            make_player(env.unwrapped, np.random.default_rng(0), **settings.player_config)
        except (TypeError, ValueError) as err:
            raise ValueError(f"config.player_config: player '{settings.player}' refuses it: {err}") from None
    if settings.checkpoint is not None and not Path(settings.checkpoint, MODULE_PATH).exists():
        raise ValueError(f"config.checkpoint: {settings.checkpoint}: no {MODULE_PATH} in it; expected a single-agent "
                         "RLlib checkpoint")
    env.close()


def record_rollouts(settings: RecorderSettings, out: Dataset, restore: bool) -> dict[str, float]:
    """Record every episode whose shard is not written yet, across `actors` actors."""
    per = settings.episodes_per_shard
    firsts = range(0, settings.episodes, per)
    shards = {f"{first:07d}": list(range(first, min(first + per, settings.episodes))) for first in firsts}
    done = set(out.shards()) if restore else set()
    if not restore:
        out.clear()
    todo = [(name, episodes) for name, episodes in shards.items() if name not in done]
    actors = [RecorderActor.remote(settings) for _ in range(min(settings.actors, max(1, len(todo))))]
    pool = ray.util.ActorPool(actors)
    start = time.perf_counter()
    frames = sum(f for f, _ in pool.map_unordered(lambda a, job: a.record.remote(job[0], job[1], out.uri), todo))
    seconds = time.perf_counter() - start
    for actor in actors:
        ray.kill(actor)
    table = out.read_table(columns=["length", "labelled", "return"])
    lengths, labelled = np.asarray(table["length"]), np.asarray(table["labelled"])
    return {
        "episodes": float(len(lengths)),
        "frames": float(lengths.sum()),
        "labelled_frames": float(lengths[labelled].sum()),
        "episode_return_mean": float(np.mean(np.asarray(table["return"]))),
        "frames_per_s": frames / seconds if seconds > 0 else float("nan"),
    }
