"""Minecraft Simon Says on Crafter: the task env's reward and reports, the learning-progress
curriculum and the dynamic exploration bonus, the Crafter score, bad input, and the jobs end to
end (a curriculum whose state survives a killed driver; MineRL refused where it is not installed)."""

import signal
from pathlib import Path

import crafter.constants
import gymnasium as gym
import numpy as np
import pytest
import ray
from conftest import Head, rapid, rows, start_run, wait_for_checkpoints, wait_for_recorded_checkpoint
from gymnasium.utils.env_checker import check_env

from rapid.envs.minecraft import CRAFTER_ITEMS
from rapid.envs.minecraft.crafter_score import CrafterScore, crafter_score
from rapid.platform.env_stack import make_env
from rapid.training.curriculum.curriculum import CurriculumClient, CurriculumServer
from rapid.training.curriculum.exploration_bonus import ExplorationBonus, ExplorationBonusSettings
from rapid.training.curriculum.learning_progress import CurriculumSettings, LearningProgress

SPEC = "jobs/simon_says_crafter.yaml"
SMALL = {"area": [16, 16], "max_steps": 2000}
# On a 16x16 world from seed 3, these random actions obtain wake_up at step 52, collect_sapling at
# 83 and place_plant at 85, then the player dies at step 102.
SEED, ACTIONS = 3, np.random.default_rng(0).integers(17, size=2000)


def play(env: gym.Env, task: str) -> list[tuple[float, bool, dict]]:
    """(reward, terminated, info) of each step of one episode with `task`, the same actions each time."""
    env.reset(seed=SEED, options={"task": task})
    steps = []
    for action in ACTIONS:
        _, reward, terminated, truncated, info = env.step(int(action))
        steps.append((reward, terminated, info))
        if terminated or truncated:
            return steps
    raise AssertionError("the episode never ended")


def test_the_task_env_passes_gymnasiums_checker_and_observes_image_target_and_inventory() -> None:
    env = make_env("simon_says", SMALL)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0, options={"task": "collect_wood"})
    assert obs["image"].shape == (64, 64, 3) and obs["image"].dtype == np.uint8
    assert obs["target"].argmax() == CRAFTER_ITEMS.index("collect_wood") and obs["target"].sum() == 1
    assert obs["inventory"][0] == 9, "Crafter starts with full health"
    assert env.render().shape == (256, 256, 3)


def test_only_the_named_target_is_rewarded_and_every_item_obtained_is_reported() -> None:
    env = make_env("simon_says", SMALL)
    steps = play(env, "collect_wood")  # never obtained: other items come and go unrewarded
    others = [(reward, terminated, info) for reward, terminated, info in steps if info["new_items"]]
    assert [info["new_items"] for _, _, info in others] == [["wake_up"], ["collect_sapling"], ["place_plant"]]
    assert all(not terminated for _, terminated, _ in others) and sum(reward for reward, _, _ in steps) == 0.0
    last = steps[-1][2]
    assert last["obtained"] == ["collect_sapling", "place_plant", "wake_up"]
    assert last["success"] == 0.0 and last["success/collect_wood"] == 0.0 and "success/collect_sapling" not in last

    steps = play(env, "collect_sapling")
    reward, terminated, info = steps[-1]
    assert (len(steps), reward, terminated) == (84, 1.0, True), "the episode ends when the target is obtained"
    assert info["success"] == info["success/collect_sapling"] == 1.0
    assert sum(r for r, _, _ in steps) == 1.0


def test_the_score_protocol_moves_the_target_on_and_flags_every_achievement() -> None:
    env = make_env("simon_says", {**SMALL, "score_protocol": True, "tasks": ["wake_up", "collect_sapling", "collect_wood"]})
    env.reset(seed=SEED)
    targets, rewards = [], []
    for action in ACTIONS:
        obs, reward, terminated, truncated, info = env.step(int(action))
        targets.append(int(obs["target"].argmax()))
        rewards.append(reward)
        if terminated or truncated:
            break
    assert terminated and sum(rewards) == 2.0, "wake_up, then collect_sapling; the player dies before any wood"
    assert targets[51:53] == [0, 1] and targets[82:84] == [1, 2], "the target moves on as each is obtained"
    flags = {key: value for key, value in info.items() if key.startswith("achievement/")}
    assert len(flags) == 22 and flags["achievement/place_plant"] == 1.0 and flags["achievement/collect_wood"] == 0.0
    assert "success" not in info


def test_the_tasks_are_crafters_achievements_in_tech_tree_order() -> None:
    assert sorted(CRAFTER_ITEMS) == sorted(crafter.constants.achievements) and len(set(CRAFTER_ITEMS)) == 22
    before = CRAFTER_ITEMS.index
    assert before("collect_wood") < before("place_table") < before("make_wood_pickaxe") < before("collect_stone")
    assert before("make_stone_pickaxe") < before("collect_iron") < before("make_iron_pickaxe") < before("collect_diamond")


def test_crafter_score_is_the_geometric_mean_of_success_rates_in_percent() -> None:
    assert crafter_score([0.0] * 22) == 0.0
    assert crafter_score([1.0] * 22) == pytest.approx(100.0)
    # One achievement at 50%: exp(ln(51) / 22) - 1.
    assert crafter_score([0.5] + [0.0] * 21) == pytest.approx(np.exp(np.log(51) / 22) - 1)
    flags = {f"achievement/{item}": 0.0 for item in CRAFTER_ITEMS} | {"achievement/wake_up": 0.5}
    result = {"env_runners": {"achievement/wake_up": 1.0}, "evaluation": {"env_runners": dict(flags)}}
    CrafterScore().on_train_result(result=result)
    assert result["evaluation"]["env_runners"]["crafter_score"] == pytest.approx(np.exp(np.log(51) / 22) - 1)
    assert "crafter_score" not in result["env_runners"], "not every achievement was measured there"


def test_envs_report_in_batches_and_take_the_actors_distribution_without_waiting(local_ray: None) -> None:
    """A real curriculum actor: an env reports every `report_every` episodes, keeps one report in
    flight, and a new env starts from the actor's distribution (a resumed run's)."""
    settings = CurriculumSettings(report_every=2)
    server = ray.remote(CurriculumServer).remote(CRAFTER_ITEMS, settings.model_dump())
    env = CurriculumClient(make_env("simon_says", SMALL), settings, server)
    for played in range(1, 21):
        play(env, "collect_sapling")  # a named task is kept: every episode succeeds
        ray.get(server.snapshot.remote())  # the reports sent so far have arrived
        reported = ray.get(server.metrics.remote())["curriculum/episodes"]
        assert reported % 2 == 0 and reported + len(env._pending) == played, "whole batches, every episode once"
        if reported >= 4:
            break
    assert reported >= 4, "reports go out while the env plays on"
    fresh = CurriculumClient(make_env("simon_says", SMALL), settings, server)
    fresh.reset(seed=0)
    assert fresh.success_rates["collect_sapling"] == 1.0, "the actor's statistics, taken at the first reset"
    assert fresh.probabilities[CRAFTER_ITEMS.index("collect_sapling")] > 0.5, "the only task that succeeded"


def feed(curriculum: LearningProgress, rates: dict[str, float], episodes: int, rng: np.random.Generator) -> None:
    curriculum.report([(task, bool(rng.random() < rate)) for _ in range(episodes) for task, rate in rates.items()])


def test_learning_progress_raises_a_task_whose_success_moves_and_lowers_mastered_and_hopeless_ones() -> None:
    rng = np.random.default_rng(0)
    tasks = ("mastered", "hopeless", "first", "second")
    lp = LearningProgress(tasks, CurriculumSettings())
    assert np.allclose(lp.distribution(), 0.25), "uniform before any result"
    feed(lp, {"mastered": 1.0, "hopeless": 0.0, "first": 0.0, "second": 0.0}, 300, rng)
    for step in range(1, 11):  # `first` climbs from 0 to 0.5
        feed(lp, {"mastered": 1.0, "hopeless": 0.0, "first": 0.05 * step, "second": 0.0}, 10, rng)
    p = dict(zip(tasks, lp.distribution(), strict=True))
    assert p["first"] > 0.5 and p["first"] > 2 * p["mastered"], "the moving task is raised well above the mastered one"
    assert p["hopeless"] == pytest.approx(CurriculumSettings().uniform_share / 4), "never succeeded: the uniform share only"
    assert lp.mastered().tolist() == [True, False, False, False]
    feed(lp, {"mastered": 1.0, "hopeless": 0.0, "first": 1.0, "second": 0.0}, 400, rng)  # `first` is mastered now
    for step in range(1, 11):
        feed(lp, {"mastered": 1.0, "hopeless": 0.0, "first": 1.0, "second": 0.05 * step}, 10, rng)
    q = dict(zip(tasks, lp.distribution(), strict=True))
    assert q["second"] > 0.4 > 0.25 > q["first"], "once mastered, its weight falls below uniform and the next task's rises"
    assert lp.mastered().tolist() == [True, False, True, False]
    uniform = LearningProgress(tasks, CurriculumSettings(sampling="uniform"))
    uniform.set_state(lp.get_state())
    assert np.allclose(uniform.distribution(), 0.25) and uniform.metrics()["curriculum/mastered"] == 2.0


def test_curriculum_state_round_trips_and_refuses_another_task_list() -> None:
    lp = LearningProgress(("a", "b"), CurriculumSettings())
    lp.report([("a", True), ("b", False), ("a", True)])
    copy = LearningProgress(("a", "b"), CurriculumSettings())
    copy.set_state(lp.get_state())
    assert copy.metrics() == lp.metrics()
    with pytest.raises(ValueError, match="tasks"):
        LearningProgress(("a", "c"), CurriculumSettings()).set_state(lp.get_state())


def test_the_dynamic_bonus_pays_new_items_until_the_curriculum_says_they_are_mastered() -> None:
    env = make_env("simon_says", {**SMALL, "curriculum": {}})
    assert isinstance(env, CurriculumClient)
    bonus = ExplorationBonus(env, ExplorationBonusSettings(bonus=0.5, dynamic=True, threshold=0.5))
    paid = [reward for reward, _, _ in play(bonus, "collect_wood")]
    assert sum(paid) == pytest.approx(1.5), "wake_up, collect_sapling and place_plant, 0.5 each"
    env.success_rates["collect_sapling"] = 0.9  # what the curriculum actor reports for a mastered item
    steps = play(bonus, "collect_wood")
    assert sum(reward for reward, _, _ in steps) == pytest.approx(1.0) and steps[-1][2]["exploration_bonus"] == 1.0
    fixed = ExplorationBonus(env, ExplorationBonusSettings(bonus=0.5, dynamic=False))
    assert sum(reward for reward, _, _ in play(fixed, "collect_wood")) == pytest.approx(1.5)


@pytest.mark.parametrize(("overrides", "where", "expected"), [
    (["env_config.tasks=[collect_wood, collect_wod]"], "env_config.tasks.1", "unknown item 'collect_wod'; close names: collect_wood"),
    (["env_config.tasks=[]"], "env_config.tasks", "at least 1 item"),
    (["env_config.curriculum=null"], "env_config.exploration_bonus.dynamic", "dynamic bonus reads each item's success rate"),
    (["env_config.curriculum.slow_alpha=0.5"], "env_config.curriculum.slow_alpha", "must be smaller than fast_alpha"),
])
def test_bad_task_settings_stop_before_ray(tmp_path: Path, overrides: list[str], where: str, expected: str) -> None:
    sets = [arg for override in overrides for arg in ("--set", override)]
    done = rapid("run", SPEC, "--profile", "smoke", *sets, "--set", f"storage_path={tmp_path}")
    assert done.returncode == 2, done.stderr
    assert where in done.stderr and expected in done.stderr, done.stderr
    assert not any(tmp_path.iterdir()), "nothing written"


def test_a_minerl_job_without_minerl_stops_before_ray_and_names_the_image(tmp_path: Path) -> None:
    done = rapid("run", "jobs/simon_says_minerl.yaml", "--set", f"storage_path={tmp_path}")
    assert done.returncode == 2
    assert "MineRL is not installed" in done.stderr and "clusters/Dockerfile" in done.stderr
    assert not any(tmp_path.iterdir())
    assert rapid("validate", "jobs/simon_says_minerl.yaml").returncode == 0, "a laptop may still submit it to a cluster"


@pytest.mark.slow  # 1.7 min in CI; the curriculum's round-trip test stays, and the VPT pipeline trains on Crafter
def test_a_small_crafter_run_trains_reports_per_task_success_and_resumes_its_curriculum(ray_head: Head, tmp_path: Path) -> None:
    args = [SPEC, "--profile", "smoke", "--set", f"storage_path={tmp_path}", "--set", "stop={iterations: 6}",
            "--set", "checkpoint.every=2", "--set", "evaluation.every=3"]
    driver = start_run(args, ray_head.env())
    run = wait_for_checkpoints(tmp_path, "simon_says_crafter", 2, driver)
    wait_for_recorded_checkpoint(run, driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    done = rapid("run", "--resume", str(run), env=ray_head.env())
    assert done.returncode == 0, done.stderr
    table = rows(run)
    assert table["iteration"][-1] == 6
    episodes = table["curriculum/episodes"]
    resumed = next(i for i, (it, since) in enumerate(zip(table["iteration"], table["iterations_since_restore"], strict=True)) if it != since)
    assert episodes[resumed] > episodes[resumed - 1] > 0, "the resumed curriculum went on from the checkpoint's count"
    probabilities = [table[f"curriculum/probability/{task}"][-1] for task in CRAFTER_ITEMS]
    assert sum(probabilities) == pytest.approx(1.0)
    assert any(key.startswith("env_runners/success/") for key in table), "success is logged per target item"
    assert [v for v in table["evaluation/env_runners/crafter_score"] if v == v], "the score protocol ran in evaluation"
    plots = {p.name for p in (run / "plots").glob("*.png")}
    assert {"curriculum_probability_all.png", "evaluation_env_runners_crafter_score.png"} <= plots
