"""metrics.parquet grows by part files: each flush adds one, written atomically; read back as one
table whose late columns are null before they appear, and a resumed trial's repeats win."""

import math
from pathlib import Path

import pyarrow.dataset as ds

from rapid.platform.plots import GROUP, run_plots
from rapid.platform.results import group_label
from rapid.platform.run_dir import METRICS, CurrentRows, RunDir, read_metrics


def test_part_files_read_back_as_one_table_with_late_columns(tmp_path: Path) -> None:
    run = RunDir(str(tmp_path / "run"))
    run.append_rows([{"trial_id": "a", "iteration": 1, "loss": 0.5}])
    run.append_rows([{"trial_id": "a", "iteration": 2, "loss": 0.4, "evaluation/return": 7.0}])
    run.append_rows([])  # a flush with nothing new writes nothing
    parts = sorted((tmp_path / "run" / METRICS).iterdir())
    assert [p.name for p in parts] == ["part-000000.parquet", "part-000001.parquet"]
    columns = read_metrics(tmp_path / "run")
    assert columns["iteration"] == [1, 2] and columns["loss"] == [0.5, 0.4]
    assert columns["evaluation/return"][0] is None and columns["evaluation/return"][1] == 7.0
    # Any parquet reader takes the folder as one dataset too.
    table = ds.dataset(tmp_path / "run" / METRICS, format="parquet").to_table()
    assert table.num_rows == 2


def test_a_flush_killed_midway_loses_only_itself(tmp_path: Path) -> None:
    run = RunDir(str(tmp_path / "run"))
    run.append_rows([{"trial_id": "a", "iteration": 1, "loss": 0.5}])
    # What a SIGKILL during the next write leaves: its temporary file, never renamed.
    (tmp_path / "run" / METRICS / "part-000001.parquet.0f0f.tmp").write_bytes(b"PAR1 half a file")
    assert read_metrics(tmp_path / "run")["iteration"] == [1]
    run.append_rows([{"trial_id": "a", "iteration": 2, "loss": 0.4}])
    assert read_metrics(tmp_path / "run")["iteration"] == [1, 2]


def test_a_restored_trials_repeated_iterations_replace_the_old_ones() -> None:
    written = [{"trial_id": "a", "iteration": i, "loss": 1.0} for i in (1, 2, 3)]
    written += [{"trial_id": "b", "iteration": 1, "loss": 9.0}, {"trial_id": "a", "iteration": 3, "loss": math.pi}]
    rows = CurrentRows(written).rows
    assert [(r["trial_id"], r["iteration"], r["loss"]) for r in rows] == [
        ("a", 1, 1.0), ("a", 2, 1.0), ("b", 1, 9.0), ("a", 3, math.pi),
    ]


def test_a_run_from_before_part_files_reads_and_grows(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "run").mkdir()
    pq.write_table(pa.table({"trial_id": ["a"], "iteration": [1]}), tmp_path / "run" / METRICS)
    run = RunDir(str(tmp_path / "run"))
    run.append_rows([{"trial_id": "a", "iteration": 2}])
    assert read_metrics(tmp_path / "run")["iteration"] == [1, 2]


def test_a_grouped_sweep_draws_every_figure_column_by_group() -> None:
    """A sweep with group_by compares the groups on the metric and on each column its figures match."""
    rows = [{"trial_id": f"t{arm}{seed}", GROUP: f"rusp={arm}", "env_steps": step, "metric": step * (arm + 1),
             "evaluation/against/tit_for_tat/cooperation": 0.5 + 0.1 * arm, "evaluation/against/always_defect/cooperation": 0.1}
            for arm in (0, 1) for seed in (0, 1) for step in (10, 20, 30)]
    plots = run_plots(rows, "sweep", "metric", ("evaluation/against/*/cooperation",), group_by=["rusp"])
    assert {"metric_by_rusp.png", "evaluation_against_tit_for_tat_cooperation_by_rusp.png",
            "evaluation_against_always_defect_cooperation_by_rusp.png"} <= set(plots)
    assert all(png.startswith(b"\x89PNG") for png in plots.values())


def test_grouping_by_several_keys_labels_each_combination_and_names_the_plots_by_all() -> None:
    """`group_by: [a, b]`: a trial's group is its values of both keys; the plots are named by both."""
    config = {"job": {"env_config": {"curriculum": {"sampling": "uniform"}, "exploration_bonus": None}}}
    label = group_label(config, ["env_config.curriculum.sampling", "env_config.exploration_bonus"])
    assert label == 'env_config.curriculum.sampling="uniform", env_config.exploration_bonus=null'
    assert group_label(config, ["env_config.curriculum.sampling"]) == 'env_config.curriculum.sampling="uniform"'
    rows = [{"trial_id": f"t{arm}", GROUP: f"a={arm}, b={arm % 2}", "env_steps": step, "metric": step * arm}
            for arm in (0, 1, 2) for step in (10, 20)]
    assert set(run_plots(rows, "sweep", "metric", group_by=["a", "b"])) >= {"metric_by_a+b.png"}
