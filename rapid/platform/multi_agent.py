"""A job's `multi_agent:` section as RLlib's `multi_agent()` config and a MultiRLModuleSpec.

Each policy is an RLModuleSpec with the spaces of the agents it plays: RLlib cannot derive
them for a module the mapping picks only sometimes (a league's snapshots), so rapid builds
the env once and reads them.
"""

import fnmatch
import zlib
from typing import Any

from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec
from ray.rllib.policy.policy import PolicySpec

from rapid.platform.env_stack import make_env
from rapid.platform.registry import MAPPINGS
from rapid.platform.spec import MultiAgent, RLlibJob


class GlobMapping:
    """Agent id -> policy by the first matching glob; a glob given a list of policies draws one of
    them per episode (the same for the whole episode, from its id)."""

    def __init__(self, patterns: dict[str, str | list[str]]) -> None:
        self.patterns = {pattern: [p] if isinstance(p, str) else list(p) for pattern, p in patterns.items()}

    def choices(self, agent_id: Any) -> list[str]:
        """The policies the agent may play."""
        found = next((p for pattern, p in self.patterns.items() if fnmatch.fnmatchcase(str(agent_id), pattern)), None)
        if found is None:
            raise ValueError(f"agent '{agent_id}' matches no pattern ({', '.join(self.patterns)})")
        return found

    def __call__(self, agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
        choices = self.choices(agent_id)
        if len(choices) == 1:
            return choices[0]
        return choices[zlib.crc32(str(episode.id_).encode()) % len(choices)]


def policy_mapping(multi_agent: MultiAgent) -> Any:
    """The mapping function RLlib calls as fn(agent_id, episode)."""
    if isinstance(multi_agent.policy_mapping, str):
        return MAPPINGS.get(multi_agent.policy_mapping)
    return GlobMapping(multi_agent.policy_mapping)


class StandInEpisode:
    """What rapid asks a mapping with before any episode exists: it has an `id_` and nothing else."""

    def __init__(self, number: int) -> None:
        self.id_ = f"stand-in-{number}"


# Stand-in episodes per agent: a mapping that draws per episode shows the policies it may pick.
PROBES = 32


def agent_spaces(env: Any) -> dict[str, tuple[Any, Any]]:
    """Agent id -> (observation space, action space) of a multi-agent env."""
    return {aid: (env.get_observation_space(aid), env.get_action_space(aid)) for aid in env.possible_agents}


def policy_spaces(job: RLlibJob, spaces: dict[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]]:
    """Policy -> the spaces of the agents the mapping, or the evaluation's, may give it (which
    must agree); a ValueError naming the agent or policy that does not fit."""
    multi_agent = job.multi_agent
    mappings = {"multi_agent.policy_mapping": policy_mapping(multi_agent)}
    if job.evaluation is not None and job.evaluation.policy_mapping is not None:
        mappings["evaluation.policy_mapping"] = GlobMapping(job.evaluation.policy_mapping)
    agents = ", ".join(map(str, spaces))
    found: dict[str, tuple[Any, Any]] = {}
    for where, mapping in mappings.items():
        for aid, pair in spaces.items():
            try:
                policies = set(mapping.choices(aid)) if isinstance(mapping, GlobMapping) else {
                    mapping(aid, StandInEpisode(n)) for n in range(PROBES)}
            except ValueError as err:
                raise ValueError(f"{where}: {err}; agents: {agents}") from None
            for policy in sorted(policies):
                if policy not in multi_agent.policies:
                    raise ValueError(f"{where}: gives agent '{aid}' the unknown policy '{policy}'")
                if policy in found and found[policy] != pair:
                    raise ValueError(
                        f"multi_agent.policies.{policy}: its agents' spaces differ ({found[policy]} and agent '{aid}': {pair}); "
                        "map agents with different spaces to different policies"
                    )
                found.setdefault(policy, pair)
    unused = [p for p in multi_agent.policies if p not in found]
    if unused:
        raise ValueError(f"multi_agent.policies.{unused[0]}: no agent is mapped to it; agents: {agents}")
    return found


def configure_multi_agent(config: AlgorithmConfig, job: RLlibJob) -> None:
    """Policies, mapping, trained policies and one RLModuleSpec per policy."""
    env = make_env(job.env, job.env_config)
    try:
        spaces = policy_spaces(job, agent_spaces(env))
    finally:
        env.close()
    specs = {}
    for name, policy in job.multi_agent.policies.items():
        observation_space, action_space = spaces[name]
        specs[name] = policy.module_spec(observation_space, action_space)
    set_modules(config, specs, policy_mapping(job.multi_agent), job.multi_agent.trained)


def set_modules(config: AlgorithmConfig, specs: dict[str, RLModuleSpec], mapping: Any, trained: list[str]) -> None:
    """The config's policies (with their spaces: RLlib builds a learner without an env from them),
    mapping, trained policies and module specs."""
    policies = {name: PolicySpec(observation_space=s.observation_space, action_space=s.action_space) for name, s in specs.items()}
    config.multi_agent(policies=policies, policy_mapping_fn=mapping, policies_to_train=trained)
    config.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
