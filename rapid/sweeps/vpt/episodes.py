"""Episodes of a recorded dataset (the rollout recorder's rows) as arrays the VPT stages train on."""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from rapid.platform.datasets import Dataset
from rapid.platform.rollout_recorder import decode_image

FRAMES = "obs/image"
ACTION, PSEUDO_ACTION = "action", "pseudo_action"


@dataclass
class Episode:
    """One episode: T+1 frames and the T actions between them (None where the row has none)."""

    index: int
    frames: np.ndarray  # (T+1, H, W, C) uint8
    actions: np.ndarray | None  # (T,) int64: the recorded ones
    pseudo: np.ndarray | None  # (T,) int64: the inverse dynamics model's labels


def _actions(values: list | None) -> np.ndarray | None:
    return None if values is None else np.asarray(values, np.int64)


def frame_shape(uri: str) -> tuple[int, int, int]:
    """(H, W, C) of the dataset's frames, from its first episode (the recorder writes one env's frames)."""
    dataset = Dataset(uri)
    shards = dataset.shards()
    if not shards:
        raise ValueError(f"{uri}: no parquet shards (part-*.parquet); expected a dataset the rollout recorder wrote")
    first = _with_frames(dataset.read_shard(shards[0]), uri)
    return tuple(decode_image(first[FRAMES][0].as_py()[0]).shape)


def _with_frames(table: pa.Table, uri: str) -> pa.Table:
    if FRAMES not in table.column_names:
        raise ValueError(f"{uri}: no '{FRAMES}' column; expected a dataset the rollout recorder wrote from image observations")
    return table


def load_episodes(uri: str, labelled_only: bool = False) -> list[Episode]:
    """The dataset's episodes (only those with recorded actions if `labelled_only`), by episode index."""
    table = _with_frames(Dataset(uri).read_table(), uri)
    pseudo = table[PSEUDO_ACTION].to_pylist() if PSEUDO_ACTION in table.column_names else [None] * len(table)
    episodes = [
        Episode(index, np.stack([decode_image(png) for png in frames]), _actions(actions), _actions(labels))
        for index, frames, actions, labels in zip(
            table["episode"].to_pylist(), table[FRAMES].to_pylist(), table[ACTION].to_pylist(), pseudo, strict=True
        )
        if not labelled_only or actions is not None
    ]
    return sorted(episodes, key=lambda e: e.index)


def split(episodes: list[Episode], validation_share: float) -> tuple[list[Episode], list[Episode]]:
    """(train, held out): every k-th labelled episode is held out, at least one when there are two."""
    labelled = [e for e in episodes if e.actions is not None]
    count = min(len(labelled) - 1, max(1, round(validation_share * len(labelled)))) if len(labelled) > 1 else 0
    held = {e.index for e in labelled[::max(1, len(labelled) // count)][:count]} if count else set()
    return [e for e in episodes if e.index not in held], [e for e in episodes if e.index in held]
