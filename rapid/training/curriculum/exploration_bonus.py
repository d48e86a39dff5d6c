"""The `exploration_bonus` env_config key: a reward the first time in an episode the agent obtains
each item (Kanitscheider et al. 2021).

The dynamic version pays it only for items the agent cannot yet obtain reliably: those whose
success rate as a task, from the run's curriculum, is below `threshold`; once an item is
mastered its bonus stops, and exploration moves on to what is still out of reach. An item that
is no task of the env counts as never obtained reliably.
"""

from typing import Any

import gymnasium as gym
from pydantic import Field

from rapid.platform.episode_metrics import EpisodeMetric
from rapid.platform.plugins import EnvWrapper, SettingsError, Strict
from rapid.training.curriculum.curriculum import CurriculumClient

BONUS = "exploration_bonus"  # the episode's total bonus, in its last info


class ExplorationBonusSettings(Strict):
    """env_config key `exploration_bonus`."""

    bonus: float = Field(0.1, gt=0, description="reward for each item the first time it is obtained in an episode")
    dynamic: bool = Field(True, description="pay only for items whose success rate (from `curriculum:`) is below threshold")
    threshold: float = Field(0.5, ge=0, le=1, description="the dynamic bonus stops for an item at this success rate")


def _curriculum_of(env: gym.Env) -> CurriculumClient | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, CurriculumClient):
            return env
        env = env.env
    return None


class ExplorationBonus(gym.Wrapper):
    """Adds the bonus to the reward of the step at which an item is first obtained (`new_items` in info)."""

    def __init__(self, env: gym.Env, settings: ExplorationBonusSettings, actor: Any = None) -> None:
        super().__init__(env)
        self.settings = settings
        self.curriculum = _curriculum_of(env)
        if settings.dynamic and self.curriculum is None:
            raise SettingsError([(("env_config", BONUS, "dynamic"), "the dynamic bonus reads each item's success rate "
                                  "from the curriculum: add `curriculum:` to env_config, or set dynamic: false")])
        self._paid = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        self._paid = 0.0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        new = info.get("new_items", ())
        if new and self.curriculum is not None and self.settings.dynamic:
            rates = self.curriculum.success_rates
            new = [item for item in new if rates.get(item, 0.0) < self.settings.threshold]
        bonus = self.settings.bonus * len(new)
        self._paid += bonus
        if terminated or truncated:
            info[BONUS] = self._paid
        return obs, reward + bonus, terminated, truncated, info


BONUS_WRAPPER = EnvWrapper(wrap=ExplorationBonus, schema=ExplorationBonusSettings, order=60,
                           episode_metrics={BONUS: EpisodeMetric(BONUS)})
