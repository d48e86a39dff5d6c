"""Job spec: every bad input is one clear error naming file, key, expectation; profiles and --set work."""

import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, rapid

from rapid.platform.errors import RapidError
from rapid.platform.search_space import sample_value
from rapid.platform.spec import RLlibJob, SweepJob
from rapid.platform.spec_file import load_spec, trial_config

GOOD = """\
kind: rllib
algorithm: PPO
env: InvertedPendulum-v5
training:
  lr: 1e-3
  train_batch_size_per_learner: 256
resources:
  env_runners: 1
stop:
  env_steps: 1000
profiles:
  big:
    resources: {env_runners: 4}
    training: {lr: 5e-4}
"""


def write(tmp_path: Path, text: str, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path, *args, **kwargs) -> str:
    with pytest.raises(RapidError) as caught:
        load_spec(path, *args, **kwargs)
    return str(caught.value)


def test_good_spec_reads_scientific_floats_and_defaults_name(tmp_path: Path) -> None:
    job = load_spec(write(tmp_path, GOOD)).job
    assert isinstance(job, RLlibJob)
    assert job.training["lr"] == pytest.approx(1e-3)  # PyYAML alone reads 1e-3 as a string
    assert job.name == "job"
    assert job.storage_path == "results"


def test_profile_overrides_only_what_it_names(tmp_path: Path) -> None:
    job = load_spec(write(tmp_path, GOOD), profile="big").job
    assert job.resources.env_runners == 4
    assert job.training == {"lr": 5e-4, "train_batch_size_per_learner": 256}


def test_set_is_yaml_typed_and_applies_after_the_profile(tmp_path: Path) -> None:
    job = load_spec(
        write(tmp_path, GOOD), profile="big",
        overrides=["training.lr=3e-4", "resources.env_runners=2", "policy.model_config.fcnet_hiddens=[32, 32]", "seed=7"],
    ).job
    assert job.training["lr"] == pytest.approx(3e-4)
    assert job.resources.env_runners == 2
    assert job.policy.model_config_ == {"fcnet_hiddens": [32, 32]}
    assert job.seed == 7


def test_unknown_profile_lists_the_profiles(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD), profile="bgi")
    assert "no profile 'bgi'" in message and "did you mean 'big'" in message and "profiles: big" in message


def test_malformed_set(tmp_path: Path) -> None:
    assert "expected KEY=VALUE" in error_of(write(tmp_path, GOOD), overrides=["training.lr"])


def test_missing_file_names_it(tmp_path: Path) -> None:
    assert error_of(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: no such file"


def test_yaml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, "kind: rllib\nenv: [InvertedPendulum-v5\nstop: {}\n"))
    assert "YAML syntax error at line 3, column" in message


def test_repeated_key_is_an_error(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD + "env: Hopper-v5\n"))
    assert "key 'env' appears twice (also on line 3)" in message


def test_unknown_kind_suggests_the_closest(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace("kind: rllib", "kind: rlib")))
    assert "kind: expected one of rllib, sweep, data, pipeline, got 'rlib' (did you mean 'rllib'?)" in message


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("env: InvertedPendulum-v5", "env: InvertedPendulm-v5", "env (line 3): unknown env 'InvertedPendulm-v5'; close names: InvertedPendulum-v5"),
        ("algorithm: PPO", "algorithm: PPOO", "algorithm (line 2): unknown algorithm 'PPOO'; close names: PPO"),
        ("resources:", "policy: {module: defualt}\nresources:", "unknown module 'defualt'; close names: default"),
        ("  lr: 1e-3", "  lrr: 1e-3", "training.lrr (line 5): unknown key: not an argument of PPO's AlgorithmConfig.training() (did you mean 'lr'?)"),
        ("  env_runners: 1", "  env_runner: 1", "resources.env_runner (line 8): unknown key (did you mean 'env_runners'?); expected one of: env_runners,"),
        ("  env_runners: 1", "  env_runners: two", "resources.env_runners (line 8): input should be a valid integer (got 'two')"),
        ("  env_steps: 1000", "  env_steps: -5", "stop.env_steps (line 10): input should be greater than 0 (got -5)"),
        ("stop:\n  env_steps: 1000", "stop: {}", "stop (line 9): give at least one of env_steps, wall_time_s, iterations, metric"),
        ("kind: rllib", "kind: rllib\nsed: 1", "sed (line 2): unknown key (did you mean 'seed'?)"),
        ("resources:", "policy: {model_config: {fcnet_hidens: [8]}}\nresources:", "policy.model_config.fcnet_hidens (line 7): unknown key: not a setting of module 'default' (did you mean 'fcnet_hiddens'?)"),
    ],
)
def test_bad_key_or_value_is_named_with_its_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = write(tmp_path, GOOD.replace(old, new, 1))
    message = error_of(path)
    assert message.startswith(f"{path}: ")
    assert expected in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("lr: 1e-3", "lrr: 1e-3").replace("env_runners: 1", "env_runners: x").replace("InvertedPendulum-v5", "Nope-v0")
    message = error_of(write(tmp_path, text))
    assert "training.lrr" in message and "resources.env_runners" in message and "unknown env 'Nope-v0'" in message


SWEEP = """\
kind: sweep
trainable: rllib
metric: episode_return_mean
config:
  algorithm: PPO
  env: InvertedPendulum-v5
param_space:
  training.lr: {loguniform: [1e-4, 1e-2]}
  seed: {grid_search: [0, 1]}
stop: {iterations: 2}
"""


def test_a_sweep_trial_gets_sampled_params_and_the_sweeps_stop(tmp_path: Path) -> None:
    job = load_spec(write(tmp_path, SWEEP)).job
    assert isinstance(job, SweepJob)
    trial = trial_config(job, lambda key, space: sample_value(space))
    assert 1e-4 <= trial["training"]["lr"] <= 1e-2 and trial["seed"] == 0
    assert trial["stop"]["iterations"] == 2 and trial["checkpoint"]["every"] == 10
    assert trial["metric"] == "episode_return_mean", "each trial reports the metric the sweep ranks by"
    assert RLlibJob.model_validate({"name": "trial", **trial}).stop.iterations == 2


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("training.lr: {loguniform", "training.lrr: {loguniform", "config.training.lrr: unknown key: not an argument of PPO's"),
        ("{loguniform: [1e-4, 1e-2]}", "{loguniformm: [1e-4, 1e-2]}", "param_space.training.lr: unknown search space 'loguniformm' (did you mean 'loguniform'?)"),
        ("{loguniform: [1e-4, 1e-2]}", "{loguniform: 3}", "param_space.training.lr.loguniform: expected a non-empty list, got 3"),
        ("  env: InvertedPendulum-v5", "  env: Invertedpendulum", "config.env (line 6): unknown env 'Invertedpendulum'"),
        ("trainable: rllib", "trainable: rlib", "trainable (line 2): unknown trainable 'rlib'; close names: rllib"),
        ("stop: {iterations: 2}", "stop: {iterations: 2}\nscheduler: {name: ashaa}", "unknown scheduler 'ashaa'; close names: asha"),
        ("stop: {iterations: 2}", "stop: {iterations: 2}\ngroup_by: seeds", "group_by (line 11): expected a param_space key or one the searcher 'basic_variant' sets (training.lr, seed), got 'seeds'"),
        ("stop: {iterations: 2}", "stop: {iterations: 2}\ngroup_by: [seed, training.lrr]", "group_by (line 11): expected a param_space key or one the searcher 'basic_variant' sets (training.lr, seed), got 'training.lrr'"),
        ("metric: episode_return_mean", "metric: episode_retrun_mean", "  metric (line 3): 'episode_retrun_mean' is not a figure an RLlib job reports"),
    ],
)
def test_bad_sweep_is_named(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert expected in error_of(write(tmp_path, SWEEP.replace(old, new, 1)))


def test_pipeline_stage_references_must_name_earlier_stages(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "stage.yaml")
    good = "kind: pipeline\nstages:\n  - {name: first, spec: stage.yaml}\n  - {name: second, spec: stage.yaml, set: {policy.init_checkpoint: '{first.checkpoint}'}}\n"
    job = load_spec(write(tmp_path, good, "pipe.yaml")).job
    assert [s.name for s in job.stages] == ["first", "second"]
    bad = good.replace("{first.checkpoint}", "{third.checkpoint}")
    assert "stages.second.set.policy.init_checkpoint: '{third.checkpoint}' names no earlier stage; earlier: first" in error_of(
        write(tmp_path, bad, "pipe.yaml")
    )
    broken = good.replace("spec: stage.yaml}", "spec: stage.yaml, set: {training.lrr: 1}}", 1)
    assert "training.lrr" in error_of(write(tmp_path, broken, "pipe.yaml"))


def test_a_pipeline_cannot_be_its_own_stage(tmp_path: Path) -> None:
    path = write(tmp_path, "kind: pipeline\nstages:\n  - {name: again, spec: pipe.yaml}\n", "pipe.yaml")
    assert "kind: expected one of rllib, sweep, data, got 'pipeline'" in error_of(path)


def test_stop_on_a_metric_the_job_never_reports(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD), overrides=["stop.metric={episode_return_men: 100}"])
    assert "stop.episode_return_men: 'episode_return_men' is not a figure an RLlib job reports (did you mean 'episode_return_mean'?)" in message


def test_sweep_trials_take_stop_from_the_sweep(tmp_path: Path) -> None:
    text = SWEEP.replace("  env: InvertedPendulum-v5\n", "  env: InvertedPendulum-v5\n  stop: {iterations: 1}\n")
    assert "config.stop: the sweep sets it for every trial; move it to the sweep's top level" in error_of(write(tmp_path, text))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (GOOD.replace("lr: 1e-3", "lrr: 1e-3"), "training.lrr (line 5): unknown key"),
        (GOOD.replace("env: InvertedPendulum-v5", "env: InvertedPendulm-v5"), "unknown env 'InvertedPendulm-v5'; close names: InvertedPendulum-v5"),
        ("kind: rllib\nenv: [x\n", "YAML syntax error at line 4, column 13: expected ',' or ']'"),
        (None, "no such file"),
    ],
    ids=["training-typo", "unknown-env", "yaml-syntax", "missing-file"],
)
def test_cli_bad_input_exits_2_with_one_paragraph(tmp_path: Path, spec: str | None, expected: str) -> None:
    path = tmp_path / "job.yaml"
    if spec is not None:
        path.write_text(spec + f"\nstorage_path: {tmp_path / 'results'}\n")
    outcome = rapid("run", str(path))
    assert outcome.returncode == 2
    assert outcome.stderr.startswith(f"rapid: error: {path}") and expected in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("training.minibatch_size=4096", "RLlib rejects the config: `minibatch_size` (4096) must be <= `train_batch_size_per_learner` (256)"),
        ("training.gamma=bad", "training.gamma: expected a number (RLlib's default is 0.99), got 'bad'"),
    ],
)
def test_validate_runs_rllibs_own_config_checks(tmp_path: Path, override: str, expected: str) -> None:
    outcome = rapid("validate", str(write(tmp_path, GOOD)), "--set", override)
    assert outcome.returncode == 2
    assert expected in outcome.stderr


def test_validate_checks_sweep_scheduler_options(tmp_path: Path) -> None:
    path = write(tmp_path, SWEEP + "scheduler: {name: asha, options: {grace_perod: 2}}\n")
    outcome = rapid("validate", str(path))
    assert outcome.returncode == 2
    assert "scheduler (asha).options.grace_perod: unknown key (did you mean 'grace_period'?)" in outcome.stderr


def test_cli_validate_checks_several_specs_with_every_profile(tmp_path: Path) -> None:
    good = write(tmp_path, GOOD, "good.yaml")
    bad = write(tmp_path, GOOD.replace("PPO", "PP0"), "bad.yaml")
    bad_profile = write(tmp_path, GOOD.replace("training: {lr: 5e-4}", "training: {lrr: 5e-4}"), "bad_profile.yaml")
    outcome = rapid("validate", str(good), str(bad), str(bad_profile))
    assert outcome.returncode == 2
    assert f"ok  {good}  (rllib 'good')" in outcome.stdout and f"ok  {good} --profile big" in outcome.stdout
    assert f"ok  {bad_profile}  (rllib 'bad_profile')" in outcome.stdout
    assert "unknown algorithm 'PP0'" in outcome.stderr
    assert "bad (--profile big)" in outcome.stderr and "training.lrr" in outcome.stderr
    assert "3 of 6 spec/profile combinations are not valid" in outcome.stderr


def test_every_shipped_job_validates_with_every_profile() -> None:
    from rapid.platform.yaml_source import read_yaml

    specs = sorted((ROOT / "jobs").glob("*.yaml"))
    assert specs, "jobs/ holds the shipped specs"
    for spec in specs:
        load_spec(spec)
        for profile in read_yaml(spec)[0].get("profiles", {}):
            load_spec(spec, profile=profile)


CUSTOM_RANGE = "env_config.randomization={parameters: [{name: mass, targets: [{field: body_mass}], range: [1, .inf]}]}"


@pytest.mark.parametrize(
    ("job", "overrides", "expected"),
    [
        ("quickstart", ["training.num_epochs=-1"], "training.num_epochs (line 19): expected a whole number >= 1"),
        ("quickstart", ["training.gamma=5"], "training.gamma (line 15): expected a number in [0, 1]"),
        ("quickstart", ["training.lr=.inf"], "training.lr (line 14): expected a finite number >= 0"),
        ("quickstart", ["training.lr=.nan"], "training.lr (line 14): expected a number, got .nan"),
        ("quickstart", ["training.lr=0"], "training.lr (line 14): a learning rate of 0 never learns"),
        ("quickstart", ["training.lr=[[0, 0], [100, 0]]"], "training.lr (line 14): a schedule that is 0 throughout"),
        ("quickstart", ["training.lr=[[100, 1e-3], [0, 0]]"], "timesteps start at 0 and increase"),
        ("quickstart", ["seed=1180591620717411303424"], "seed (line 32): input should be less than or equal to 2147483647"),
        ("quickstart", ["policy.model_config.fcnet_hiddens=[-64]"], "policy.model_config.fcnet_hiddens (line 11): expected widths"),
        ("quickstart", ["resources.env_runners=1000000000000"], "resources.env_runners (line 23): input should be less than"),
        ("quickstart", ["stop.wall_time_s=.inf"], "stop.wall_time_s (line 27): input should be a finite number"),
        ("quickstart", ["env_config.vector_threads=fast"], "env_config.vector_threads: expected a whole number of threads"),
        ("quickstart_lr_sweep", ["param_space.seed={randint: [5, 1]}"], "param_space.seed.randint: expected lower < upper"),
        ("quickstart_lr_sweep", ["param_space.seed={loguniform: [0, 1]}"], "param_space.seed.loguniform: a log scale needs lower > 0"),
        ("quickstart_lr_sweep", ["param_space.seed={randint: [0, 18446744073709551616]}"], "param_space.seed.randint: expected integers of 64 bits"),
        ("quickstart_lr_sweep", ["param_space.seed={loguniform: [1, 1" + "0" * 400 + "]}"], "param_space.seed.loguniform: expected [lower, upper] (and q) as finite"),
        ("quickstart_lr_sweep", ["scheduler.options.max_t=abc"], "scheduler (asha).options.max_t: expected a number (the default is 100)"),
        ("quickstart_lr_sweep", ["scheduler.options.max_tt=5"], "scheduler (asha).options.max_tt: unknown key (did you mean 'max_t'?)"),
        ("early_stop_replay", ["param_space.row={grid_range: [0, 1000000000]}"], "1,000,000,000 values; at most 100,000"),
        ("shadow_hand_adr", ["env_config.adr=[1, 2]"], "env_config.adr: input should be a valid dictionary"),
        ("quickstart", ["env=CartPole-v1", "env_config.randomization=dactyl"], "randomization: moves MuJoCo model fields"),
        ("quickstart", ["algorithm=DQN", "training={}"], "algorithm: DQN acts in Discrete action spaces; the env has Box"),
        ("quickstart", ["policy.init_checkpoint=/nowhere/checkpoint_000001"], "policy.init_checkpoint: /nowhere/checkpoint_000001: no such folder"),
        ("shadow_hand_dr", [CUSTOM_RANGE], "env_config.randomization.parameters.0.range.1: input should be a finite number"),
    ],
    ids=lambda value: value if isinstance(value, str) and "=" not in value and len(value) < 20 else None,
)
def test_values_that_would_fail_later_are_refused_up_front(job: str, overrides: list[str], expected: str) -> None:
    """Each of these was accepted once and failed later, inside RLlib or a worker."""
    from rapid.platform.preflight import preflight

    spec = ROOT / "jobs" / f"{job}.yaml"
    with pytest.raises(RapidError) as caught:
        preflight(load_spec(spec, None, overrides).job, spec)
    assert expected in str(caught.value)


def test_misspelt_required_key_is_pointed_out(tmp_path: Path) -> None:
    message = error_of(write(tmp_path, GOOD.replace("env:", "envv:")))
    assert "env: required key is missing ('envv' looks like a misspelling of it)" in message
    message = error_of(write(tmp_path, GOOD.replace("kind:", "kinnd:")))
    assert "('kinnd' looks like a misspelt kind)" in message


def test_data_that_lives_on_the_cluster_is_noted_by_validate_and_refused_by_run(tmp_path: Path) -> None:
    outcome = rapid("validate", "jobs/metaqnn_cifar10.yaml", "--profile", "smoke")
    assert outcome.returncode == 0, outcome.stderr
    assert "note: sweep 'metaqnn_cifar10': config.data_dir: dataset cifar10 needs" in outcome.stdout
    assert "`rapid run` checks it where the job runs" in outcome.stdout
    outcome = rapid("run", "jobs/metaqnn_cifar10.yaml", "--profile", "smoke", "--set", f"storage_path={tmp_path}")
    assert outcome.returncode == 2 and "config.data_dir: dataset cifar10 needs" in outcome.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_repository_reads_no_data_from_outside_itself() -> None:
    """A clone runs every shipped job: no tracked file names a folder beside the repository."""
    outside = "/".join(("..", "shared"))
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in tracked:
        path = ROOT / name
        if path.suffix in (".py", ".yaml", ".toml", ".md", ".txt", ".cfg") or path.name in ("Makefile", "Dockerfile"):
            assert outside not in path.read_text(), name


def test_a_sweep_takes_its_config_from_an_rllib_job_file_and_amends_it(tmp_path: Path) -> None:
    loaded = load_spec(ROOT / "jobs" / "rusp_vs_selfish.yaml")
    config = loaded.job.config
    assert config["env"] == "prisoners_dilemma" and config["env_config"] == {"rusp": {}}
    assert config["resources"] == {"env_runners": 0, "envs_per_env_runner": 16}, "the sweep's config amends the job's"
    assert config["training"]["train_batch_size_per_learner"] == 4000 and "tit_for_tat" in config["multi_agent"]["policies"]
    assert not {"stop", "checkpoint", "metric", "name", "kind"} & set(config), "the sweep's own keys stay the sweep's"
    assert "config_from" not in loaded.resolved
    smoke = load_spec(ROOT / "jobs" / "rusp_vs_selfish.yaml", "smoke").job.config
    assert smoke["training"]["train_batch_size_per_learner"] == 200, "config_from's profile"
    rllib = tmp_path / "job.yaml"
    rllib.write_text("kind: rllib\nalgorithm: PPO\nenv: CartPole-v1\nstop: {iterations: 1}\nconfig_from: {spec: x.yaml}\n")
    with pytest.raises(RapidError, match="config_from"):
        load_spec(rllib)
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("kind: sweep\ntrainable: rllib\nmetric: m\nconfig_from: {spec: missing.yaml}\n")
    with pytest.raises(RapidError, match="missing.yaml"):
        load_spec(sweep)
