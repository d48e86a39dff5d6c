"""Start a Prometheus that scrapes a Ray cluster, from the config Ray itself generates.

The dashboard's metrics view and Grafana read Ray's metrics (rapid's `rapid_*` gauges among
them) from a Prometheus. At head start Ray writes `<temp dir>/session_latest/metrics/prometheus/prometheus.yml`,
whose file service discovery lists every node's metrics port as nodes join. `ray metrics
launch-prometheus` downloads a Prometheus, which an offline machine cannot: this runs the
system's (Debian's `prometheus` package) on Ray's config. `make cluster-up` calls it:

    python -m rapid.platform.prometheus --temp-dir /tmp/ray --port 9090 --data .ray-head/prometheus
"""

import argparse
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from rapid.platform.errors import RapidError

READY_S = 60.0


def ray_config(temp_dir: Path) -> Path:
    """The Prometheus config of the newest Ray session under `temp_dir` (a started head's)."""
    session = (temp_dir / "session_latest").resolve()
    config = session / "metrics" / "prometheus" / "prometheus.yml"
    if not config.is_file():
        raise RapidError(
            f"{temp_dir}: no Ray session with a Prometheus config ({config}); start the head first (make cluster-up)"
        )
    return config


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start(temp_dir: Path, port: int, data: Path, binary: str = "prometheus") -> tuple[subprocess.Popen, str]:
    """Start Prometheus on 127.0.0.1:`port`, storing under `data`, detached from this process
    (it outlives it); returns the process and its URL once it answers."""
    found = shutil.which(binary)
    if found is None:
        raise RapidError(
            f"no '{binary}' on PATH: install Prometheus (Debian: apt-get install --no-install-recommends prometheus)"
        )
    config = ray_config(temp_dir)
    data.mkdir(parents=True, exist_ok=True)
    log = open(data / "prometheus.log", "ab")
    process = subprocess.Popen(
        [found, f"--config.file={config}", f"--storage.tsdb.path={data}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_S
    while not _ready(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RapidError(f"Prometheus did not start on {url}; its log: {data / 'prometheus.log'}")
        time.sleep(0.5)
    return process, url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--temp-dir", type=Path, default=Path("/tmp/ray"), help="the head's Ray temp dir")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--data", type=Path, required=True, help="Prometheus's storage folder")
    parser.add_argument("--pid-file", type=Path, help="write Prometheus's PID here")
    args = parser.parse_args()
    try:
        process, url = start(args.temp_dir, args.port, args.data)
    except RapidError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(error.exit_status) from None
    if args.pid_file is not None:
        args.pid_file.write_text(f"{process.pid}\n")
    print(f"Prometheus up (PID {process.pid}): {url}, scraping the Ray cluster of {ray_config(args.temp_dir).parents[2]}")


if __name__ == "__main__":
    main()
