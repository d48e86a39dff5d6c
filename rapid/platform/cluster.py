"""Joining Ray: the cluster in RAY_ADDRESS (as `ray job submit` sets it) or an embedded one."""

import logging
import os

import ray

from rapid.platform.errors import RapidError

# Lines every run would print and a researcher can do nothing about.
QUIET_LOGGERS = (
    "ray._private.authentication.authentication_token_setup",  # "token auth is on": Ray's default
    "ray.rllib.algorithms.algorithm_config",  # "you are running on the new API stack"
)


def connect(verbose: bool = False) -> None:
    """Connect this process to Ray, as `ray.init()` does: RAY_ADDRESS, else a local `ray start`
    cluster, else a new embedded instance (RAY_ADDRESS=local forces one).

    Worker logs stream to the terminal only with `verbose`; the Ray dashboard keeps them all.
    """
    if ray.is_initialized():
        return
    if not verbose:
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)
    address = os.environ.get("RAY_ADDRESS")
    try:
        ray.init(address=address or None, log_to_driver=verbose, logging_level=logging.WARNING, configure_logging=not verbose)
    except ConnectionError as err:
        raise RapidError(
            f"cannot reach the Ray cluster at RAY_ADDRESS={address}: {err}. Start it (`make cluster-up`), "
            "fix the address, or unset RAY_ADDRESS to run on an embedded Ray."
        ) from None


def check_fits(need: dict[str, float], what: str) -> None:
    """RapidError when the cluster cannot ever hold `need` (CPU, GPU, ...)."""
    have = ray.cluster_resources()
    short = {k: v for k, v in need.items() if v > have.get(k, 0.0) + 1e-9}
    if not short:
        return
    asked = ", ".join(f"{v:g} {k}" for k, v in sorted(need.items()) if v)
    has = ", ".join(f"{have.get(k, 0.0):g} {k}" for k in sorted({"CPU", "GPU", *need}))
    raise RapidError(
        f"{what} asks for {asked}, but the Ray cluster has {has} in total. Lower `resources:` in the spec "
        "(or pick a smaller --profile), run it on a bigger cluster, or pass --no-resource-check when an "
        "autoscaler will add the nodes."
    )
