"""`kind: sweep` runs a Tune search over RLlib trials; `kind: pipeline` hands checkpoints between stages."""

import json
import pickle
from pathlib import Path

import torch
from conftest import ROOT, Head, embedded_env, rapid, results_of

from rapid.platform.run_dir import read_metrics


def test_sweep_runs_each_grid_point_and_names_the_best(ray_head: Head, tmp_path: Path) -> None:
    outcome = rapid("run", "jobs/quickstart_lr_sweep.yaml", "--profile", "smoke",
                    "--set", "param_space.seed={grid_search: [0, 1]}", "--set", f"storage_path={tmp_path}",
                    env=ray_head.env())
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path, "quickstart_lr_sweep")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert len(summary["trials"]) == 2
    seeds = sorted(json.loads((trial / "params.json").read_text())["job"]["seed"] for trial in run.glob("trial_*"))
    assert seeds == [0, 1]
    lrs = {json.loads((trial / "params.json").read_text())["job"]["training"]["lr"] for trial in run.glob("trial_*")}
    assert all(1e-4 <= lr <= 1e-3 for lr in lrs)
    assert summary["best_config"]["job"]["training"]["lr"] in lrs
    table = read_metrics(run)
    assert len(set(table["trial_id"])) == 2
    assert (run / "plots" / "episode_return_mean.png").is_file()


def test_a_grouped_sweep_reports_each_groups_mean_and_spread(tmp_path: Path) -> None:
    outcome = rapid("run", "jobs/her_vs_no_her.yaml", "--profile", "smoke", "--set", f"storage_path={tmp_path}",
                    env=embedded_env())
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path, "her_vs_no_her")
    summary = json.loads((run / "summary.json").read_text())
    assert set(summary["groups"]) == {'her={"k": 4, "strategy": "future"}', "her=null"}
    assert all(g["trials"] == 1 and 0.0 <= g["min"] <= g["mean"] <= g["max"] <= 1.0 for g in summary["groups"].values())
    table = read_metrics(run)
    assert set(table["group"]) == set(summary["groups"])
    assert (run / "plots" / "evaluation_env_runners_success_rate_by_her.png").stat().st_size > 10_000


def module_weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    state = pickle.loads((checkpoint / "learner_group/learner/rl_module/default_policy/module_state.pkl").read_bytes())
    return {k: torch.as_tensor(v) for k, v in state.items()}


def test_pipeline_stage_starts_from_the_previous_stages_checkpoint(ray_head: Head, tmp_path: Path) -> None:
    stage = (ROOT / "jobs" / "quickstart.yaml").read_text()
    (tmp_path / "stage.yaml").write_text(stage)
    (tmp_path / "pipe.yaml").write_text(
        "kind: pipeline\nname: pipe\n"
        f"storage_path: {tmp_path / 'results'}\n"
        "stages:\n"
        "  - {name: first, spec: stage.yaml, profile: smoke}\n"
        "  - name: second\n"
        "    spec: stage.yaml\n"
        "    profile: smoke\n"
        "    set: {policy.init_checkpoint: '{first.checkpoint}', training.lr: [[0, 0.0], [1000000000, 1e-3]]}\n"
    )
    outcome = rapid("run", str(tmp_path / "pipe.yaml"), env=ray_head.env())
    assert outcome.returncode == 0, outcome.stderr
    (run,) = results_of(tmp_path / "results", "pipe")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "finished"
    assert [s["stage"] for s in summary["stages"]] == ["first", "second"]
    first = json.loads((run / "first" / "summary.json").read_text())["checkpoint"]
    second = json.loads((run / "second" / "summary.json").read_text())["checkpoint"]
    # With a learning rate that starts at 0 and rises by 1e-12 a step (a constant 0 is refused),
    # the second stage keeps the weights it started from, to within a few steps of 1e-9.
    before, after = module_weights(Path(first)), module_weights(Path(second))
    assert before.keys() == after.keys()
    assert all(torch.allclose(before[k], after[k], rtol=0, atol=1e-6) for k in before)
    spec = (run / "second" / "spec.yaml").read_text()
    assert f"init_checkpoint: {first}" in spec
