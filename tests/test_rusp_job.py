"""The RUSP jobs end to end (the Prisoner's Dilemma in detail): self-play with league snapshots in use, evaluation
as selfish agents against each fixed partner reported per partner; a mapping to an unknown policy
stops before Ray."""

from pathlib import Path

import pytest
from conftest import Head, rapid, rows

SPEC = "jobs/rusp_ipd.yaml"
PARTNERS = ("tit_for_tat", "always_cooperate", "always_defect")


def test_rusp_self_play_trains_with_snapshots_and_is_evaluated_against_each_partner(ray_head: Head, tmp_path: Path) -> None:
    done = rapid("run", SPEC, "--profile", "smoke", "--set", f"storage_path={tmp_path}", "--set", "evaluation.episodes=30",
                 env=ray_head.env())
    assert done.returncode == 0, done.stderr
    (run,) = (tmp_path / "rusp_ipd").iterdir()
    table = rows(run)
    assert table["iteration"][-1] == 3
    assert all(v > 0 for v in table["learners/shared/num_module_steps_trained"])
    assert sum(v for v in table["env_runners/league/past_opponent"] if v == v) > 0, "snapshots played some episodes"
    for partner in PARTNERS:
        assert not any(key.startswith(f"learners/{partner}/") and "loss" in key for key in table), f"{partner} never trains"
        cooperation = [v for v in table[f"evaluation/env_runners/against/{partner}/cooperation"] if v == v]
        assert cooperation and all(0 <= v <= 1 for v in cooperation), partner
    # In evaluation RUSP is off: what the policy earns against always-defect is 0 (both defect) or less.
    assert all(v <= 0 for v in table["evaluation/env_runners/against/always_defect/return"] if v == v)


def test_an_evaluation_mapping_to_an_unknown_policy_stops_before_ray(tmp_path: Path) -> None:
    done = rapid("run", SPEC, "--set", "evaluation.policy_mapping={player_1: [tit_for_tat, grim_trigger]}",
                 "--set", f"storage_path={tmp_path}")
    assert done.returncode == 2
    assert "evaluation.policy_mapping.player_1" in done.stderr and "unknown policy 'grim_trigger'" in done.stderr
    assert not any(tmp_path.iterdir())


# Prisoner's Buddy and Oasis take about a minute each in CI: `slow`; the indirect game keeps the wiring in CI.
@pytest.mark.parametrize(("spec", "figure"), [
    ("jobs/rusp_indirect.yaml", "evaluation/env_runners/against/always_defect/cooperation"),
    pytest.param("jobs/rusp_prisoners_buddy.yaml", "evaluation/env_runners/against/steady_partner/return", marks=pytest.mark.slow),
    pytest.param("jobs/rusp_oasis.yaml", "evaluation/env_runners/survival_time", marks=pytest.mark.slow),
])
def test_the_other_rusp_games_train_and_meet_their_fixed_partners(ray_head: Head, tmp_path: Path, spec: str, figure: str) -> None:
    done = rapid("run", spec, "--profile", "smoke", "--set", f"storage_path={tmp_path}", "--set", "evaluation.episodes=12",
                 env=ray_head.env())
    assert done.returncode == 0, done.stderr
    (job,) = tmp_path.iterdir()
    (run,) = job.iterdir()
    table = rows(run)
    assert table["iteration"][-1] == 3
    assert [v for v in table[figure] if v == v], figure
    assert all(v == v for v in table["env_runners/social_welfare"]), "every iteration reports social welfare"
    snapshots = [key for key in table if key.startswith("env_runners/league/games/")]
    assert snapshots, "training met league snapshots"
    assert not any("_snapshot_" in key for key in table if key.startswith("evaluation/")), "evaluation never plays them"
