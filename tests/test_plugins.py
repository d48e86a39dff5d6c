"""Plug-ins: an outside package installed through the `rapid.plugins` entry point adds an env setting,
a callback and a learner loss term without a change to rapid; a clash stops rapid with a clear
error; a broken one is named and skipped; and none of rapid's core names a workload."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Head, embedded_env, rapid, results_of, rows, wait_for_status

PLUGINS = Path(__file__).parent / "plugins"
QUICK = ["jobs/quickstart.yaml", "--profile", "smoke", "--set", "stop={iterations: 2}"]


def pip_install(package: str, target: Path) -> Path:
    """`pip install --target`: a real install, entry points included, kept out of the venv."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(PLUGINS / package)],
        check=True, capture_output=True,
    )
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each test package installed into a folder of its own."""
    base = tmp_path_factory.mktemp("site")
    return {name: pip_install(name, base / name) for name in ("rapid_test_plugin", "rapid_clashing_plugin", "rapid_broken_plugin")}


def with_plugins(*folders: Path) -> dict[str, str]:
    return embedded_env(PYTHONPATH=os.pathsep.join(str(f) for f in folders))


def test_a_plugin_adds_an_env_setting_a_callback_and_a_loss_term(installed: dict[str, Path], tmp_path: Path) -> None:
    env = with_plugins(installed["rapid_test_plugin"])
    listed = rapid("list", env=env).stdout
    assert "reward_scale" in listed and "count_episodes" in listed and "l2_penalty" in listed
    outcome = rapid("run", *QUICK, "--set", "env_config={reward_scale: {factor: 0.0}}", "--set", "callbacks=[count_episodes]",
                    "--set", "l2_penalty={coeff: 0.01}", "--set", f"storage_path={tmp_path}", env=env)
    assert outcome.returncode == 0, outcome.stderr
    table = rows(results_of(tmp_path, "quickstart")[0])
    assert set(table["episode_return_mean"]) == {0.0}, "the plug-in's wrapper scaled every reward to 0"
    assert all(n > 0 for n in table["env_runners/plugin/episodes"]), "the plug-in's callback counted episodes"
    assert all(v > 0 for v in table["learners/default_policy/l2_penalty"]), "the plug-in's loss term reached the learner"


def test_a_plugin_setting_with_a_typo_names_the_key_and_the_closest_one(installed: dict[str, Path], tmp_path: Path) -> None:
    outcome = rapid("run", *QUICK, "--set", "env_config={reward_scale: {factr: 2.0}}", "--set", f"storage_path={tmp_path}",
                    env=with_plugins(installed["rapid_test_plugin"]))
    assert outcome.returncode == 2, outcome.stderr
    assert outcome.stderr.startswith("rapid: error: jobs/quickstart.yaml: job 'quickstart': env_config.reward_scale.")
    assert "env_config.reward_scale.factr: unknown key (did you mean 'factor'?)" in outcome.stderr
    assert not any(tmp_path.iterdir())


def test_a_loss_term_is_refused_where_the_learner_would_ignore_it(installed: dict[str, Path], tmp_path: Path) -> None:
    outcome = rapid("run", "jobs/fetch_reach_her.yaml", "--profile", "smoke", "--set", "l2_penalty={coeff: 0.01}",
                    "--set", f"storage_path={tmp_path}", env=with_plugins(installed["rapid_test_plugin"]))
    assert outcome.returncode == 2, outcome.stderr
    assert "loss terms (l2_penalty) need a learner that minimizes the one loss of compute_loss_for_module" in outcome.stderr
    assert not any(tmp_path.iterdir())


def test_without_the_plugin_its_setting_is_refused(tmp_path: Path) -> None:
    outcome = rapid("run", *QUICK, "--set", "l2_penalty={coeff: 0.01}", "--set", f"storage_path={tmp_path}", env=embedded_env())
    assert outcome.returncode == 2
    assert "l2_penalty: unknown key" in outcome.stderr


def test_two_plugins_claiming_one_key_stop_rapid_before_ray(installed: dict[str, Path], tmp_path: Path) -> None:
    outcome = rapid("run", *QUICK, "--set", f"storage_path={tmp_path}", env=with_plugins(installed["rapid_clashing_plugin"]))
    assert outcome.returncode == 2, outcome.stderr
    assert "rapid: error: wrapper 'randomization' is registered twice: by rapid (rapid.envs) and by plug-in 'clashing_plugin'" in outcome.stderr
    assert "package rapid-clashing-plugin 0.1.0" in outcome.stderr and "Traceback" not in outcome.stderr
    assert not any(tmp_path.iterdir())


def test_a_broken_plugin_is_named_and_the_others_stay_usable(installed: dict[str, Path]) -> None:
    env = with_plugins(installed["rapid_broken_plugin"], installed["rapid_test_plugin"])
    listed = rapid("list", env=env)
    assert listed.returncode == 0
    assert "plug-in 'broken_plugin' (package rapid-broken-plugin 0.1.0" in listed.stderr
    assert "ModuleNotFoundError: No module named 'a_module_nobody_installed'" in listed.stderr
    assert "reward_scale" in listed.stdout and "InvertedDoublePendulum-v5" in listed.stdout
    checked = rapid("validate", "jobs/quickstart.yaml", env=env)
    assert checked.returncode == 0, checked.stderr


def test_the_platform_names_no_workload() -> None:
    found = subprocess.run(
        ["git", "grep", "-nwiE", "her|adr|hindsight|HindsightSAC|dactyl|random_actions|hide_and_seek|rusp|crafter|minecraft|vpt",
         "rapid/platform/"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert found.returncode == 1 and found.stdout == "", found.stdout


def test_a_plugin_wheel_travels_with_a_submitted_job(ray_head: Head, installed: dict[str, Path], tmp_path: Path) -> None:
    """`rapid submit --wheel`: the head has no plug-in installed; Ray's py_modules installs it for the job."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", str(tmp_path / "wheels"), str(PLUGINS / "rapid_test_plugin")],
        check=True, capture_output=True,
    )
    (wheel,) = (tmp_path / "wheels").glob("*.whl")
    # The laptop has the plug-in too: it validates the spec before anything travels.
    env = {**{k: v for k, v in ray_head.env().items() if not k.startswith("RAY_")}, "HOME": str(tmp_path),
           "RAY_AUTH_TOKEN": ray_head.token_file.read_text().strip(), "PYTHONPATH": str(installed["rapid_test_plugin"])}
    storage = tmp_path / "cluster_results"
    outcome = rapid("submit", *QUICK, "--set", "env_config={reward_scale: {factor: 0.0}}", "--set", "callbacks=[count_episodes]",
                    "--set", f"storage_path={storage}", "--address", ray_head.dashboard_url, "--wheel", str(wheel), env=env)
    assert outcome.returncode == 0, outcome.stderr
    job_id = re.search(r"submitted quickstart as (\S+)", outcome.stdout).group(1)
    assert wait_for_status(ray_head, job_id, env) == "SUCCEEDED", rapid("logs", job_id, "--address", ray_head.dashboard_url, env=env).stdout
    table = rows(results_of(storage, "quickstart")[0])
    assert set(table["episode_return_mean"]) == {0.0} and all(n > 0 for n in table["env_runners/plugin/episodes"])


def test_submit_refuses_what_is_not_a_wheel(tmp_path: Path) -> None:
    outcome = rapid("submit", "jobs/quickstart.yaml", "--wheel", "tests/plugins/rapid_test_plugin", "--address", "http://127.0.0.1:9",
                    env=embedded_env())
    assert outcome.returncode == 2
    assert "--wheel tests/plugins/rapid_test_plugin: expected a wheel file (.whl)" in outcome.stderr
