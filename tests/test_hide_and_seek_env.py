"""Hide-and-seek keeps the paper's game: sight, preparation, grab, lock, the arena penalty, the contract, the errors."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from rapid.envs.hide_and_seek import FEATURE_SIZES, SELF_SIZE, make_hide_and_seek, observation_keys
from rapid.envs.hide_and_seek.env import HideAndSeekEnv
from rapid.envs.hide_and_seek.layouts import make_layout
from rapid.envs.hide_and_seek.rules import METRIC_KEYS
from rapid.platform.plugins import SettingsError

NOOP = (5, 5, 5, 0, 0)
PUSH_MINUS_X, PUSH_PLUS_Y = (0, 5, 5, 0, 0), (5, 10, 5, 0, 0)
GRAB, LOCK = 3, 4
NO_WALLS = np.zeros((0, 6))


def duel(**settings) -> HideAndSeekEnv:
    """One hider, one seeker, one box, no preparation, and no walls: a bare floor for placing things by hand."""
    env = make_hide_and_seek({"n_hiders": 1, "n_seekers": 1, "n_boxes": 1, "n_elongated_boxes": 0, "n_ramps": 0,
                              "layout": "quadrant", "prep_fraction": 0.0, "horizon": 100, "seed": 0, **settings})
    env.reset()
    env.world.set_walls(NO_WALLS)
    return env


def put(env: HideAndSeekEnv, name: str, x: float, y: float, yaw: float = 0.0) -> None:
    """A body at rest on the floor at (x, y), turned to `yaw`; the env re-reads who sees what."""
    world = env.world
    body = world.body_names.index(name)
    world.qpos[body] = (x, y, world.rest_height[body], yaw)
    world.qvel[body] = 0.0
    env.visibility()


def act(env: HideAndSeekEnv, steps: int = 1, **chosen: tuple[int, ...]) -> dict:
    for _ in range(steps):
        observations, rewards, *_ = env.step({agent: chosen.get(agent, NOOP) for agent in env.possible_agents})
    return rewards


def position(env: HideAndSeekEnv, name: str) -> np.ndarray:
    return env.world.qpos[env.world.body_names.index(name), :3].copy()


def with_action(index: int, value: int = 1, base: tuple[int, ...] = NOOP) -> tuple[int, ...]:
    action = list(base)
    action[index] = value
    return tuple(action)


def test_an_agent_sees_in_front_within_the_cone_and_not_behind_or_through_walls_and_boxes() -> None:
    env = duel()
    put(env, "box_0", 3.0, 3.0)
    put(env, "hider_0", 0.0, 0.0, yaw=0.0)
    cases = {(1.0, 0.0): True, (-1.0, 0.0): False, (np.cos(1.0), np.sin(1.0)): True, (np.cos(1.3), np.sin(1.3)): False}
    for (x, y), expected in cases.items():
        put(env, "seeker_0", x, y)
        assert env.visibility()[0, 1] == expected, (x, y)
    put(env, "seeker_0", 1.5, 0.0)
    env.world.set_walls(np.array([[0.7, 0.0, 0.25, 0.05, 1.0, 0.25]]))
    assert not env.visibility()[0, 1]
    env.world.set_walls(NO_WALLS)
    put(env, "box_0", 0.7, 0.0)
    assert env.visibility()[0].tolist() == [False, False, True]


def test_preparation_phase_pays_nobody_and_freezes_the_seekers() -> None:
    env = duel(prep_fraction=0.5, horizon=10)
    put(env, "hider_0", -1.0, 0.0, yaw=0.0)
    put(env, "seeker_0", 1.0, 0.0, yaw=np.pi)  # they face each other: the hider is seen
    put(env, "box_0", 0.0, 2.5)
    start = {name: position(env, name) for name in ("hider_0", "seeker_0")}
    for _ in range(5):
        rewards = act(env, hider_0=PUSH_PLUS_Y, seeker_0=PUSH_PLUS_Y)
        assert rewards == {"hider_0": 0.0, "seeker_0": 0.0}
    assert np.allclose(position(env, "seeker_0")[:2], start["seeker_0"][:2], atol=1e-3)
    assert position(env, "hider_0")[1] - start["hider_0"][1] > 1.0
    seeker_before = position(env, "seeker_0")
    rewards = act(env, seeker_0=PUSH_PLUS_Y)
    assert set(rewards.values()) <= {1.0, -1.0} and rewards["hider_0"] == -rewards["seeker_0"]
    assert position(env, "seeker_0")[1] - seeker_before[1] > 0.1


def test_hiders_are_paid_while_no_seeker_sees_them() -> None:
    env = duel()
    put(env, "box_0", 2.5, 2.5)
    put(env, "hider_0", -1.0, 0.0)
    put(env, "seeker_0", 1.0, 0.0, yaw=np.pi)
    assert act(env) == {"hider_0": -1.0, "seeker_0": 1.0}
    put(env, "seeker_0", 1.0, 0.0, yaw=0.0)  # looking away
    assert act(env) == {"hider_0": 1.0, "seeker_0": -1.0}


def test_a_lock_holds_against_the_other_team_and_only_the_locking_team_unlocks() -> None:
    env = duel()
    put(env, "seeker_0", -2.0, 2.0)
    put(env, "box_0", 0.45, 0.0)
    put(env, "hider_0", 0.0, 0.0, yaw=0.0)  # the box is in front, 0.2 m from the hider's centre
    act(env, hider_0=with_action(LOCK))
    assert env.hands.lock_team.tolist() == [0]
    locked_at = position(env, "box_0")
    put(env, "hider_0", -2.0, -2.0)
    put(env, "seeker_0", 1.0, 0.0, yaw=np.pi)
    act(env, 10, seeker_0=PUSH_MINUS_X)
    assert np.linalg.norm(position(env, "box_0") - locked_at) < 0.01
    act(env, 3, seeker_0=NOOP)  # in reach without pressing lock: a seeker cannot unlock the hiders' lock
    act(env, 3, seeker_0=with_action(LOCK))
    assert env.hands.lock_team.tolist() == [0]
    put(env, "seeker_0", 2.0, 2.0)
    put(env, "hider_0", 0.0, 0.0, yaw=0.0)
    act(env, hider_0=NOOP)
    assert env.hands.lock_team.tolist() == [-1]
    put(env, "hider_0", -2.0, -2.0)
    put(env, "seeker_0", 1.0, 0.0, yaw=np.pi)
    act(env, 5, seeker_0=PUSH_MINUS_X)
    assert position(env, "box_0")[0] < locked_at[0] - 0.1


def test_grab_carries_only_an_object_in_reach_and_lets_it_go() -> None:
    env = duel(n_boxes=2)
    put(env, "seeker_0", -2.5, 2.5)
    put(env, "box_0", 0.45, 0.0)
    put(env, "box_1", 1.3, 0.9)  # in sight, out of reach
    put(env, "hider_0", 0.0, 0.0, yaw=0.0)
    far_box = position(env, "box_1")
    for _ in range(4):
        act(env, hider_0=with_action(GRAB, base=PUSH_MINUS_X))
        assert env.hands.grabbed.tolist() == [0, -1]
        assert np.linalg.norm(position(env, "hider_0")[:2] - position(env, "box_0")[:2]) == pytest.approx(0.45, abs=0.05)
    assert position(env, "box_0")[0] < -0.5  # dragged along
    assert np.allclose(position(env, "box_1"), far_box, atol=1e-3)
    act(env, 6, hider_0=PUSH_PLUS_Y)
    assert env.hands.grabbed.tolist() == [-1, -1]
    assert np.linalg.norm(position(env, "hider_0")[:2] - position(env, "box_0")[:2]) > 1.0


def test_leaving_the_arena_costs_ten() -> None:
    env = duel()
    put(env, "seeker_0", 1.0, 0.0, yaw=np.pi)  # looking away: the hider is hidden, but out of bounds
    put(env, "hider_0", 9.5, 0.0)  # the penalty square is 18 m, centred on the floor
    rewards = act(env)
    assert rewards["hider_0"] == -10.0 and rewards["seeker_0"] == -1.0


def test_lidar_reads_the_distance_to_the_nearest_surface_over_the_range() -> None:
    env = duel(n_lidar=4)
    put(env, "seeker_0", -2.5, 2.5)
    put(env, "box_0", 2.5, 2.5)
    env.world.set_walls(np.array([[1.05, 0.0, 0.25, 0.05, 0.5, 0.25]]))  # its face 1 m in +x
    put(env, "hider_0", 0.0, 0.0)
    observations = env.step(dict.fromkeys(env.possible_agents, NOOP))[0]
    assert observations["hider_0"]["lidar"] == pytest.approx([1.0 / 6.0, 1.0, 1.0, 1.0], abs=0.02)


def test_observations_follow_the_contract_and_masks_match_sight() -> None:
    env = make_hide_and_seek({"n_hiders": 2, "n_seekers": 1, "n_boxes": 2, "n_elongated_boxes": 1, "n_ramps": 0,
                              "n_lidar": 8, "seed": 3, "prep_fraction": 0.0})
    observations, _ = env.reset()
    for _ in range(20):
        observations, *_ = env.step({agent: env.action_space(agent).sample() for agent in env.agents})
    seen, world = env.visibility(), env.world
    for i, agent in enumerate(env.possible_agents):
        obs = observations[agent]
        assert set(obs) == set(observation_keys()) and env.observation_space(agent).contains(obs)
        others = [j for j in range(3) if j != i]
        assert obs["self"].shape == (SELF_SIZE,)
        assert obs["self"][:3] == pytest.approx(world.qpos[i, :3])
        assert obs["agents"][:, :3] == pytest.approx(world.qpos[others, :3])
        assert obs["agents_visible"].tolist() == seen[i, others].tolist()
        assert obs["boxes_visible"].tolist() == seen[i, 3:5].tolist()
        assert obs["boxes"][:, 8:11] == pytest.approx(np.array([[0.5, 0.5, 0.5], [1.65, 0.15, 0.5]]))
        assert obs["ramps"].shape == (1, FEATURE_SIZES["ramps"]) and obs["ramps_present"].tolist() == [0.0]
        assert obs["ramps_visible"].tolist() == [0.0] and obs["boxes_present"].tolist() == [1.0, 1.0]
        assert obs["self"][8:10].tolist() == ([1.0, 0.0] if agent.startswith("hider") else [0.0, 1.0])


def test_a_locked_box_shows_whose_lock_it_is() -> None:
    env = duel()
    put(env, "seeker_0", -2.0, 2.0)
    put(env, "box_0", 0.45, 0.0)
    put(env, "hider_0", 0.0, 0.0)
    observations = env.step({"hider_0": with_action(LOCK), "seeker_0": NOOP})[0]
    assert observations["hider_0"]["boxes"][0, -2:].tolist() == [1.0, 0.0]
    assert observations["seeker_0"]["boxes"][0, -2:].tolist() == [0.0, 1.0]


def test_the_episode_truncates_everyone_at_the_horizon_with_its_metrics() -> None:
    env = make_hide_and_seek({"n_hiders": 1, "n_seekers": 2, "n_boxes": 1, "n_ramps": 1, "n_elongated_boxes": 0,
                              "horizon": 6, "seed": 1})
    env.reset()
    for step in range(6):
        _, _, terminated, truncated, infos = env.step({agent: env.action_space(agent).sample() for agent in env.agents})
        assert not any(terminated.values()) and all(truncated.values()) == (step == 5)
    assert env.agents == []
    for info in infos.values():
        assert set(METRIC_KEYS) <= set(info) and all(isinstance(info[key], float) for key in METRIC_KEYS)
        assert info["max_seeker_height"] >= 0.14 and 0.0 <= info["hidden_share"] <= 1.0


def test_pettingzoo_parallel_api() -> None:
    env = make_hide_and_seek({"n_hiders": 2, "n_seekers": 1, "n_boxes": 2, "n_ramps": 1, "horizon": 25, "seed": 0})
    parallel_api_test(env, num_cycles=40)


@pytest.mark.parametrize("layout", ["quadrant", "random_walls"])
def test_every_layout_keeps_its_rooms_connected_through_doors(layout: str) -> None:
    for seed in range(40):
        grid = make_layout(layout, 6.0, np.random.default_rng(seed), door_dropout=0.5, outer_wall_prob=1.0)
        free = ~grid.occupied
        free[[0, -1], :] = free[:, [0, -1]] = False
        start = tuple(np.argwhere(free)[0])
        reached, frontier = {start}, [start]
        while frontier:
            x, y = frontier.pop()
            for cell in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if free[cell] and cell not in reached:
                    reached.add(cell)
                    frontier.append(cell)
        assert len(reached) == free.sum(), (layout, seed)


@pytest.mark.parametrize(("settings", "key", "words"), [
    ({"n_seekers": 4}, "env_config.n_seekers", "less than or equal to 3"),
    ({"n_boxes": -1}, "env_config.n_boxes", "greater than or equal to 0"),
    ({"layout": "maze"}, "env_config.layout", "'quadrant' or 'random_walls'"),
    ({"n_boxs": 2}, "env_config.n_boxs", "did you mean 'n_boxes'"),
    ({"layout": "quadrant", "n_boxes": 9, "floor_size": 4.0}, "env_config.n_boxes", "do not fit"),
    ({"n_boxes": 2, "n_elongated_boxes": 3}, "env_config.n_elongated_boxes", "more than n_boxes=2"),
])
def test_a_bad_env_config_names_its_key(settings: dict, key: str, words: str) -> None:
    with pytest.raises(SettingsError, match=rf"{key}: .*{words}"):
        make_hide_and_seek(settings)


def test_rapid_builds_it_by_name_under_the_physics_guard() -> None:
    from rapid.envs.physics_guard import ParallelPhysicsGuard
    from rapid.platform.env_stack import make_env

    env = make_env("hide_and_seek", {"n_hiders": 1, "n_seekers": 1, "n_boxes": 1, "n_ramps": 0, "n_elongated_boxes": 0})
    assert isinstance(env.env, ParallelPhysicsGuard)
    observations, _ = env.reset(seed=0)
    assert set(observations) == {"hider_0", "seeker_0"}


def test_renders_top_camera_frames_offscreen(tmp_path) -> None:
    script = textwrap.dedent(
        """
        import numpy as np
        from rapid.envs.hide_and_seek import make_hide_and_seek
        env = make_hide_and_seek({"render_mode": "rgb_array", "width": 96, "height": 64, "n_boxes": 2, "seed": 0})
        env.reset()
        env.step({agent: env.action_space(agent).sample() for agent in env.agents})
        frame = env.render()
        env.close()
        assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8 and frame.std() > 5, (frame.shape, frame.dtype)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "MUJOCO_GL": "egl"},
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
