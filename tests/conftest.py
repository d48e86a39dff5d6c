"""Shared fixtures: the `rapid` CLI as a user runs it, and one real Ray head for the whole session.

The head is a real `ray start --head` with the dashboard, the Jobs API, a Prometheus
endpoint and token authentication on (a token made by Ray's own CLI). Tests that train join
it through RAY_ADDRESS, so the suite starts Ray once instead of once per run.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import ray
import torch

from rapid.platform.run_dir import read_metrics

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Head:
    """A running Ray head and what a client needs to use it."""

    gcs_address: str
    dashboard_url: str
    metrics_url: str
    token_file: Path
    process: subprocess.Popen
    temp_dir: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment of a client that joins this cluster with its token."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
        env.update(RAY_ADDRESS=self.gcs_address, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(self.token_file))
        env.update(extra)
        return env


T = TypeVar("T")


def wait_until(condition: Callable[[], T], what: str, seconds: float, driver: subprocess.Popen | None = None, every: float = 0.5) -> T:
    """The first truthy value of `condition`, polled every `every` s; fails when the driver exits first."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        if driver is not None:
            assert driver.poll() is None, driver.communicate()
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"{what} within {seconds} s")


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True  # answering (401 without a token) is up
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Head]:
    """`ray start --head --block` with token auth, stopped at the end by its PID."""
    home = tmp_path_factory.mktemp("head_home")
    subprocess.run(
        [str(VENV_BIN / "ray"), "get-auth-token", "--generate"],
        env={**os.environ, "HOME": str(home)}, check=True, capture_output=True,
    )
    token_file = home / ".ray" / "auth_token"
    # Every port free, the dashboard agent's too: its default (52365) is taken by whichever Ray
    # on the machine started first, and a head without its agent accepts no jobs. Its own temp
    # dir too: a job's supervisor finds "its" cluster through the temp dir's newest address, and
    # /tmp/ray is shared with every other Ray on the machine. (Short: Ray's sockets live there.)
    port, dashboard, metrics, agent = free_port(), free_port(), free_port(), free_port()
    temp_dir = tempfile.mkdtemp(prefix="rayhead-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    # The job's `python -m rapid` must be this environment's Python, as on a cluster image.
    env.update(PATH=f"{VENV_BIN}:{env['PATH']}", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file))
    log = open(home / "head.log", "w")
    process = subprocess.Popen(
        [str(VENV_BIN / "ray"), "start", "--head", "--block", f"--port={port}", "--dashboard-host=127.0.0.1",
         f"--dashboard-port={dashboard}", f"--metrics-export-port={metrics}", f"--dashboard-agent-listen-port={agent}",
         f"--temp-dir={temp_dir}", "--num-cpus=2", "--include-dashboard=true"],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=home,
    )
    head = Head(f"127.0.0.1:{port}", f"http://127.0.0.1:{dashboard}", f"http://127.0.0.1:{metrics}/metrics", token_file, process, Path(temp_dir))
    try:
        url = f"{head.dashboard_url}/api/version"
        wait_until(lambda: _answers(url), f"no answer from {url}", 90)
        yield head
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


@dataclass
class Outcome:
    returncode: int
    stdout: str
    stderr: str


def rapid(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT, timeout: float = 300) -> Outcome:
    """Run `python -m rapid ARGS` as a user would, from the repository root."""
    done = subprocess.run(
        [sys.executable, "-m", "rapid", *args], capture_output=True, text=True, env=env or dict(os.environ),
        cwd=cwd, timeout=timeout,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


def wait_for_status(head: Head, job_id: str, env: dict[str, str], seconds: float = 240) -> str:
    """A submitted job's final status (SUCCEEDED, FAILED or STOPPED), asked with `rapid status`."""

    def finished() -> str | None:
        outcome = rapid("status", job_id, "--address", head.dashboard_url, env=env)
        assert outcome.returncode == 0, outcome.stderr
        status = outcome.stdout.split(":", 1)[1].split()[0]
        return status if status in ("SUCCEEDED", "FAILED", "STOPPED") else None

    return wait_until(finished, f"job {job_id} still running", seconds, every=2)


def embedded_env(**extra: str) -> dict[str, str]:
    """A client that starts its own embedded Ray (RAY_ADDRESS=local), as on a laptop."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_ADDRESS="local", **extra)
    return env


def results_of(storage: Path, job: str) -> list[Path]:
    """Run folders a job left under a storage path (none when nothing was written)."""
    folder = storage / job
    return sorted(folder.iterdir()) if folder.is_dir() else []



def rows(run: Path) -> dict[str, list]:
    """A run's metrics.parquet as columns."""

    return read_metrics(run)


def start_run(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    """`rapid run ARGS` in a process group of its own, as a terminal runs a command."""
    return subprocess.Popen([sys.executable, "-m", "rapid", "run", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def step_after_restore(trainable: type, config: dict, folder: Path) -> tuple[dict, dict]:
    """A Tune trainable's second step, taken on from its first (uninterrupted) and by a fresh one
    restored from the checkpoint saved after the first: a resumed trial should take the same step."""
    first = trainable(config=config)
    first.train()
    checkpoint = first.save(str(folder)).checkpoint.path
    going_on = first.train()
    resumed = trainable(config=config)
    resumed.restore(checkpoint)
    again = resumed.train()
    first.stop()
    resumed.stop()
    return going_on, again


def killed_smoke_pipeline(job_file: str, stage: str, storage: Path, env: dict[str, str]) -> Path:
    """Run a pipeline's smoke profile as a user would and SIGKILL its driver once `stage` has
    finished, as a crash would; returns the run folder (the job is named after its file)."""
    driver = start_run([str(ROOT / job_file), "--profile", "smoke", "--set", f"storage_path={storage}"], env)
    run = wait_until(lambda: next(iter(results_of(storage, Path(job_file).stem)), None), "no run folder", 120, driver)
    wait_until(lambda: (run / stage / "summary.json").exists(), f"the {stage} stage did not finish", 240, driver)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    return run


def wait_for_checkpoints(storage: Path, job: str, count: int, driver: subprocess.Popen, seconds: float = 240) -> Path:
    """The run folder once it holds `count` checkpoints (the driver must keep running)."""

    def run() -> Path | None:
        runs = results_of(storage, job)
        return runs[0] if runs and len(list((runs[0] / "checkpoints").glob("checkpoint_*"))) >= count else None

    return wait_until(run, f"no {count} checkpoints", seconds, driver)


def recorded_checkpoint(run: Path) -> str:
    """The newest checkpoint that Tune's experiment state in the run folder records, the one a
    resume restores from ("" before there is one, or while Tune is copying the state in)."""
    from ray.tune.experiment import Trial

    try:
        ((trial_state, run_metadata),) = json.loads(max(run.glob("experiment_state-*.json")).read_text())["trial_data"]
    except ValueError:
        return ""
    trial = Trial.from_json_state(trial_state, stub=True)
    trial.restore_run_metadata(run_metadata)
    return Path(trial.checkpoint.path).name if trial.checkpoint else ""


def wait_for_recorded_checkpoint(run: Path, driver: subprocess.Popen) -> None:
    """Until Tune's experiment state records the newest checkpoint on disk: a SIGKILL from then on
    leaves a run that resumes from it."""
    newest = max(path.name for path in (run / "checkpoints").glob("checkpoint_*"))
    wait_until(lambda: recorded_checkpoint(run) >= newest, f"Tune's experiment state records no {newest}", 60, driver)


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny models run far faster on one thread than on two busy cores (2 ms against 59 ms a step
    for the entity-attention test's); a module opts in with `pytestmark`."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def local_ray() -> Iterator[None]:
    """A private embedded Ray for a test that builds an Algorithm in-process."""
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    try:
        yield
    finally:
        ray.shutdown()
