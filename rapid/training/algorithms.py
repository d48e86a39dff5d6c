"""RLlib's new-API-stack algorithms, by the name a spec gives under `algorithm:`."""

from rapid.platform.registry import ALGORITHMS, import_attr

# name -> (module, AlgorithmConfig class, one line)
RLLIB_ALGORITHMS = {
    "PPO": ("ray.rllib.algorithms.ppo", "PPOConfig", "proximal policy optimization, on-policy"),
    "APPO": ("ray.rllib.algorithms.appo", "APPOConfig", "asynchronous PPO with V-trace"),
    "IMPALA": ("ray.rllib.algorithms.impala", "IMPALAConfig", "importance-weighted actor-learner"),
    "SAC": ("rapid.training.sac", "RapidSACConfig", "soft actor-critic, off-policy, continuous"),
    "DQN": ("ray.rllib.algorithms.dqn", "DQNConfig", "deep Q-network (Rainbow options), discrete"),
}


def register_rllib_algorithms() -> None:
    """Register each algorithm; the entry loads its AlgorithmConfig class."""
    for name, (module, cls, summary) in RLLIB_ALGORITHMS.items():
        ALGORITHMS.add(name, lambda module=module, cls=cls: import_attr(module, cls), summary)
