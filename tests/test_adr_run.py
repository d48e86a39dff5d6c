"""ADR inside a real run: the central actor's ranges reach metrics and plots and survive a killed driver."""

import signal
from pathlib import Path

from conftest import Head, rapid, rows, start_run, wait_for_checkpoints, wait_for_recorded_checkpoint

# Every episode tests a boundary and (scoring 0 >= high 0) widens it by a small step: entropy
# grows steadily, so a run that lost the actor's state on resume would show it falling back.
ADR_JOB = [
    "jobs/quickstart.yaml", "--profile", "smoke",
    "--set", "env_config={randomization: {parameters: [{name: pole_mass, targets: [{field: body_mass, select: {body: 'pole*'}}], "
             "range: [0.5, 1.5]}]}, adr: {queue_length: 1, high: 0.0, low: -1.0, boundary_probability: 1.0, step_fraction: 0.002}}",
    "--set", "figures=[adr/entropy, 'adr/range/*']",
    "--set", "stop.env_steps=9000", "--set", "checkpoint.every=3",
]


def test_adr_state_survives_a_killed_driver_and_reaches_metrics_and_plots(ray_head: Head, tmp_path: Path) -> None:
    args = [*ADR_JOB, "--set", f"storage_path={tmp_path}"]
    driver = start_run(args, ray_head.env())
    run = wait_for_checkpoints(tmp_path, "quickstart", 2, driver)
    wait_for_recorded_checkpoint(run, driver)
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    outcome = rapid("run", "--resume", str(run), env=ray_head.env())
    assert outcome.returncode == 0, outcome.stderr
    table = rows(run)
    entropy = table["adr/entropy"]
    assert entropy[-1] > 0 and table["adr/range/pole_mass/high"][-1] > 1.0 and table["adr/range/pole_mass/low"][-1] < 1.0
    resumed = next(i for i, (it, since) in enumerate(zip(table["iteration"], table["iterations_since_restore"], strict=True)) if it != since)
    restored_from = resumed - 1  # the row of the checkpoint's iteration
    assert entropy[resumed] >= entropy[restored_from] > 0, "the resumed run continued from the checkpointed ranges"
    assert all(b >= a for a, b in zip(entropy, entropy[1:], strict=False)), "ranges only widen in this setup"
    plots = {p.name for p in (run / "plots").glob("*.png")}
    assert {"adr_entropy.png", "adr_range_all.png"} <= plots
