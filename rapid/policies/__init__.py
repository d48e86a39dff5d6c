"""RLModules a spec may name under `policy.module`; workload modules live beside this file."""

import dataclasses
import os

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


MODULES.add(
    "impala_lstm",
    lambda: import_attr("rapid.policies.impala_lstm", "ImpalaLSTMModule"),
    "goal-conditioned pixels: IMPALA CNN on the image, target embedding, inventory MLP -> LSTM (Minecraft Simon Says)",
    config_fields=lambda: set(import_attr("rapid.policies.impala_lstm", "MODEL_CONFIG_KEYS")),
)


def _released_files_unusable(model_config: dict) -> str | None:
    """`rapid run` refuses (before Ray starts) where the released files are not on this machine, or
    where the weights do not fit the .model's network (naming keys and shapes); `rapid submit` and
    `rapid validate` only note it: the cluster's nodes may have them."""
    from rapid.platform.errors import RapidError

    missing = [f"model_config.{key}: {model_config[key]}" for key in ("model", "weights")
               if isinstance(model_config.get(key), str) and not os.path.exists(model_config[key])]
    if missing:
        return f"VPT's released files are not here: {', '.join(missing)}; every node that runs the job needs them"
    try:
        import_attr("rapid.policies.vpt_module", "build_net")(model_config)
    except RapidError as err:
        return f"model_config: {err}"
    return None


MODULES.add(
    "vpt_released",
    lambda: import_attr("rapid.policies.vpt_module", "VPTReleasedModule"),
    "VPT's released policy (.model/.weights): IMPALA CNN -> causal memory transformer -> 8641 button + 121 camera heads",
    config_fields=lambda: set(import_attr("rapid.policies.vpt_module", "MODEL_CONFIG_KEYS")),
    check_machine=_released_files_unusable,
)


for _name, _class, _summary, _fields in (
    ("always_cooperate", "AlwaysCooperate", "a fixed partner (never learns) that always cooperates (action 0)", set()),
    ("always_defect", "AlwaysDefect", "a fixed partner (never learns) that always defects (action 1)", set()),
    ("constant_action", "ConstantAction", "a fixed partner (never learns) that always takes model_config's `action`",
     {"action"}),
    ("tit_for_tat", "TitForTat", "a fixed partner (never learns) that cooperates first, then repeats its partner's last action",
     {"observation_key", "partner_index"}),
    ("indirect_tit_for_tat", "IndirectTitForTat",
     "a fixed partner for indirect reciprocity: toward each agent it repeats that agent's last action against it",
     {"observation_key"}),
):
    MODULES.add(_name, lambda cls=_class: import_attr("rapid.policies.fixed_partners", cls), _summary,
                config_fields=lambda fields=_fields: fields)
