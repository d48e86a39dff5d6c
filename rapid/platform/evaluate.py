"""`rapid eval`: episodes from a run's checkpoint, through RLlib's own EnvRunner and connectors.

Using an EnvRunner (in this process, no Ray needed) rather than a hand-written loop means the
evaluation sees exactly what training saw: the env_to_module connectors with their saved
state (observation filters), recurrent state, and action unsquashing.
"""

import math
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")  # offscreen MuJoCo rendering; must precede `import mujoco`

import cv2  # noqa: E402
import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from ray import tune  # noqa: E402
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule  # noqa: E402
from ray.rllib.env.single_agent_env_runner import SingleAgentEnvRunner  # noqa: E402

from rapid.platform.errors import RapidError  # noqa: E402
from rapid.platform.registry import ENVS  # noqa: E402
from rapid.platform.rllib_config import build_algorithm_config  # noqa: E402
from rapid.platform.run_dir import RunDir, storage_uri  # noqa: E402
from rapid.platform.spec import RLlibJob  # noqa: E402
from rapid.platform.spec_file import load_run_job  # noqa: E402
from rapid.platform.trainable import MODULE_WEIGHTS  # noqa: E402

VIDEOS = "videos"


class FirstEpisodeFrames(gym.Wrapper):
    """Keeps the rendered frames of the first episode only: rendering every step is slow."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.frames: list[np.ndarray] = []
        self.recording = True

    def reset(self, **kwargs: Any) -> tuple:
        out = self.env.reset(**kwargs)
        if self.recording:
            self.frames = [self.env.render()]
        return out

    def step(self, action: Any) -> tuple:
        out = self.env.step(action)
        if self.recording:
            self.frames.append(self.env.render())
            self.recording = not (out[2] or out[3])
        return out


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


def _env_runner(job: RLlibJob, checkpoint: Path, video: bool, seed: int) -> SingleAgentEnvRunner:
    env_config = dict(job.env_config)
    if job.evaluation is not None:
        env_config.update(job.evaluation.env_config)
    env_config.pop("vector_threads", None)  # one env here: no vector to thread
    job = job.model_copy(update={"env_config": env_config})
    creator = ENVS.get(job.env)
    if video:
        env_config["render_mode"] = "rgb_array"
        tune.register_env(job.env, lambda cfg: FirstEpisodeFrames(creator(cfg)))
    else:
        tune.register_env(job.env, creator)
    config = build_algorithm_config(job)
    config.environment(env_config=env_config)
    config.env_runners(num_env_runners=0, num_envs_per_env_runner=1)
    config.debugging(seed=seed)
    runner = SingleAgentEnvRunner(config=config)
    runner.restore_from_path(checkpoint / "env_runner")
    weights = checkpoint / MODULE_WEIGHTS
    runner.module.restore_from_path(weights if isinstance(runner.module, MultiRLModule) else weights / "default_policy")
    return runner


def episode_figures(episodes: list[Any], metric: str) -> dict[str, float]:
    """Return, length and every numeric key of the final info, averaged over episodes."""
    figures = {
        "episode_return_mean": float(np.mean([e.get_return() for e in episodes])),
        "episode_return_min": float(np.min([e.get_return() for e in episodes])),
        "episode_return_max": float(np.max([e.get_return() for e in episodes])),
        "episode_len_mean": float(np.mean([len(e) for e in episodes])),
    }
    finals = [e.get_infos(-1) for e in episodes]
    for key in sorted({k for info in finals for k, v in info.items() if isinstance(v, (int, float, np.number))}):
        figures[key] = float(np.mean([info[key] for info in finals if key in info]))
    short = metric.rsplit("/", 1)[-1]
    if metric not in figures and short in figures:
        figures[metric] = figures[short]
    return figures


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
            recorder = _find_wrapper(runner.env.unwrapped.envs[0], FirstEpisodeFrames)
            fps = recorder.metadata.get("render_fps") or 30
            out = local / VIDEOS / f"{path.name}_episode0.mp4"
            write_mp4(recorder.frames, out, fps)
            print(f"  video: {out} ({len(recorder.frames)} frames)")
    finally:
        runner.stop()
    return figures
