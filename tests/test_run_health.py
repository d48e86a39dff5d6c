"""A failed run never says finished: crashing env runners, a NaN loss and diverging physics end
with the right status, reason and exit code; a stopped run says `stopped` and can resume."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import embedded_env, rapid, results_of, rows, start_run, wait_for_checkpoints
from pettingzoo.test import parallel_api_test

from rapid.envs.physics_guard import SIM_UNSTABLE, ParallelPhysicsGuard, guard
from rapid.platform.env_stack import make_env
from rapid.platform.run_health import ERROR, STALLED, RunHealth
from rapid.platform.spec_parts import Health

PLUGINS = Path(__file__).parent / "plugins"
SMOKE = ["jobs/quickstart.yaml", "--profile", "smoke"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_health_rules_stall_restarts_and_nonfinite() -> None:
    clock = Clock()
    health = RunHealth(Health(stall_after_s=300, max_runner_restarts=3, restart_window_s=600), clock)
    assert health.judge(100, 0, [], []) is None
    clock.now = 299
    assert health.judge(100, 0, [], []) is None
    clock.now = 301
    assert health.judge(100, 0, [], []).status == STALLED
    clock.now = 302
    assert health.judge(200, 0, [], []) is None  # sampling again
    clock.now = 400
    assert health.judge(300, 3, [], []) is None  # three restarts are tolerated ...
    clock.now = 1100
    assert health.judge(400, 4, [], []) is None  # ... and forgotten after the window
    clock.now = 1101
    verdict = health.judge(500, 8, [], [])  # the one at 1100 and four more
    assert verdict.status == ERROR and "restarted 5 times within 600 s" in verdict.reason
    assert health.judge(600, 8, ["learners/default_policy/total_loss = nan"], []).status == ERROR


def test_nan_learner_figures_of_an_iteration_that_sampled_nothing_are_not_a_divergence() -> None:
    health, nan_loss = RunHealth(Health()), ["learners/default_policy/total_loss = nan"]
    assert health.judge(100, 0, [], []) is None
    assert health.judge(100, 0, nan_loss, []) is None  # nothing sampled, nothing trained: NaN means of no batches
    assert health.judge(200, 0, nan_loss, []).status == ERROR
    assert health.judge(200, 0, [], ["weights of default_policy"]).status == ERROR  # weights count regardless


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' plug-in package (its crash_at_reset wrapper and nan_loss section), really installed."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(PLUGINS / "rapid_test_plugin")],
        check=True, capture_output=True,
    )
    return target


def _failed_run(args: list[str], plugin: Path, storage: Path) -> tuple[dict, str]:
    outcome = rapid("run", *SMOKE, *args, "--set", f"storage_path={storage}", "--set", "stop={iterations: 40}",
                    env=embedded_env(PYTHONPATH=str(plugin)), timeout=400)
    (run,) = results_of(storage, "quickstart")
    summary = json.loads((run / "summary.json").read_text())
    assert outcome.returncode == 1, outcome.stderr[-3000:]
    assert summary["status"] == ERROR and "Traceback" not in outcome.stdout
    assert "quickstart: error" in outcome.stdout and f"reason: {summary['reason']}" in outcome.stdout
    return summary, outcome.stdout


@pytest.mark.slow  # 3 min in CI (RLlib restarts a runner about once a minute); the restart rule's own test stays
def test_runners_that_crash_at_every_reset_end_the_run_as_an_error(plugin: Path, tmp_path: Path) -> None:
    # RLlib restarts a crashed runner about once a minute here: allow none, not the default 3 in 10 minutes.
    summary, _ = _failed_run(["--set", "env_config.crash_at_reset={}", "--set", "health.max_runner_restarts=0"], plugin, tmp_path)
    assert "EnvRunners were restarted 1 time within 600 s (health.max_runner_restarts: 0)" in summary["reason"]
    assert summary["env_steps"] == 0 and summary["iterations"] < 40


def test_a_loss_that_turns_nan_ends_the_run_as_an_error(plugin: Path, tmp_path: Path) -> None:
    summary, _ = _failed_run(["--set", "nan_loss={after_updates: 2}"], plugin, tmp_path)
    assert "non-finite training values" in summary["reason"] and "nan" in summary["reason"]
    assert summary["iterations"] < 40


DIVERGING = (
    "env_config.randomization={parameters: [{name: gear, targets: [{field: actuator_gear, column: 0}], range: [1e9, 2e9]}]}"
)


def test_diverging_physics_is_counted_never_rewarded_and_named_in_the_summary(tmp_path: Path) -> None:
    outcome = rapid("run", *SMOKE, "--set", DIVERGING, "--set", f"storage_path={tmp_path}", "--set", "stop={iterations: 2}",
                    env=embedded_env())
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    (run,) = results_of(tmp_path, "quickstart")
    summary, columns = json.loads((run / "summary.json").read_text()), rows(run)
    assert summary["status"] == "finished"
    assert "episodes reported sim_unstable" in summary["warning"] and "warning:" in outcome.stdout
    assert sum(columns["env_runners/sim_unstable"]) == sum(columns["env_runners/num_episodes"]) > 0
    # Every episode ends at its first step with no reward (unguarded, the reset pendulum scores ~9 a step).
    assert max(columns["episode_return_mean"]) == 0.0
    assert (run / "plots").is_dir()


def test_the_guard_wraps_gymnasium_mujoco_envs_only() -> None:
    env = make_env("InvertedDoublePendulum-v5", {})
    env.reset(seed=0)
    env.unwrapped.model.opt.timestep = 400.0
    _, reward, terminated, truncated, info = env.step(env.action_space.sample())
    assert (reward, terminated, truncated, info[SIM_UNSTABLE]) == (0.0, False, True, True)
    assert type(make_env("InvertedDoublePendulum-v5", {"physics_guard": None})).__name__ == "TimeLimit"
    assert type(make_env("CartPole-v1", {})).__name__ != "PhysicsGuard"


def _two_sliders() -> type:
    """The plug-in's TwoSliders env, loaded from its file (importing the package would register its plug-ins here)."""
    path = PLUGINS / "rapid_test_plugin" / "rapid_test_plugin" / "sliders.py"
    spec = importlib.util.spec_from_file_location("two_sliders", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TwoSliders


def test_the_guard_ends_a_pettingzoo_mujoco_episode_for_every_agent() -> None:
    env = guard(_two_sliders()(), None, None)
    assert isinstance(env, ParallelPhysicsGuard)
    parallel_api_test(env, num_cycles=20)
    env.reset(seed=0)
    env.unwrapped.model.opt.timestep = 1e6
    env.unwrapped.model.actuator_gear[:, 0] = 1e12
    _, rewards, terminated, truncated, infos = env.step({"a": np.ones(1), "b": np.ones(1)})
    assert rewards == {"a": 0.0, "b": 0.0} and truncated == {"a": True, "b": True}
    assert not any(terminated.values()) and all(info[SIM_UNSTABLE] for info in infos.values())
    assert env.agents == []


def test_sigterm_stops_the_run_with_a_summary_it_can_resume_from(tmp_path: Path) -> None:
    """What `rapid stop` (Ray's job stop: SIGTERM to the driver) does to a run."""
    args = [*SMOKE, "--set", f"storage_path={tmp_path}", "--set", "stop.env_steps=100000", "--set", "checkpoint.every=1"]
    driver = start_run(args, embedded_env())
    run = wait_for_checkpoints(tmp_path, "quickstart", 1, driver)
    os.kill(driver.pid, signal.SIGTERM)
    stdout, stderr = driver.communicate(timeout=120)
    assert driver.returncode == 130, stderr[-3000:]
    assert "quickstart: stopped" in stdout and f"Resume with: rapid run --resume {run}" in stdout
    assert "Traceback" not in stderr
    assert json.loads((run / "summary.json").read_text())["status"] == "stopped"


MULTI_AGENT_DIVERGING = """\
kind: rllib
name: sliders
algorithm: PPO
env: two_sliders
env_config: {gear: 1.0e+12}
multi_agent:
  policies: {pusher: {}}
  policy_mapping: {"*": pusher}
training: {train_batch_size_per_learner: 64, minibatch_size: 32, num_epochs: 1}
resources: {env_runners: 0}
stop: {iterations: 1}
"""


def test_diverging_multi_agent_physics_is_counted_per_episode(plugin: Path, tmp_path: Path) -> None:
    spec = tmp_path / "sliders.yaml"
    spec.write_text(MULTI_AGENT_DIVERGING)
    outcome = rapid("run", str(spec), "--set", f"storage_path={tmp_path}", env=embedded_env(PYTHONPATH=str(plugin)))
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    (run,) = results_of(tmp_path, "sliders")
    columns = rows(run)
    assert sum(columns["env_runners/sim_unstable"]) == sum(columns["env_runners/num_episodes"]) >= 64
    assert max(columns["episode_return_mean"]) == 0.0
    assert "episodes reported sim_unstable" in json.loads((run / "summary.json").read_text())["warning"]
