"""Registry: `rapid list` shows every registered part; each RLlib algorithm builds from a spec."""

import pytest
import ray
from conftest import rapid

from rapid.platform.registry import ALGORITHMS
from rapid.platform.rllib_config import build_algorithm_config, register_env
from rapid.platform.spec import RLlibJob

# Each algorithm on an env it suits, with a batch small enough for one quick iteration.
CASES = {
    "PPO": ("InvertedPendulum-v5", {"train_batch_size_per_learner": 256, "minibatch_size": 64, "num_epochs": 1}),
    "APPO": ("InvertedPendulum-v5", {"train_batch_size_per_learner": 256}),
    "IMPALA": ("CartPole-v1", {"train_batch_size_per_learner": 256}),
    "SAC": ("Pendulum-v1", {"num_steps_sampled_before_learning_starts": 64, "train_batch_size_per_learner": 32}),
    "DQN": ("CartPole-v1", {"num_steps_sampled_before_learning_starts": 64, "train_batch_size_per_learner": 32}),
}


def job(algorithm: str) -> RLlibJob:
    env, training = CASES[algorithm]
    return RLlibJob.model_validate(
        {"name": "t", "algorithm": algorithm, "env": env, "training": training, "resources": {"env_runners": 1}, "stop": {"iterations": 1}}
    )


def test_list_prints_every_kind_one_line_each() -> None:
    outcome = rapid("list")
    assert outcome.returncode == 0
    for heading in ("envs:", "modules:", "algorithms:", "trainables:", "searchers:", "schedulers:"):
        assert heading in outcome.stdout
    lines = {line.split()[0]: line for line in outcome.stdout.splitlines() if line.startswith("  ")}
    for name in ("InvertedDoublePendulum-v5", "HalfCheetah-v5", "default", *CASES, "rllib", "basic_variant", "asha"):
        assert name in lines and len(lines[name].split()) > 2, name


def test_list_one_kind() -> None:
    outcome = rapid("list", "algorithm")
    assert outcome.stdout.startswith("algorithms:") and "envs:" not in outcome.stdout


def test_the_five_algorithms_are_registered() -> None:
    assert {e.name for e in ALGORITHMS} >= set(CASES)


@pytest.mark.parametrize("algorithm", CASES)
def test_spec_builds_a_valid_new_stack_config(algorithm: str) -> None:
    config = build_algorithm_config(job(algorithm))
    bundles = config.algo_class.default_resource_request(config).bundles  # runs RLlib's own validate()
    assert config.enable_rl_module_and_learner and config.enable_env_runner_and_connector_v2
    assert config.num_env_runners == 1 and len(bundles) == 2


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", CASES)
def test_one_training_iteration(algorithm: str) -> None:
    ray.init(address="local", num_cpus=2, include_dashboard=False, ignore_reinit_error=True)
    spec = job(algorithm)
    register_env(spec)
    algo = build_algorithm_config(spec).build_algo()
    try:
        result = algo.train()
    finally:
        algo.stop()
    assert result["num_env_steps_sampled_lifetime"] > 0
    assert "default_policy" in result["learners"]
