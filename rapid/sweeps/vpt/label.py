"""The `vpt_label` data step: the inverse dynamics model labels every frame of a recorded dataset
in a Ray Data `map_batches` pass, one model per actor, episodes in parallel.

Each row gains `pseudo_action` (the model's action for each transition, labelled rows included,
so the report can say how often the labels agree with the recorded actions); nothing else changes.
"""

import time

import numpy as np
import pyarrow as pa
import ray
from pydantic import Field

from rapid.platform.datasets import Dataset
from rapid.platform.plugins import Strict
from rapid.platform.rollout_recorder import decode_image
from rapid.platform.spec_parts import MAX_ACTORS
from rapid.sweeps.vpt.episodes import ACTION, FRAMES, PSEUDO_ACTION, frame_shape
from rapid.sweeps.vpt.idm import label_episode, load_idm


class LabelSettings(Strict):
    """config of `vpt_label`."""

    data: str = Field(..., description="the recorded dataset to label ({collect.dataset})")
    idm: str = Field(..., description="a vpt_idm checkpoint ({idm.checkpoint})")
    actors: int = Field(2, ge=1, le=MAX_ACTORS, description="labelling actors, one CPU and one model each")
    episodes_per_batch: int = Field(4, ge=1)


class Labeller:
    """A Ray Data callable class: loads the model once per actor, labels batches of episodes."""

    def __init__(self, checkpoint: str) -> None:
        import torch

        torch.set_num_threads(1)  # one CPU per actor: actors, not threads, give the parallelism
        self.model, self.clip = load_idm(checkpoint)

    def __call__(self, batch: pa.Table) -> pa.Table:
        labels = [
            label_episode(self.model, np.stack([decode_image(png) for png in frames]), self.clip).tolist()
            for frames in batch[FRAMES].to_pylist()
        ]
        return batch.append_column(PSEUDO_ACTION, pa.array(labels, pa.list_(pa.int64())))


def label_inputs(settings: LabelSettings) -> dict[str, tuple[str, str]]:
    return {"data": (settings.data, "a recorded dataset (part-*.parquet)"), "idm": (settings.idm, "a vpt_idm checkpoint")}


def label_resources(settings: LabelSettings) -> dict[str, float]:
    return {"CPU": float(settings.actors)}


def check_label_inputs(settings: LabelSettings) -> None:
    """Before Ray starts: the checkpoint is a vpt_idm one (it loads) and labels frames of the dataset's size."""
    model, _ = load_idm(settings.idm)
    frames = frame_shape(settings.data)
    if frames != model.frame_shape:
        raise ValueError(f"config.idm: {settings.idm} labels frames of {model.frame_shape} (H, W, C), but "
                         f"config.data: {settings.data} holds frames of {frames}")


def label_dataset(settings: LabelSettings, out: Dataset, restore: bool) -> dict[str, float]:
    """Label every episode; Ray Data cannot resume a pass midway, so a resumed one starts afresh.

    The dataset is read before the labelling actors start: actors that hold every CPU would leave
    none for Ray Data's read tasks, and the pass would wait forever."""
    out.clear()
    source = ray.data.read_parquet(Dataset(settings.data).uri).materialize()
    labelled = source.map_batches(
        Labeller,
        fn_constructor_kwargs={"checkpoint": settings.idm},
        batch_size=settings.episodes_per_batch,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=settings.actors),
        num_cpus=1,
    )
    frames = agree = recorded = 0
    start = time.perf_counter()
    for number, batch in enumerate(labelled.iter_batches(batch_size=settings.episodes_per_batch, batch_format="pyarrow")):
        out.write_shard(f"{number:07d}", batch)
        for actions, pseudo in zip(batch[ACTION].to_pylist(), batch[PSEUDO_ACTION].to_pylist(), strict=True):
            frames += len(pseudo)
            if actions is not None:
                recorded += len(actions)
                agree += int((np.asarray(actions) == np.asarray(pseudo)).sum())
    seconds = time.perf_counter() - start
    return {
        "frames": float(frames),
        "frames_per_s": frames / seconds if seconds > 0 else float("nan"),
        "label_agreement": agree / recorded if recorded else float("nan"),
    }
