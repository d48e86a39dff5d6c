"""A vector env whose sub-envs step in parallel threads, for envs that spend their step outside the GIL.

MuJoCo's `mj_step` releases the GIL, and in synchronous PPO the learner's cores sit idle
while the EnvRunner samples: stepping the sub-envs' physics in threads puts those cores to
work. Everything else (autoreset, batching, infos) is Gymnasium's SyncVectorEnv unchanged:
each sub-env's step is computed ahead, in the pool, and handed over when SyncVectorEnv asks.
RLlib builds it through `gym_env_vectorize_mode="vector_entry_point"`.
"""

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gymnasium as gym
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import iterate


class _SteppedAhead(gym.Wrapper):
    """Returns the step computed ahead by `step_ahead`, else steps as usual."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._result: tuple | None = None

    def step_ahead(self, action: Any) -> None:
        self._result = self.env.step(action)

    def step(self, action: Any) -> tuple:
        result, self._result = self._result, None
        return result if result is not None else self.env.step(action)


class ThreadedVectorEnv(SyncVectorEnv):
    """SyncVectorEnv with the sub-envs' steps run by `threads` threads."""

    def __init__(self, env_fns: Sequence[Callable[[], gym.Env]], threads: int) -> None:
        super().__init__([lambda make=make: _SteppedAhead(make()) for make in env_fns])
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="env-step")

    def step(self, actions: Any) -> tuple:
        # Sub-envs that autoreset this step (NEXT_STEP mode) are reset by SyncVectorEnv instead.
        ahead = [
            (env, action)
            for i, (env, action) in enumerate(zip(self.envs, iterate(self.action_space, actions), strict=True))
            if not (self.autoreset_mode == AutoresetMode.NEXT_STEP and self._autoreset_envs[i])
        ]
        for future in [self._pool.submit(env.step_ahead, action) for env, action in ahead]:
            future.result()
        return super().step(actions)

    def close_extras(self, **kwargs: Any) -> None:
        self._pool.shutdown(wait=True)
        super().close_extras(**kwargs)
