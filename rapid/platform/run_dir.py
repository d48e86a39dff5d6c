"""A run's results folder, on local disk or any filesystem pyarrow understands (s3://, gs://).

Files are written whole or not at all: each goes to a temporary name first and is then
moved over the real one, so a crash never leaves half a parquet file or plot under the real
name (at worst a stray *.tmp file beside it). metrics.parquet is a folder of part files, one
per flush, that pyarrow and `read_metrics` read as one table.
"""

import io
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import yaml

from rapid.platform.errors import RapidError

METRICS = "metrics.parquet"
SPEC = "spec.yaml"
SUMMARY = "summary.json"
CHECKPOINTS = "checkpoints"
PLOTS = "plots"
TUNER_STATE = "tuner.pkl"  # Tune's own record, present once a run can be resumed


def uri_of(filesystem: pafs.FileSystem, path: str) -> str:
    """A path on a pyarrow filesystem as the URI a user (and RLlib) can open again."""
    if isinstance(filesystem, pafs.LocalFileSystem):
        return path
    scheme = {"gcs": "gs"}.get(filesystem.type_name, filesystem.type_name)
    return f"{scheme}://{path}"


def storage_uri(storage_path: str) -> str:
    """An absolute URI: local paths are made absolute from the current folder."""
    return storage_path if "://" in storage_path else str(Path(storage_path).expanduser().resolve())


class CurrentRows:
    """A run's rows as they stand. A trial restored from a checkpoint repeats the iterations after
    it: its rows from there on are dropped when the first repeat arrives, and the new ones win."""

    def __init__(self, written: list[dict[str, Any]] = ()) -> None:
        self.rows: list[dict[str, Any]] = []
        self._last: dict[Any, float] = {}
        for row in written:
            self.add(row)

    def add(self, row: dict[str, Any]) -> None:
        trial, iteration = row.get("trial_id"), row.get("iteration", 0)
        if iteration <= self._last.get(trial, 0):
            self.rows = [r for r in self.rows if r.get("trial_id") != trial or r.get("iteration", 0) < iteration]
        self._last[trial] = iteration
        self.rows.append(row)


class RunDir:
    """`<storage_path>/<job>/<timestamp>/`: spec, metrics.parquet, checkpoints/, plots/, summary.json."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        try:
            self.fs, self.root = pafs.FileSystem.from_uri(self.uri)
        except (pa.ArrowInvalid, OSError) as err:
            raise RapidError(f"storage_path '{uri}': pyarrow cannot open it: {err}") from None

    def __reduce__(self) -> tuple:
        return (RunDir, (self.uri,))

    @classmethod
    def new(cls, storage_path: str, job: str) -> "RunDir":
        """A fresh timestamped folder name (not created until the first write); two runs started
        in the same second get `_2`, `_3`, ..."""
        stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        run = cls(f"{storage_uri(storage_path)}/{job}/{stamp}")
        suffix = 1
        while run.exists():
            suffix += 1
            run = cls(f"{storage_uri(storage_path)}/{job}/{stamp}_{suffix}")
        return run

    @property
    def name(self) -> str:
        return self.uri.rsplit("/", 1)[-1]

    @property
    def parent(self) -> str:
        return self.uri.rsplit("/", 1)[0]

    def local_path(self) -> Path | None:
        """The folder on this machine, when it is on local disk."""
        return Path(self.root) if isinstance(self.fs, pafs.LocalFileSystem) else None

    def exists(self, relative: str = "") -> bool:
        path = f"{self.root}/{relative}" if relative else self.root
        return self.fs.get_file_info(path).type != pafs.FileType.NotFound

    def write_bytes(self, relative: str, data: bytes) -> None:
        """Write one file atomically (temporary name, then move)."""
        target = f"{self.root}/{relative}"
        self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        temporary = f"{target}.{uuid.uuid4().hex}.tmp"
        with self.fs.open_output_stream(temporary) as out:
            out.write(data)
        self.fs.move(temporary, target)

    def resumable(self) -> bool:
        """Tune wrote its tuner and its first experiment state: a run killed between the two (in
        its first seconds) has nothing Tune can restore, and starts afresh."""
        selector = pafs.FileSelector(self.root, allow_not_found=True)
        names = [info.base_name for info in self.fs.get_file_info(selector)]
        return TUNER_STATE in names and any(n.startswith("experiment_state-") and n.endswith(".json") for n in names)

    def read_bytes(self, relative: str) -> bytes:
        with self.fs.open_input_stream(f"{self.root}/{relative}") as src:
            return src.read()

    def write_yaml(self, relative: str, data: dict[str, Any]) -> None:
        self.write_bytes(relative, yaml.safe_dump(data, sort_keys=False).encode())

    def _parts(self) -> list[str]:
        """metrics.parquet/'s part files, in the order they were written. A run from before part files
        kept one metrics.parquet file: it becomes the first part, so such a run reads and resumes."""
        target = f"{self.root}/{METRICS}"
        moving = f"{target}.before-parts"  # two renames, each atomic: a kill between them loses nothing
        if self.fs.get_file_info(target).type == pafs.FileType.File:
            self.fs.move(target, moving)
        if self.fs.get_file_info(moving).type == pafs.FileType.File:
            self.fs.create_dir(target, recursive=True)
            self.fs.move(moving, f"{target}/part-000000.parquet")
        selector = pafs.FileSelector(target, allow_not_found=True)
        names = [info.base_name for info in self.fs.get_file_info(selector) if info.base_name.endswith(".parquet")]
        return sorted(names)

    def append_rows(self, rows: list[dict[str, Any]]) -> None:
        """Add one part file to metrics.parquet/: the rows since the last one. Nothing is rewritten,
        so it works where objects cannot be appended to (s3://), and a kill loses at most this part."""
        if not rows:
            return
        # Columns are the union over rows: a metric that first appears late (evaluation, a
        # workload metric after the first episode) is a column too, null where it was absent.
        columns = list(dict.fromkeys(key for row in rows for key in row))
        sink = io.BytesIO()
        pq.write_table(pa.Table.from_pydict({c: [row.get(c) for row in rows] for c in columns}), sink)
        parts = self._parts()
        number = int(parts[-1].split("-")[1].split(".")[0]) + 1 if parts else 0
        self.write_bytes(f"{METRICS}/part-{number:06d}.parquet", sink.getvalue())

    def current_rows(self) -> list[dict[str, Any]]:
        """The run's rows as they stand (`CurrentRows`): what plots, summaries and `rapid plot` read."""
        return CurrentRows(self.read_rows()).rows

    def read_rows(self) -> list[dict[str, Any]]:
        """Every row of metrics.parquet/, its parts in order (their columns unified), as written."""
        tables = [pq.read_table(f"{self.root}/{METRICS}/{part}", filesystem=self.fs) for part in self._parts()]
        return pa.concat_tables(tables, promote_options="permissive").to_pylist() if tables else []

    def checkpoints(self) -> list[str]:
        """Checkpoint folders of every trial, oldest first, as paths within this filesystem."""
        selector = pafs.FileSelector(self.root, recursive=True, allow_not_found=True)
        found = [
            info.path
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.Directory and info.base_name.startswith("checkpoint_")
        ]
        return sorted(found, key=lambda p: (p.rsplit("/", 1)[-1], p))


def read_metrics(run_dir: str | Path) -> dict[str, list[Any]]:
    """A run's metrics as columns (each row one trial iteration; a resumed trial's repeated
    iterations replaced by the newer ones), for scripts and notebooks."""
    rows = RunDir(storage_uri(str(run_dir))).current_rows()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return {c: [row.get(c) for row in rows] for c in columns}
