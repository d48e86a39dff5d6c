"""The hide-and-seek jobs end to end: the quadrant job trains its shared entity-attention policy,
reports the emergence metrics, survives a killed driver, and `rapid eval --video` films an episode;
a world that cannot hold its objects, or an unknown layout, stops before Ray."""

import signal
from pathlib import Path

import cv2
import pytest
from conftest import Head, embedded_env, rapid, results_of, rows, start_run, wait_for_checkpoints

SPEC = "jobs/hide_and_seek_quadrant.yaml"
EMERGENCE = ("hidden_share", "max_seeker_height", "boxes_grabbed_by_hiders", "boxes_locked_by_seekers", "max_box_move_prep")


def test_quadrant_self_play_trains_reports_emergence_resumes_and_films(ray_head: Head, tmp_path: Path) -> None:
    args = [SPEC, "--profile", "smoke", "--set", f"storage_path={tmp_path}", "--set", "stop={iterations: 4}"]
    driver = start_run(args, ray_head.env())
    run = wait_for_checkpoints(tmp_path, "hide_and_seek_quadrant", 2, driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait(60)
    outcome = rapid("run", "--resume", str(run), env=ray_head.env())
    assert outcome.returncode == 0, outcome.stderr
    table = rows(run)
    assert table["iteration"][-1] == 4
    assert all(v > 0 for v in table["learners/shared/num_module_steps_trained"]), "the shared policy trains"
    for metric in EMERGENCE:
        values = [v for v in table[f"env_runners/{metric}"] if v == v]
        assert values and all(v >= 0 for v in values), metric
    assert all(0 <= v <= 1 for v in table["env_runners/hidden_share"] if v == v)
    hiders = [v for v in table["env_runners/agent_episode_returns_mean/hider_0"] if v == v]
    seekers = [v for v in table["env_runners/agent_episode_returns_mean/seeker_0"] if v == v]
    assert hiders and all(abs(h + s) < 1e-6 for h, s in zip(hiders, seekers, strict=True)), "zero-sum between the teams"
    video = rapid("eval", str(run), "--episodes", "1", "--video", env=embedded_env(MUJOCO_GL="egl"))
    assert video.returncode == 0, video.stderr
    (mp4,) = (run / "videos").glob("*.mp4")
    capture = cv2.VideoCapture(str(mp4))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 81, "one 80-step episode, its first frame at reset"
    ok, frame = capture.read()
    assert ok and frame.std() > 0


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["env_config.n_boxes=9", "env_config.floor_size=4"], "env_config.n_boxes: 9 boxes do not fit the quadrant room"),
        (["env_config.layout=maze"], "env_config.layout"),
        (["env_config.n_seekers=4"], "env_config.n_seekers"),
    ],
)
def test_a_world_that_cannot_be_built_exits_2_before_ray(tmp_path: Path, overrides: list[str], expected: str) -> None:
    sets = [arg for override in overrides for arg in ("--set", override)]
    outcome = rapid("run", SPEC, "--set", f"storage_path={tmp_path}", *sets, "--profile", "smoke", env=embedded_env(), timeout=120)
    assert outcome.returncode == 2, outcome.stderr
    assert SPEC in outcome.stderr and expected in outcome.stderr
    assert not results_of(tmp_path, "hide_and_seek_quadrant"), "nothing written"
