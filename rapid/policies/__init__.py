"""RLModules a spec may name under `policy.module`; workload modules live beside this file."""

import dataclasses

from rapid.platform.registry import MODULES, import_attr


def _default_model_config_fields() -> set[str]:
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    return {f.name for f in dataclasses.fields(DefaultModelConfig)}


MODULES.add(
    "default",
    lambda: None,
    "the algorithm's own RLlib module (MLP or CNN from model_config: fcnet_hiddens, ...)",
    config_fields=_default_model_config_fields,
)


MODULES.add(
    "asymmetric_lstm",
    lambda: import_attr("rapid.policies.asymmetric_lstm", "AsymmetricLSTMModule"),
    "actor FC -> LSTM on its actor_keys, critic MLP on its critic_keys (Dactyl's asymmetric PPO; RUSP's games)",
    config_fields=lambda: set(import_attr("rapid.policies.asymmetric_lstm", "MODEL_CONFIG_KEYS")),
)


MODULES.add(
    "normalized_sac",
    lambda: import_attr("rapid.policies.normalized_sac", "NormalizedSACModule"),
    "RLlib's SAC module with running observation normalization clipped to [-5, 5] (HER's Fetch setup)",
    config_fields=_default_model_config_fields,
)


MODULES.add(
    "entity_attention",
    lambda: import_attr("rapid.policies.entity_attention", "EntityAttentionModule"),
    "hide-and-seek's policy: entity embeddings, masked residual self-attention, pooling, circular lidar conv, "
    "FC -> LSTM; the critic sees every present entity",
    config_fields=lambda: set(import_attr("rapid.policies.entity_attention", "MODEL_CONFIG_KEYS")),
)
