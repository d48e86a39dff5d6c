"""One cache of finished artifacts (trained models' results, label sets), so that no model is
trained twice: not by two trials that need the same weak model, not on `--resume`.

An artifact lives in <root>/<kind>/<key>/, its key a hash of everything that determines it (the
`spec` dict, saved beside it as spec.json). It is written in a temporary folder and renamed into
place, so a folder that exists is complete; two trials that race to make the same artifact both
finish, and the first rename wins. The root must be a folder every trial can reach (on a cluster,
shared storage).
"""

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPEC = "spec.json"


class Cache:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, kind: str, spec: dict[str, Any]) -> Path:
        digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]
        return self.root / kind / digest

    def get(self, kind: str, spec: dict[str, Any]) -> Path | None:
        path = self.path(kind, spec)
        return path if path.exists() else None

    def make(self, kind: str, spec: dict[str, Any], write: Callable[[Path], None]) -> Path:
        """The artifact's folder; `write(folder)` makes it when it is not cached yet."""
        path = self.path(kind, spec)
        if not path.exists():

            def with_spec(folder: Path) -> None:
                write(folder)
                (folder / SPEC).write_text(json.dumps(spec, indent=1, sort_keys=True))

            write_folder(path, with_spec)
        return path


def write_folder(path: Path, write: Callable[[Path], None]) -> None:
    """`write(folder)` into a temporary folder beside `path`, then a rename: `path` appears whole or
    not at all. When another process renamed its own first, theirs stays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        write(staging)
        os.replace(staging, path)
    except OSError:
        if not path.exists():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
