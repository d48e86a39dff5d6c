"""The Dactyl jobs end to end: PPO with the asymmetric LSTM on the randomized hand, eval with video, bad DR specs."""

import json
from pathlib import Path

import cv2
import pytest
from conftest import Head, rapid, results_of, rows

# Short episodes (4 s without success ends one) keep evaluation and the video quick.
TINY = ["--profile", "smoke", "--set", "env_config.timeout_s=4.0", "--set", "resources.env_runners=2",
        "--set", "resources.cpus_per_env_runner=0.5"]


# The ADR job: `slow` (a minute in CI); test_adr_run trains it, kills its driver and resumes it in CI.
@pytest.mark.parametrize("job", ["shadow_hand_dr", pytest.param("shadow_hand_adr", marks=pytest.mark.slow)])
def test_dactyl_job_trains_on_two_env_runners_and_checkpoints(ray_head: Head, tmp_path: Path, job: str) -> None:
    outcome = rapid("run", f"jobs/{job}.yaml", *TINY, "--set", f"storage_path={tmp_path}", env=ray_head.env())
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path, job)
    table = rows(run)
    assert table["iteration"][-1] >= 1
    for figure in ("env_runners/consecutive_successes", "evaluation/env_runners/consecutive_successes",
                   "learners/default_policy/vf_loss", "env_runners/dropped"):
        assert figure in table, figure
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"
    assert list((run / "checkpoints").glob("checkpoint_*/rllib_checkpoint.json"))
    if job == "shadow_hand_adr":
        assert "adr/entropy" in table and (run / "plots" / "adr_entropy.png").is_file()
        assert list((run / "checkpoints").glob("checkpoint_*/central_state.pkl")), "ADR state saved with the checkpoint"
    if job == "shadow_hand_dr":
        video = rapid("eval", str(run), "--episodes", "1", "--video")
        assert video.returncode == 0, video.stderr
        assert "consecutive_successes" in video.stdout
        (mp4,) = (run / "videos").glob("*.mp4")
        capture = cv2.VideoCapture(str(mp4))
        ok, frame = capture.read()
        assert ok and frame.shape[:2] == (480, 480) and frame.std() > 0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("env_config.randomization={parameters: [{name: m, targets: [{field: body_mas}], range: [0.5, 1.5]}]}",
         "field 'body_mas' is not a float array of the MuJoCo model (did you mean 'body_mass'?)"),
        ("env_config.randomization={parameters: [{name: m, targets: [{field: body_mass, select: {body: objet}}], range: [0.5, 1.5]}]}",
         "no body named 'objet' (did you mean 'object'?)"),
        ("env_config.randomization={parameters: [{name: m, targets: [{field: body_mass}], range: [1.5, 0.5]}]}",
         "range [1.5, 0.5] is empty or inverted"),
        ("env_config.randomization={parameters: [{name: m, targets: [{field: body_mass}], range: [0.5, 1.5], distribution: beta}]}",
         "unknown distribution 'beta'"),
        ("env_config.randomization=dactly", "unknown preset 'dactly' (did you mean 'dactyl'?)"),
        ("env_config.adr={queue_lenght: 3}", "env_config.adr.queue_lenght: unknown key (did you mean 'queue_length'?)"),
    ],
)
def test_bad_randomization_fails_before_ray_starts(tmp_path: Path, override: str, message: str) -> None:
    outcome = rapid("run", "jobs/shadow_hand_adr.yaml", "--set", override, "--set", f"storage_path={tmp_path}",
                    env={"RAY_ADDRESS": "127.0.0.1:9", "PATH": "/usr/bin:/bin"})
    assert outcome.returncode == 2, outcome.stderr
    assert message in outcome.stderr and "Traceback" not in outcome.stderr
    assert results_of(tmp_path, "shadow_hand_adr") == []
