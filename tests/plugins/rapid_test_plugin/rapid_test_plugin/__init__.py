"""An outside workload's parts, registered through rapid's plug-in seam only; and two faults
(an env that crashes at every reset, a loss that turns NaN) for rapid's run-health tests."""

from importlib import import_module
from typing import Any

import gymnasium as gym
import torch
from pydantic import Field
from ray.rllib.callbacks.callbacks import RLlibCallback

from rapid.platform.learner_extension import LossTerm
from rapid.platform.plugins import EnvWrapper, Section, Strict
from rapid.platform.registry import CALLBACKS, ENVS, SECTIONS, WRAPPERS


class RewardScale(Strict):
    factor: float = Field(..., description="every reward is multiplied by it")


class ScaledReward(gym.RewardWrapper):
    def __init__(self, env: gym.Env, settings: RewardScale) -> None:
        super().__init__(env)
        self.factor = settings.factor

    def reward(self, reward: float) -> float:
        return self.factor * reward


class CountEpisodes(RLlibCallback):
    def on_episode_end(self, *, metrics_logger: Any = None, **kwargs: Any) -> None:
        metrics_logger.log_value(("plugin", "episodes"), 1, reduce="sum")


class L2Penalty(Strict):
    coeff: float = Field(..., gt=0)


class WeightNorm(LossTerm):
    name = "l2_penalty"

    def __init__(self, settings: L2Penalty) -> None:
        self.coeff = settings.coeff

    def __call__(self, learner: Any, module_id: str, batch: dict, fwd_out: dict) -> torch.Tensor:
        return self.coeff * sum((p**2).sum() for p in learner.module[module_id].parameters())


WRAPPERS.add(
    "reward_scale",
    lambda: EnvWrapper(wrap=lambda env, settings, actor: ScaledReward(env, settings), schema=RewardScale),
    "multiplies every reward by `factor` (rapid's plug-in test)",
)
CALLBACKS.add("count_episodes", lambda: CountEpisodes, "counts episodes as env_runners/plugin/episodes (rapid's plug-in test)")
SECTIONS.add(
    "l2_penalty",
    lambda: Section(schema=L2Penalty, description="an L2 penalty on the weights", loss_term=lambda s, job: WeightNorm(s)),
    "adds coeff x the squared weights to the loss (rapid's plug-in test)",
)


class CrashSettings(Strict):
    """No settings."""

class CrashAtReset(gym.Wrapper):
    def reset(self, **kwargs: Any) -> Any:
        raise RuntimeError("this env crashes at every reset (rapid's run-health test)")


class NaNLossSettings(Strict):
    after_updates: int = Field(0, ge=0, description="updates with a finite loss before it turns NaN")


class NaNLoss(LossTerm):
    name = "nan_loss"

    def __init__(self, settings: NaNLossSettings) -> None:
        self.after, self.updates = settings.after_updates, 0

    def __call__(self, learner: Any, module_id: str, batch: dict, fwd_out: dict) -> torch.Tensor:
        self.updates += 1
        scale = float("nan") if self.updates > self.after else 0.0
        return scale * sum(p.sum() for p in learner.module[module_id].parameters())


WRAPPERS.add(
    "crash_at_reset",
    lambda: EnvWrapper(wrap=lambda env, settings, actor: CrashAtReset(env), schema=CrashSettings),
    "raises at every reset (rapid's run-health test)",
)
SECTIONS.add(
    "nan_loss",
    lambda: Section(schema=NaNLossSettings, description="a loss that turns NaN", loss_term=lambda s, job: NaNLoss(s)),
    "adds NaN to the loss after `after_updates` updates (rapid's run-health test)",
)
ENVS.add(
    "two_sliders",
    lambda: lambda env_config: import_module("rapid_test_plugin.sliders").TwoSliders(**env_config),
    "two agents push a slider each in one MuJoCo model; a large `gear` diverges (rapid's physics-guard test)",
)
