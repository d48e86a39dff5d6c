"""Automatic domain randomization: the `adr:` env_config key, over the env's `randomization:` ranges."""

from rapid.platform.registry import WRAPPERS, import_attr

WRAPPERS.add(
    "adr",
    lambda: import_attr("rapid.training.adr.boundaries", "ADR_WRAPPER"),
    "automatic domain randomization: ranges start at nominal and widen while the policy copes (a central actor)",
)
