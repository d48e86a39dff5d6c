"""`rapid run` end to end on real Ray and MuJoCo: results folder, resume after SIGKILL and Ctrl-C, eval."""

import io
import json
import os
import re
import shutil
import signal
from pathlib import Path

import cv2
import pytest
from conftest import (
    Head,
    embedded_env,
    rapid,
    results_of,
    rows,
    start_run,
    wait_for_checkpoints,
    wait_for_recorded_checkpoint,
    wait_until,
)
from ray.tune.experiment import Trial

from rapid.platform import progress
from rapid.platform.spec import Stop

SMOKE = ("jobs/quickstart.yaml", "--profile", "smoke")


def test_embedded_run_writes_parquet_plots_checkpoint_and_summary(tmp_path: Path) -> None:
    outcome = rapid("run", *SMOKE, "--set", f"storage_path={tmp_path}", "--set", "evaluation={every: 2, episodes: 2}",
                    "--set", "stop.env_steps=1536", "--set", "metric=eval_return_mean", env=embedded_env())
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path, "quickstart")
    table = rows(run)
    assert table["iteration"] == [1, 2, 3]
    evaluated = [value is not None and value == value for value in table["eval_return_mean"]]
    assert evaluated == [False, True, False], "only iteration 2 evaluated: its row alone has evaluation figures"
    assert table["eval_return_mean"][1] > 0
    for column in ("wall_time_s", "env_steps", "env_steps_per_s", "episode_return_mean", "episode_return_min",
                   "episode_return_max", "episode_len_mean", "learners/default_policy/policy_loss",
                   "evaluation/env_runners/episode_return_mean"):
        assert column in table, column
    assert table["env_steps"][-1] >= 1024
    assert all(rate > 0 for rate in table["env_steps_per_s"])
    pngs = sorted((run / "plots").glob("*.png"))
    assert [p.name for p in pngs] == ["env_steps_per_s.png", "episode_return_mean.png", "eval_return_mean.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["iterations"] == 3
    assert summary["metric_last"] == table["eval_return_mean"][1], "the newest evaluation, not the last row's gap"
    assert Path(summary["checkpoint"], "rllib_checkpoint.json").is_file()
    assert (run / "spec.yaml").read_text().startswith("kind: rllib")
    assert "[quickstart] iter 1 |" in outcome.stdout  # the progress line
    assert re.search(rf"^  results +{run}$", outcome.stdout, re.MULTILINE)


@pytest.fixture(scope="module")
def killed_and_resumed(ray_head: Head, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """A run whose driver got SIGKILL after its second checkpoint, then `--resume`d to the end."""
    storage = tmp_path_factory.mktemp("resume")
    every = 3
    args = [*SMOKE, "--set", f"storage_path={storage}", "--set", "stop.env_steps=10240", "--set", f"checkpoint.every={every}"]
    driver = start_run(args, ray_head.env())
    run = wait_for_checkpoints(storage, "quickstart", 2, driver)
    wait_for_recorded_checkpoint(run, driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    killed_at = max(rows(run)["iteration"])
    outcome = rapid("run", "--resume", str(run), env=ray_head.env())
    assert outcome.returncode == 0, outcome.stderr
    return run, killed_at


def test_the_progress_line_keeps_the_newest_evaluation_between_evaluations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)
    metric = "evaluation/env_runners/success_rate"
    out = io.StringIO()
    callback = progress.ProgressLine("fetch_push_her", Stop(env_steps=1000), metric, out=out)
    trial = Trial("fetch_push_her", trial_id="a", stub=True)
    for result in ({"training_iteration": 1, "env_steps": 100.0}, {"training_iteration": 2, "env_steps": 200.0, metric: 0.4},
                   {"training_iteration": 3, "env_steps": 300.0}):
        callback.on_trial_result(result["training_iteration"], [trial], trial, result)
    first, evaluated, after = out.getvalue().splitlines()
    assert f"{metric} - |" in first
    assert f"{metric} 0.4 |" in evaluated and f"{metric} 0.4 |" in after


def test_resume_after_sigkill_continues_from_the_checkpoint(killed_and_resumed: tuple[Path, int]) -> None:
    run, killed_at = killed_and_resumed
    table = rows(run)
    iterations = table["iteration"]
    assert iterations == list(range(1, len(iterations) + 1)), "one row per iteration, none twice"
    resumed = [i for i, since in zip(iterations, table["iterations_since_restore"], strict=True) if since != i]
    assert resumed, "the resumed process restarted from iteration 0 instead of a checkpoint"
    restored_from = resumed[0] - 1
    assert restored_from >= 3 and restored_from % 3 == 0 and restored_from <= killed_at
    steps = table["env_steps"]
    assert all(b > a for a, b in zip(steps, steps[1:], strict=False)), "env steps continue, never restart"
    assert steps[-1] >= 10240
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"


def test_eval_restores_the_checkpoint_and_writes_a_video(killed_and_resumed: tuple[Path, int]) -> None:
    run, _ = killed_and_resumed
    outcome = rapid("eval", str(run), "--episodes", "2", "--video")
    assert outcome.returncode == 0, outcome.stderr
    assert "quickstart: 2 episodes from" in outcome.stdout
    returns = [line for line in outcome.stdout.splitlines() if line.strip().startswith("episode_return_mean")]
    assert returns and float(returns[0].split()[-1].replace(",", "")) > 0
    (video,) = (run / "videos").glob("*.mp4")
    capture = cv2.VideoCapture(str(video))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = capture.read()
    assert ok and frames > 1 and frame.shape[2] == 3


@pytest.mark.slow  # 1.4 min in CI; SIGTERM's resumable stop (test_run_health) and SIGKILL's resume stay
def test_ctrl_c_leaves_a_resumable_run(ray_head: Head, tmp_path: Path) -> None:
    """Ctrl-C in a terminal signals the whole process group: the driver and its embedded Ray."""
    args = [*SMOKE, "--set", f"storage_path={tmp_path}", "--set", "stop.env_steps=6144", "--set", "checkpoint.every=2"]
    driver = start_run(args, embedded_env())
    run = wait_for_checkpoints(tmp_path, "quickstart", 1, driver)
    os.killpg(driver.pid, signal.SIGINT)
    stdout, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130, stderr
    assert f"Resume with: rapid run --resume {run}" in stdout
    assert json.loads((run / "summary.json").read_text())["status"] == "stopped"
    outcome = rapid("run", "--resume", str(run), env=ray_head.env())
    assert outcome.returncode == 0, outcome.stderr
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"
    assert rows(run)["env_steps"][-1] >= 6144


def test_plot_overlays_runs(killed_and_resumed: tuple[Path, int], tmp_path: Path) -> None:
    run, _ = killed_and_resumed
    twin = run.parent / "2000-01-01_00-00-00"
    shutil.copytree(run, twin)
    try:
        outcome = rapid("plot", str(run), str(twin), "--out", str(tmp_path / "both.png"))
    finally:
        shutil.rmtree(twin)
    assert outcome.returncode == 0, outcome.stderr
    assert (tmp_path / "both.png").read_bytes()[:4] == b"\x89PNG"


def test_metric_threshold_stops_the_run(ray_head: Head, tmp_path: Path) -> None:
    outcome = rapid("run", *SMOKE, "--set", f"storage_path={tmp_path}", "--set", "stop.env_steps=1000000",
                    "--set", "stop.metric={episode_return_mean: 1.0}", env=ray_head.env())
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path, "quickstart")
    assert rows(run)["iteration"] == [1]


def test_eval_of_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    outcome = rapid("eval", str(tmp_path))
    assert outcome.returncode == 2
    assert "not a rapid run folder" in outcome.stderr


def test_run_without_spec_or_resume_is_a_usage_error() -> None:
    outcome = rapid("run", env={**os.environ})
    assert outcome.returncode == 2 and "needs a SPEC file or --resume" in outcome.stderr


def _parent(pid: int) -> int:
    """The parent's PID, from /proc/PID/stat (after the parenthesized name, which may hold spaces)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _trial_pids(head: Head) -> list[int]:
    """Processes of this head's cluster that run a trial of RLlibJobTrainable (their title names
    it), from /proc: other Ray instances on the machine may run trials of their own."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"RLlibJobTrainable" not in cmdline.read_bytes():
                continue
            pid = ancestor = int(cmdline.parent.name)
            while ancestor > 1 and ancestor != head.process.pid:
                ancestor = _parent(ancestor)
        except OSError:
            continue
        if ancestor == head.process.pid:
            pids.append(pid)
    return pids


@pytest.mark.slow  # 1.3 min in CI; the SIGKILL resume from the checkpoint stays
def test_a_crashed_trial_restarts_from_its_checkpoint(ray_head: Head, tmp_path: Path) -> None:
    """FailureConfig: the trial's process dies mid-run; Tune restarts it from the newest checkpoint."""
    args = [*SMOKE, "--set", f"storage_path={tmp_path}", "--set", "stop.env_steps=16000", "--set", "checkpoint.every=3"]
    driver = start_run(args, ray_head.env())
    run = wait_for_checkpoints(tmp_path, "quickstart", 1, driver)
    # The trial writes its checkpoint before Tune's driver registers it; a kill in between
    # restarts the trial from scratch. A row after the checkpoint's says Tune has it.
    wait_until(lambda: (run / "metrics.parquet").exists() and max(rows(run)["iteration"]) >= 4,
               "no iteration after the first checkpoint", 120, driver, every=0.2)
    victims = _trial_pids(ray_head)
    assert len(victims) == 1
    os.kill(victims[0], signal.SIGKILL)
    stdout, stderr = driver.communicate(timeout=240)
    assert driver.returncode == 0, stderr
    table = rows(run)
    assert table["iteration"] == list(range(1, len(table["iteration"]) + 1))
    restarted = [i for i, since in zip(table["iteration"], table["iterations_since_restore"], strict=True) if since != i]
    assert restarted and (restarted[0] - 1) % 3 == 0
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"
