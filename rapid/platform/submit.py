"""`rapid submit|status|logs|stop`: Ray's Jobs API, with the repository as the job's working_dir.

The entrypoint is `python -m rapid run <spec> ...`, exactly what `ray job submit
--working-dir . -- python -m rapid run <spec>` runs, so either way gives the same job.
Token authentication follows Ray's own conventions: the token comes from RAY_AUTH_TOKEN,
the file named by RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token (Ray's loader reads them), and
RAY_AUTH_MODE=disabled sends none.
"""

import asyncio
import logging
import os
import shlex
from pathlib import Path
from typing import Any

from ray.exceptions import AuthenticationError
from ray.job_submission import JobSubmissionClient

import rapid
from rapid.platform.errors import RapidError
from rapid.platform.spec_file import LoadedSpec

DEFAULT_ADDRESS = "http://127.0.0.1:8265"
# Uploaded with the job: the code and specs. Ray already leaves out .git/, .venv/ and what
# .gitignore names; these keep results out even where a checkout's .gitignore does not.
EXCLUDES = ["results/", "**/__pycache__/", ".ray-head/", "*.mp4"]
HOW_TO_SET_TOKEN = (
    "On the head node `ray get-auth-token` prints the cluster's token; give it as "
    "RAY_AUTH_TOKEN=<token>, or in a file named by RAY_AUTH_TOKEN_PATH, or in ~/.ray/auth_token, "
    "and set RAY_AUTH_MODE=token too: the plain `ray job` commands send no token without it."
)


# `rapid stop` gives the driver this long to stop Tune and write the summary (Ray's default: 3 s).
STOP_GRACE = {"RAY_JOB_STOP_WAIT_TIME_S": "60"}


def _quiet_upload_logs() -> None:
    """Ray's SDK logs every packaging step at INFO; rapid prints what was submitted itself."""
    for name in ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging",
                 "ray._private.runtime_env.working_dir"):
        logging.getLogger(name).setLevel(logging.ERROR)


def resolve_address(address: str | None) -> str:
    """The dashboard address: --address, else Ray's own variables, else the local head.

    Ray's client lets RAY_API_SERVER_ADDRESS and RAY_ADDRESS override the address it is
    given, so an explicit --address clears them in this (short-lived) process.
    """
    if address:
        os.environ.pop("RAY_API_SERVER_ADDRESS", None)
        os.environ.pop("RAY_ADDRESS", None)
        return address
    return os.environ.get("RAY_API_SERVER_ADDRESS") or os.environ.get("RAY_ADDRESS") or DEFAULT_ADDRESS


def _token_source() -> str:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return f"the file {os.environ['RAY_AUTH_TOKEN_PATH']} (RAY_AUTH_TOKEN_PATH)"
    return "~/.ray/auth_token"


def auth_headers() -> dict[str, str]:
    """An Authorization header with the token Ray's loader finds, unless RAY_AUTH_MODE=disabled."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
        return {}
    from ray._raylet import AuthenticationTokenLoader

    return dict(AuthenticationTokenLoader.instance().get_token_for_http_header(ignore_auth_mode=True))


def _auth_error(url: str, sent: bool) -> RapidError:
    if not sent:
        return RapidError(
            f"the Ray cluster at {url} uses token authentication and rapid found no token to send. {HOW_TO_SET_TOKEN}"
        )
    return RapidError(
        f"the Ray cluster at {url} rejected the token from {_token_source()}: it is not this cluster's token. "
        f"{HOW_TO_SET_TOKEN}"
    )


class Cluster:
    """A Jobs API client whose every failure is a RapidError a person can act on."""

    def __init__(self, address: str | None) -> None:
        self.url = resolve_address(address)
        self.headers = auth_headers()
        self.client: JobSubmissionClient = self.call(lambda: JobSubmissionClient(self.url, headers=self.headers))

    def call(self, action: Any) -> Any:
        try:
            return action()
        except AuthenticationError:
            raise _auth_error(self.url, bool(self.headers)) from None
        except ConnectionError as err:
            raise RapidError(
                f"cannot reach a Ray dashboard at {self.url} ({err.__class__.__name__}). Is the cluster up "
                "(`make cluster-up` for a local one) and is this its dashboard address (port 8265 by default)?"
            ) from None
        except RuntimeError as err:
            if "does not exist" in str(err) or "404" in str(err):
                raise RapidError(f"{self.url}: {err}") from None
            if "No available agent" in str(err):
                raise RapidError(
                    f"{self.url}: the head's dashboard agent, which runs submitted jobs, is not up. A head that just "
                    "started needs a few seconds; if it persists, its agent port (--dashboard-agent-listen-port, "
                    "52365 by default) is taken by another Ray on that machine"
                ) from None
            raise


def repository_root() -> Path:
    """The checkout that holds the `rapid` package: it becomes the job's working_dir."""
    root = Path(rapid.__file__).resolve().parent.parent
    if not (root / "pyproject.toml").is_file():
        raise RapidError(f"rapid is installed at {root}, not in a checkout: `rapid submit` uploads the repository")
    return root


def entrypoint(loaded: LoadedSpec, root: Path) -> str:
    """`python -m rapid run <spec relative to the repository> [--profile P] [--set K=V]...`."""
    spec = loaded.path.resolve()
    if not spec.is_relative_to(root):
        raise RapidError(f"{loaded.path}: the spec must be inside the repository ({root}) to travel with the job")
    args = ["python", "-m", "rapid", "run", str(spec.relative_to(root))]
    if loaded.profile:
        args += ["--profile", loaded.profile]
    for override in loaded.overrides:
        args += ["--set", override]
    return shlex.join(args)


def plugin_wheels(paths: list[str]) -> list[str]:
    """Wheels to ship with the job, checked: Ray's py_modules installs each on every node it runs on,
    entry points included, so the rapid plug-ins in them register in every process of the job."""
    wheels = []
    for path in paths:
        wheel = Path(path).resolve()
        if wheel.suffix != ".whl" or not wheel.is_file():
            raise RapidError(f"--wheel {path}: expected a wheel file (.whl), e.g. from `pip wheel --no-deps <package>`")
        wheels.append(str(wheel))
    return wheels


def submit(loaded: LoadedSpec, address: str | None, follow: bool = False, wheels: list[str] | None = None) -> str:
    """Submit the spec (validated already) with the plug-in `wheels`, and print the job id and how to watch it."""
    root = repository_root()
    command = entrypoint(loaded, root)
    runtime_env: dict[str, Any] = {"working_dir": str(root), "excludes": EXCLUDES, "env_vars": STOP_GRACE}
    if wheels:
        runtime_env["py_modules"] = plugin_wheels(wheels)
    _quiet_upload_logs()
    cluster = Cluster(address)
    job_id = cluster.call(
        lambda: cluster.client.submit_job(entrypoint=command, runtime_env=runtime_env, metadata={"rapid_job": loaded.job.name})
    )
    print(f"submitted {loaded.job.name} as {job_id} to {cluster.url}")
    print(f"  entrypoint: {command}")
    if "://" not in loaded.job.storage_path and not Path(loaded.job.storage_path).is_absolute():
        print(f"  results: {loaded.job.storage_path}/ inside the job's working_dir on the cluster; set storage_path "
              "to a shared path or a cloud URI to keep them")
    print(f"  watch: rapid logs {job_id} --follow   (dashboard: {cluster.url})")
    if follow:
        job_logs(job_id, address, follow=True)
    return job_id


def job_status(job_id: str, address: str | None) -> str:
    cluster = Cluster(address)
    info = cluster.call(lambda: cluster.client.get_job_info(job_id))
    return f"{job_id}: {info.status}" + (f" ({info.message})" if info.message else "")


def job_logs(job_id: str, address: str | None, follow: bool = False) -> None:
    """Print the job's output; with `follow`, stream it (the Jobs API's websocket) until the job ends."""
    cluster = Cluster(address)
    if not follow:
        print(cluster.call(lambda: cluster.client.get_job_logs(job_id)), end="", flush=True)
        return
    # An unknown job or a refused token is reported plainly here, before the stream opens.
    cluster.call(lambda: cluster.client.get_job_status(job_id))

    async def stream() -> None:
        async for lines in cluster.client.tail_job_logs(job_id):
            print(lines, end="", flush=True)

    cluster.call(lambda: asyncio.run(stream()))
    print(f"\n{job_id}: {cluster.call(lambda: cluster.client.get_job_status(job_id))}")


def stop_job(job_id: str, address: str | None) -> None:
    cluster = Cluster(address)
    if cluster.call(lambda: cluster.client.stop_job(job_id)):
        print(f"{job_id}: stop requested")
    else:
        print(f"{job_id}: already ended ({cluster.call(lambda: cluster.client.get_job_status(job_id))})")
