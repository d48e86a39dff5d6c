"""The columnar datasets data stages write: a folder of parquet shards, on local disk or any
filesystem pyarrow understands, that Ray Data (`ray.data.read_parquet`) and pyarrow read as one table.

Each shard is written whole or not at all (RunDir's temporary name, then a move), so a killed
stage leaves only finished shards, and a resumed one writes only those it lacks.
"""

import io

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from rapid.platform.run_dir import RunDir, storage_uri

DATASET = "dataset"
PREFIX, SUFFIX = "part-", ".parquet"


class Dataset:
    """`<run>/dataset/`: `part-<name>.parquet` shards."""

    def __init__(self, uri: str) -> None:
        self.dir = RunDir(storage_uri(uri))  # a relative path is taken from the current folder
        self.uri = self.dir.uri

    def shards(self) -> list[str]:
        """The names of the shards written so far, sorted."""
        selector = pafs.FileSelector(self.dir.root, allow_not_found=True)
        files = [info.base_name for info in self.dir.fs.get_file_info(selector)]
        return sorted(name[len(PREFIX):-len(SUFFIX)] for name in files if name.startswith(PREFIX) and name.endswith(SUFFIX))

    def write_shard(self, name: str, table: pa.Table) -> None:
        sink = io.BytesIO()
        pq.write_table(table, sink)
        self.dir.write_bytes(f"{PREFIX}{name}{SUFFIX}", sink.getvalue())

    def _path(self, name: str) -> str:
        return f"{self.dir.root}/{PREFIX}{name}{SUFFIX}"

    def read_shard(self, name: str, columns: list[str] | None = None) -> pa.Table:
        return pq.read_table(self._path(name), filesystem=self.dir.fs, columns=columns)

    def read_table(self, columns: list[str] | None = None) -> pa.Table:
        """The whole dataset in this process (small datasets, tests); Ray Data reads it in parallel."""
        tables = [self.read_shard(name, columns) for name in self.shards()]
        if not tables:
            raise FileNotFoundError(f"{self.uri}: no parquet shards (part-*.parquet)")
        return pa.concat_tables(tables, promote_options="permissive")

    def clear(self) -> None:
        """Remove every shard: a transform that cannot resume shard by shard starts afresh."""
        if self.dir.exists():
            self.dir.fs.delete_dir_contents(self.dir.root)
