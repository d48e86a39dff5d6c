"""A real `ray start --head` with token auth: submit, logs, status, refused tokens, gauges, resources."""

import json
import os
import re
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import Head, free_port, rapid, results_of, wait_for_status, wait_until

from rapid.platform import prometheus


def submit_env(head: Head, home: Path, **extra: str) -> dict[str, str]:
    """A laptop client of `head`: no Ray variables, an empty home, plus what the test gives."""
    env = {k: v for k, v in head.env().items() if not k.startswith("RAY_")}
    return {**env, "HOME": str(home), **extra}


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_submit_reaches_succeeded_with_readable_logs(ray_head: Head, tmp_path: Path) -> None:
    # A stale RAY_ADDRESS must not win over --address (Ray's client would let it).
    env = submit_env(ray_head, tmp_path, RAY_AUTH_TOKEN=ray_head.token_file.read_text().strip(), RAY_ADDRESS="127.0.0.1:9")
    storage = tmp_path / "cluster_results"
    outcome = rapid("submit", "jobs/quickstart.yaml", "--profile", "smoke", "--set", f"storage_path={storage}",
                    "--address", ray_head.dashboard_url, env=env)
    assert outcome.returncode == 0, outcome.stderr
    job_id = re.search(r"submitted quickstart as (\S+)", outcome.stdout).group(1)
    assert "entrypoint: python -m rapid run jobs/quickstart.yaml --profile smoke --set storage_path=" in outcome.stdout
    # --follow streams the driver's output as it runs and returns when the job ends.
    followed = rapid("logs", job_id, "--follow", "--address", ray_head.dashboard_url, env=env)
    assert followed.returncode == 0, followed.stderr
    assert "[quickstart] iter" in followed.stdout and "quickstart: finished" in followed.stdout
    assert followed.stdout.rstrip().endswith(f"{job_id}: SUCCEEDED")
    logs = rapid("logs", job_id, "--address", ray_head.dashboard_url, env=env)
    assert logs.returncode == 0
    assert "quickstart: finished" in logs.stdout and "[quickstart] iter" in logs.stdout
    (run,) = results_of(storage, "quickstart")
    assert json.loads((run / "summary.json").read_text())["status"] == "finished"


def test_missing_token_is_refused_with_how_to_set_it(ray_head: Head, tmp_path: Path) -> None:
    outcome = rapid("submit", "jobs/quickstart.yaml", "--address", ray_head.dashboard_url, env=submit_env(ray_head, tmp_path))
    assert outcome.returncode == 2
    assert "uses token authentication and rapid found no token to send" in outcome.stderr
    assert "RAY_AUTH_TOKEN" in outcome.stderr and "ray get-auth-token" in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_wrong_token_is_refused(ray_head: Head, tmp_path: Path) -> None:
    env = submit_env(ray_head, tmp_path, RAY_AUTH_TOKEN="0" * 64)
    outcome = rapid("status", "raysubmit_none", "--address", ray_head.dashboard_url, env=env)
    assert outcome.returncode == 2
    assert "rejected the token from RAY_AUTH_TOKEN" in outcome.stderr


def test_unreachable_address(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAY_")}, "HOME": str(tmp_path)}
    outcome = rapid("submit", "jobs/quickstart.yaml", "--address", "http://127.0.0.1:9", env=env)
    assert outcome.returncode == 2
    assert "cannot reach a Ray dashboard at http://127.0.0.1:9" in outcome.stderr


def test_run_with_an_unreachable_ray_address(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAY_")}, "RAY_ADDRESS": "127.0.0.1:9"}
    outcome = rapid("run", "jobs/quickstart.yaml", "--set", f"storage_path={tmp_path}", env=env, timeout=120)
    assert outcome.returncode == 2, outcome.stderr
    assert "cannot join the Ray cluster at RAY_ADDRESS=127.0.0.1:9" in outcome.stderr
    assert results_of(tmp_path, "quickstart") == []


def test_unknown_job_id(ray_head: Head, tmp_path: Path) -> None:
    env = submit_env(ray_head, tmp_path, RAY_AUTH_TOKEN=ray_head.token_file.read_text().strip())
    outcome = rapid("logs", "raysubmit_nope", "--address", ray_head.dashboard_url, env=env)
    assert outcome.returncode == 2 and "raysubmit_nope" in outcome.stderr


def test_gauges_reach_the_prometheus_endpoint_and_stop_ends_the_job(ray_head: Head, tmp_path: Path) -> None:
    env = submit_env(ray_head, tmp_path, RAY_AUTH_TOKEN=ray_head.token_file.read_text().strip())
    outcome = rapid("submit", "jobs/quickstart.yaml", "--profile", "smoke", "--set", f"storage_path={tmp_path}",
                    "--set", "stop.env_steps=10000000", "--address", ray_head.dashboard_url, env=env)
    job_id = re.search(r"submitted quickstart as (\S+)", outcome.stdout).group(1)
    try:
        def gauges() -> str | None:
            text = scrape(ray_head.metrics_url)
            return text if "ray_rapid_env_steps_per_s{" in text else None

        text = wait_until(gauges, "no rapid gauges at the Prometheus endpoint", 120, every=2)
        for gauge in ("ray_rapid_env_steps{", "ray_rapid_env_steps_per_s{", "ray_rapid_episode_return_mean{"):
            assert gauge in text, gauge
        line = next(x for x in text.splitlines() if x.startswith("ray_rapid_env_steps{"))
        assert 'job_name="quickstart"' in line and float(line.rsplit(" ", 1)[1]) > 0
    finally:
        stopped = rapid("stop", job_id, "--address", ray_head.dashboard_url, env=env)
    assert stopped.returncode == 0 and "stop requested" in stopped.stdout
    assert wait_for_status(ray_head, job_id, env, seconds=90) == "STOPPED"
    # The driver stopped as after Ctrl-C: its summary says so, no SIGTERM dump.
    logs = rapid("logs", job_id, "--address", ray_head.dashboard_url, env=env).stdout
    assert "quickstart: stopped" in logs and "SIGTERM received" not in logs
    (run,) = results_of(tmp_path, "quickstart")
    assert json.loads((run / "summary.json").read_text())["status"] == "stopped"


def prometheus_values(url: str, query: str) -> dict[str, float]:
    """trial -> value of an instant query against a real Prometheus's HTTP API."""
    answer = json.loads(scrape(f"{url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"))
    assert answer["status"] == "success", answer
    return {r["metric"]["trial"]: float(r["value"][1]) for r in answer["data"]["result"]}


def test_a_sweeps_gauges_reach_the_prometheus_that_cluster_up_starts(ray_head: Head, tmp_path: Path) -> None:
    """The curve-replay sweep (a Tune trainable with no gauge code of its own) seen through
    Prometheus, started as `make cluster-up` starts it, on Ray's generated scrape config."""
    process, url = prometheus.start(ray_head.temp_dir, free_port(), tmp_path / "prometheus")
    env = submit_env(ray_head, tmp_path, RAY_AUTH_TOKEN=ray_head.token_file.read_text().strip())
    outcome = rapid("submit", "jobs/early_stop_replay.yaml", "--set", f"storage_path={tmp_path}",
                    "--address", ray_head.dashboard_url, env=env)
    job_id = re.search(r"submitted early_stop_replay as (\S+)", outcome.stdout).group(1)
    try:
        selector = '{job_name="early_stop_replay"}'
        accuracy = wait_until(lambda: prometheus_values(url, f"ray_rapid_val_accuracy{selector}"),
                              "no sweep gauges in Prometheus", 150, every=3)
        epochs = prometheus_values(url, f"ray_rapid_training_iteration{selector}")
    finally:
        rapid("stop", job_id, "--address", ray_head.dashboard_url, env=env)
        process.terminate()
        process.wait(30)
    assert all(0.0 <= value <= 1.0 for value in accuracy.values()), accuracy
    assert set(epochs) & set(accuracy) and all(1 <= value <= 20 for value in epochs.values()), epochs


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("resources.gpus_per_learner=1", "asks for 2 CPU, 1 GPU, but the Ray cluster has 2 CPU, 0 GPU in total"),
        ("resources.env_runners=6", "asks for 7 CPU, but the Ray cluster has 2 CPU, 0 GPU in total"),
    ],
)
def test_impossible_resources_are_refused_before_anything_is_written(ray_head: Head, tmp_path: Path, override: str, expected: str) -> None:
    outcome = rapid("run", "jobs/quickstart.yaml", "--set", override, "--set", f"storage_path={tmp_path}", env=ray_head.env())
    assert outcome.returncode == 2, outcome.stderr
    assert expected in outcome.stderr
    assert results_of(tmp_path, "quickstart") == []
