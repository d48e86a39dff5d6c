"""RLlib's new-API-stack algorithms, by the name a spec gives under `algorithm:`."""

from gymnasium import spaces

from rapid.platform.registry import ALGORITHMS, import_attr

# name -> (module, AlgorithmConfig class, one line, the action spaces its RLModule can act in (None: any))
RLLIB_ALGORITHMS = {
    "PPO": ("ray.rllib.algorithms.ppo", "PPOConfig", "proximal policy optimization, on-policy", None),
    "APPO": ("ray.rllib.algorithms.appo", "APPOConfig", "asynchronous PPO with V-trace", None),
    "IMPALA": ("ray.rllib.algorithms.impala", "IMPALAConfig", "importance-weighted actor-learner", None),
    "SAC": (
        "rapid.training.sac", "RapidSACConfig", "soft actor-critic, off-policy, continuous", (spaces.Box, spaces.Discrete)
    ),
    "DQN": ("ray.rllib.algorithms.dqn", "DQNConfig", "deep Q-network (Rainbow options), discrete", (spaces.Discrete,)),
}


def register_rllib_algorithms() -> None:
    """Register each algorithm; the entry loads its AlgorithmConfig class. Preflight checks the
    env's action spaces against `action_spaces`, before RLlib fails on them deep inside a build."""
    for name, (module, cls, summary, action_spaces) in RLLIB_ALGORITHMS.items():
        ALGORITHMS.add(name, lambda module=module, cls=cls: import_attr(module, cls), summary, action_spaces=action_spaces)
