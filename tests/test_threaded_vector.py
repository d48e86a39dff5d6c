"""The threaded vector env gives exactly what Gymnasium's SyncVectorEnv gives, autoresets included."""

from functools import partial

import numpy as np
from gymnasium.vector import SyncVectorEnv

from rapid.envs.robotics.shadow_hand_block import ShadowHandBlock
from rapid.envs.threaded_vector import ThreadedVectorEnv
from rapid.platform.env_stack import make_env


def test_threaded_steps_equal_sequential_steps_through_autoresets() -> None:
    make = partial(ShadowHandBlock, timeout_s=0.4)  # 10-step episodes: several autoresets
    threaded = ThreadedVectorEnv([make] * 4, threads=2)
    sequential = SyncVectorEnv([make] * 4)
    obs_t, _ = threaded.reset(seed=7)
    obs_s, _ = sequential.reset(seed=7)
    rng = np.random.default_rng(0)
    resets = 0
    for _ in range(25):
        actions = rng.uniform(-1, 1, threaded.action_space.shape).astype(np.float32)
        obs_t, reward_t, term_t, trunc_t, _ = threaded.step(actions)
        obs_s, reward_s, term_s, trunc_s, _ = sequential.step(actions)
        for key in ("actor", "critic"):
            assert np.array_equal(obs_t[key], obs_s[key])
        assert np.array_equal(reward_t, reward_s) and np.array_equal(term_t | trunc_t, term_s | trunc_s)
        resets += int((term_t | trunc_t).sum())
    assert resets >= 4
    threaded.close()
    sequential.close()


def test_make_env_builds_the_vector_rllib_asks_for() -> None:
    vector = make_env("ShadowHandBlock-v0", {"num_envs": 3, "vector_threads": 2, "randomization": "dactyl"})
    assert isinstance(vector, ThreadedVectorEnv) and vector.num_envs == 3
    single = make_env("ShadowHandBlock-v0", {"vector_threads": 2})
    assert isinstance(single.observation_space["actor"].shape, tuple)
    vector.close()
