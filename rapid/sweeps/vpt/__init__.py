"""Video PreTraining (Baker et al. 2022): inverse dynamics on a small labelled share, pseudo-labels
for the rest, behavioural cloning on them; the RL fine-tuning with a KL to the cloned policy is
the `kl_to_reference` section (`rapid/training/kl_to_reference/`), and the scripted demonstrator
the `crafter_tech_tree` player. `jobs/vpt_crafter.yaml` chains them as one pipeline.
"""

from collections.abc import Callable
from typing import Any

from rapid.platform.errors import RapidError
from rapid.platform.plugins import DataStep, validate_settings
from rapid.platform.registry import DATA_STEPS, TRAINABLES, import_attr


def _schema_check(module: str, schema: str, deeper: str | None = None) -> Callable[..., None]:
    """A trainable's `check_config`: its config against its schema (then `deeper(config)`, which
    raises ValueError naming the key), errors under `config.`."""

    def check(config: dict[str, Any], source: str, lines: dict | None = None) -> None:
        try:
            validate_settings(import_attr(module, schema), config, ("config",))
            if deeper is not None:
                import_attr(module, deeper)(config)
        except ValueError as err:  # a SettingsError too
            raise RapidError(f"{source}: {err}") from None

    return check


def _data_check(config: dict[str, Any], what: str) -> None:
    """The dataset a trainable reads exists (an earlier stage's is checked when that stage has run)."""
    from rapid.platform.datasets import Dataset
    from rapid.platform.spec_file import checkable_here

    data = config.get("data")
    if not isinstance(data, str) or not checkable_here(data):
        return
    try:
        table = Dataset(data).read_table(columns=["labelled"])
    except FileNotFoundError:
        raise RapidError(f"{what}: config.data: {data}: no dataset there (expected a folder of part-*.parquet shards)") from None
    if sum(table["labelled"].to_pylist()) < 2:
        raise RapidError(f"{what}: config.data: {data} has fewer than 2 episodes with actions; the model trains on some "
                         "and holds others out: record more episodes or a larger labelled_share")


def _label_step() -> DataStep:
    from rapid.sweeps.vpt import label

    return DataStep(schema=label.LabelSettings, run=label.label_dataset, metric="frames", inputs=label.label_inputs,
                    check=label.check_label_inputs, resources=label.label_resources)


TRAINABLES.add(
    "vpt_idm",
    lambda: import_attr("rapid.sweeps.vpt.idm", "IDMTrainable"),
    "VPT's inverse dynamics model on a recorded dataset's labelled episodes; reports idm_accuracy each epoch",
    check_config=_schema_check("rapid.sweeps.vpt.idm", "IDMConfig"),
    check_data=_data_check,
    path_keys=("data",),
)
TRAINABLES.add(
    "vpt_bc",
    lambda: import_attr("rapid.sweeps.vpt.bc", "BCTrainable"),
    "behavioural cloning of a recurrent RLModule on (pseudo-)labelled episodes; checkpoints an RLlib job starts from",
    check_config=_schema_check("rapid.sweeps.vpt.bc", "BCConfig", "check_bc_config"),
    check_data=_data_check,
    path_keys=("data",),
)
DATA_STEPS.add(
    "vpt_label", _label_step, "labels every frame of a recorded dataset with a vpt_idm checkpoint (Ray Data map_batches)"
)
