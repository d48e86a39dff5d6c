"""`rapid eval`: episodes from a run's checkpoint, through RLlib's own EnvRunner and connectors.

Using an EnvRunner (in this process, no Ray needed) rather than a hand-written loop means the
evaluation sees exactly what training saw: the env_to_module connectors with their saved
state (observation filters), recurrent state, action unsquashing, and for a multi-agent job
the policy mapping (a league's opponents included).
"""

import math
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")  # offscreen MuJoCo rendering; must precede `import mujoco`

import cv2  # noqa: E402
import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule  # noqa: E402
from ray.rllib.env.env_runner import EnvRunner  # noqa: E402
from ray.rllib.env.multi_agent_env import MultiAgentEnv  # noqa: E402
from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner  # noqa: E402
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner  # noqa: E402

from rapid.platform.errors import RapidError  # noqa: E402
from rapid.platform.initial_weights import MODULE_WEIGHTS  # noqa: E402
from rapid.platform.rllib_config import build_algorithm_config, register_env  # noqa: E402
from rapid.platform.run_dir import RunDir, storage_uri  # noqa: E402
from rapid.platform.spec import RLlibJob  # noqa: E402
from rapid.platform.spec_file import load_run_job  # noqa: E402

VIDEOS = "videos"


class FrameRecorder:
    """Keeps the rendered frames of the first episode only: rendering every step is slow.

    Not gymnasium's RecordVideo: that wraps single-agent envs only (this serves RLlib's
    multi-agent envs too) and writes through moviepy, a dependency OpenCV already covers.
    """

    env: Any
    frames: list[np.ndarray]
    recording = True

    def reset(self, **kwargs: Any) -> tuple:
        out = self.env.reset(**kwargs)
        if self.recording:
            self.frames = [self.env.render()]
        return out

    def step(self, action: Any) -> tuple:
        out = self.env.step(action)
        if self.recording:
            self.frames.append(self.env.render())
            terminated, truncated = out[2], out[3]
            if isinstance(terminated, dict):  # a multi-agent env: the episode ends for all at once
                terminated, truncated = terminated.get("__all__", False), truncated.get("__all__", False)
            self.recording = not (terminated or truncated)
        return out


class FirstEpisodeFrames(FrameRecorder, gym.Wrapper):
    """The recorder around a Gymnasium env."""


class MultiAgentFirstEpisodeFrames(FrameRecorder, MultiAgentEnv):
    """The recorder around a multi-agent env, which RLlib needs to stay a MultiAgentEnv."""

    def __init__(self, env: MultiAgentEnv) -> None:
        super().__init__()
        self.env = env
        self.observation_space, self.action_space = env.observation_space, env.action_space
        self.possible_agents, self.agents = env.possible_agents, env.agents
        self.metadata = env.metadata

    def get_observation_space(self, agent_id: Any) -> gym.Space:
        return self.env.get_observation_space(agent_id)

    def get_action_space(self, agent_id: Any) -> gym.Space:
        return self.env.get_action_space(agent_id)

    def step(self, action: Any) -> tuple:
        out = super().step(action)
        self.agents = self.env.agents
        return out

    def render(self) -> Any:
        return self.env.render()


def frame_recorder(env: Any) -> Any:
    return MultiAgentFirstEpisodeFrames(env) if isinstance(env, MultiAgentEnv) else FirstEpisodeFrames(env)


def _find_wrapper(env: Any, cls: type) -> Any:
    while env is not None and not isinstance(env, cls):
        env = getattr(env, "env", None)
    return env


def write_mp4(frames: list[np.ndarray], path: Path, fps: float) -> None:
    """RGB frames to an mp4 (OpenCV's mp4v codec needs no system encoder)."""
    height, width = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def newest_checkpoint(run: RunDir) -> str:
    found = run.checkpoints()
    if not found:
        raise RapidError(f"{run.uri}: no checkpoint yet (checkpoints/checkpoint_*); train longer or lower checkpoint.every")
    return found[-1]


def _env_runner(job: RLlibJob, checkpoint: Path, video: bool, seed: int) -> EnvRunner:
    env_config = dict(job.env_config)
    if job.evaluation is not None:
        env_config.update(job.evaluation.env_config)
    env_config.pop("vector_threads", None)  # one env here: no vector to thread
    if video:
        env_config["render_mode"] = "rgb_array"
    job = job.model_copy(update={"env_config": env_config})
    register_env(job, outer=frame_recorder if video else None)
    config = build_algorithm_config(job)
    config.env_runners(num_env_runners=0, num_envs_per_env_runner=1)
    config.debugging(seed=seed)
    runner = (SingleAgentEnvRunner if job.multi_agent is None else MultiAgentEnvRunner)(config=config)
    runner.restore_from_path(checkpoint / "env_runner")
    weights = checkpoint / MODULE_WEIGHTS
    runner.module.restore_from_path(weights if isinstance(runner.module, MultiRLModule) else weights / "default_policy")
    return runner


def _recorder(runner: EnvRunner) -> FrameRecorder:
    env = runner.env.unwrapped
    return _find_wrapper(env if isinstance(env, MultiAgentEnv) else env.envs[0], FrameRecorder)


def episode_figures(episodes: list[Any], metric: str) -> dict[str, float]:
    """Return, length and every numeric key of the final info, averaged over episodes; for a
    multi-agent job each policy's return (its agents' summed, over the episodes it played)."""
    figures = {
        "episode_return_mean": float(np.mean([e.get_return() for e in episodes])),
        "episode_return_min": float(np.min([e.get_return() for e in episodes])),
        "episode_return_max": float(np.max([e.get_return() for e in episodes])),
        "episode_len_mean": float(np.mean([len(e) for e in episodes])),
    }
    if hasattr(episodes[0], "agent_episodes"):
        figures.update(policy_returns(episodes))
        finals = []
    else:
        finals = [e.get_infos(-1) for e in episodes]
    for key in sorted({k for info in finals for k, v in info.items() if isinstance(v, (int, float, np.number))}):
        figures[key] = float(np.mean([info[key] for info in finals if key in info]))
    found = next((key for key in figures if metric == key or metric.endswith(f"/{key}")), None)
    if found is not None:
        figures[metric] = figures[found]
    return figures


def policy_returns(episodes: list[Any]) -> dict[str, float]:
    """Per policy: its agents' returns summed per episode, averaged over the episodes it played (RLlib's definition)."""
    per_policy: dict[str, list[float]] = {}
    for episode in episodes:
        sums: dict[str, float] = {}
        for agent_id, agent_episode in episode.agent_episodes.items():
            policy = episode.module_for(agent_id)
            sums[policy] = sums.get(policy, 0.0) + agent_episode.get_return()
        for policy, total in sums.items():
            per_policy.setdefault(policy, []).append(total)
    return {f"module_episode_returns_mean/{p}": float(np.mean(v)) for p, v in sorted(per_policy.items())}


def evaluate_run(
    run_dir: str, episodes: int = 10, video: bool = False, checkpoint: str | None = None, seed: int = 0
) -> dict[str, float]:
    """Print the workload's metric over `episodes` deterministic episodes; optionally an mp4."""
    run = RunDir(storage_uri(run_dir))
    job = load_run_job(run)
    if not isinstance(job, RLlibJob):
        raise RapidError(f"{run_dir}: `rapid eval` evaluates RLlib jobs; this run is a {job.kind}")
    local = run.local_path()
    if local is None:
        raise RapidError(f"{run_dir}: copy the run folder to local disk first (`rapid eval` reads it directly)")
    path = Path(checkpoint) if checkpoint else Path(newest_checkpoint(run))
    if not (path / "env_runner").is_dir():
        raise RapidError(f"{path}: not an RLlib checkpoint folder (no env_runner/)")
    try:
        runner = _env_runner(job, path, video, seed)
    except (ValueError, TypeError, gym.error.Error) as err:
        if not video:
            raise
        raise RapidError(f"env '{job.env}' cannot render frames for --video (render_mode='rgb_array'): {err}") from None
    try:
        done = runner.sample(num_episodes=episodes, explore=False)
        figures = episode_figures(done, job.metric)
        print(f"{job.name}: {len(done)} episodes from {path}")
        for key, value in figures.items():
            print(f"  {key:32s} {value:,.3f}" if not math.isnan(value) else f"  {key:32s} -")
        if video:
            recorder = _recorder(runner)
            fps = recorder.metadata.get("render_fps") or 30
            out = local / VIDEOS / f"{path.name}_episode0.mp4"
            write_mp4(recorder.frames, out, fps)
            print(f"  video: {out} ({len(recorder.frames)} frames)")
    finally:
        runner.stop()
    return figures
