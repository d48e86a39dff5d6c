"""Joining Ray: the cluster in RAY_ADDRESS (as `ray job submit` sets it) or an embedded one."""

import logging
import os
import socket

import ray
from ray.exceptions import AuthenticationError

from rapid.platform.errors import RapidError


def connect(verbose: bool = False) -> None:
    """Connect this process to Ray, as `ray.init()` does: RAY_ADDRESS, else a local `ray start`
    cluster, else a new embedded instance (RAY_ADDRESS=local forces one).

    Worker logs stream to the terminal only with `verbose`; the Ray dashboard keeps them all.
    """
    if ray.is_initialized():
        return
    address = os.environ.get("RAY_ADDRESS")
    where = f"the Ray cluster at RAY_ADDRESS={address}" if address else "the local Ray cluster"
    _check_reachable(address, where)
    try:
        ray.init(address=address or None, log_to_driver=verbose, logging_level=logging.WARNING, configure_logging=not verbose)
    except AuthenticationError:
        raise RapidError(
            f"{where} uses token authentication and refused this process's token (or found none). On the head "
            "node `ray get-auth-token` prints it; set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN=<token> (or "
            "RAY_AUTH_TOKEN_PATH=<file>, or save it to ~/.ray/auth_token)."
        ) from None
    except (ConnectionError, ValueError, RuntimeError) as err:
        raise RapidError(
            f"cannot join {where}: {err}. Start it (`make cluster-up`), fix the address (a GCS address "
            "host:6379, not the dashboard URL), or unset RAY_ADDRESS to run on an embedded Ray."
        ) from None


def _check_reachable(address: str | None, where: str) -> None:
    """Fail in seconds, not after Ray's minutes of retries, when a host:port address is down."""
    host, sep, port = (address or "").rpartition(":")
    if not sep or "://" in address or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as err:
        raise RapidError(
            f"cannot join {where}: nothing answers there ({err.strerror or err}). Start the cluster "
            "(`make cluster-up`), fix the address (the GCS address host:6379), or unset RAY_ADDRESS to run "
            "on an embedded Ray."
        ) from None


def largest_cluster() -> dict[str, float]:
    """What the cluster could ever hold: its nodes now, or its autoscaler's upper bounds if larger."""
    have = dict(ray.cluster_resources())
    bounds = ray._private.state.state.get_max_resources_from_cluster_config() or {}
    return {k: max(have.get(k, 0.0), float(bounds.get(k, 0))) for k in {*have, *bounds}}


def check_fits(need: dict[str, float], what: str) -> None:
    """RapidError when the cluster, even scaled to its autoscaler's limits, cannot hold `need`."""
    have = largest_cluster()
    if all(v <= have.get(k, 0.0) + 1e-9 for k, v in need.items()):
        return
    asked = ", ".join(f"{v:g} {k}" for k, v in sorted(need.items()) if v)
    has = ", ".join(f"{have.get(k, 0.0):g} {k}" for k in sorted({"CPU", "GPU", *need}))
    raise RapidError(
        f"{what} asks for {asked}, but the Ray cluster has {has} in total (counting what its autoscaler may "
        "add). Lower `resources:` in the spec (or pick a smaller --profile), or run it on a bigger cluster."
    )
