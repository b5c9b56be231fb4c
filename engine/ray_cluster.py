"""The local Ray cluster the bot starts when ``RAY_ADDRESS`` is empty, locked down.

- on the loopback address only: Ray's processes (GCS, raylets, workers, Serve replicas,
  node agents) listen on the node's address, and ``_node_ip_address="127.0.0.1"`` is
  turned into the machine's address on Linux; Ray's single-machine mode
  (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, what Ray runs on macOS and Windows) keeps the
  node's address 127.0.0.1, and the one server Ray binds to every interface all the
  same (a Serve replica's gRPC server) is bound to it by :func:`keep_replica_on_loopback`,
  so nothing listens on another interface;
- token authentication (``RAY_AUTH_MODE=token``): a fresh 256-bit token per cluster, in a
  0600 file in a private (0700) temporary folder named by ``RAY_AUTH_TOKEN_PATH``, so the
  secret is in no process's environment or command line, in no log and not in ``~/.ray``.
  Every gRPC call to the GCS, the raylets, the workers and the Serve replicas, and every
  HTTP call to the node agents, needs it; ``shutdown`` deletes the folder;
- no dashboard (``include_dashboard=False``): no web UI and no jobs API (the job
  endpoints are dashboard modules Ray does not load without it); ``dashboard_host`` is
  127.0.0.1 all the same;
- ``address="local"``: always a new cluster, never one Ray would find on the machine
  (``ray start``'s, or ``RAY_ADDRESS`` in the environment);
- Serve without its HTTP proxy (``ray_engine.deploy``): the bot uses handles only.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# The bot's choices for its own cluster: what the caller passes cannot undo them.
HARDENED: dict[str, Any] = {
    "address": "local",
    "include_dashboard": False,
    "dashboard_host": "127.0.0.1",
}
TOKEN_FOLDER_PREFIX = "imaginebot-ray-"
AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")


MIN_RAY = (2, 58)  # token auth everywhere, Serve's replica gRPC server included


def require_safe_ray() -> None:
    """``RuntimeError`` for a Ray older than :data:`MIN_RAY`: before 2.52 it has no token
    authentication (and its dashboard a DNS-rebinding hole, CVE-2025-62593); before 2.58
    a Serve replica's gRPC server takes calls without the token."""
    from importlib.metadata import version

    found = version("ray")
    numbers = tuple(int(part) for part in found.split(".")[:2] if part.isdigit())
    if numbers < MIN_RAY:
        need = ".".join(map(str, MIN_RAY))
        raise RuntimeError(f"Ray {found} has known security holes: install ray[serve]>={need}")


def start_local(options: dict[str, Any] | None = None) -> None:
    """``ray.init`` a new local cluster (``options``: more of its arguments, such as
    ``num_cpus``) with its own token and the settings above. Blocking."""
    import ray

    require_safe_ray()
    path = _write_token()
    os.environ.pop("RAY_AUTH_TOKEN", None)  # it would win over the file
    os.environ["RAY_AUTH_TOKEN_PATH"] = str(path)
    os.environ["RAY_AUTH_MODE"] = "token"  # read by Ray's processes as they start
    _reload_auth()
    _single_machine(True)
    try:
        ray.init(**{**(options or {}), **HARDENED})
    except BaseException:
        forget_token()
        raise


def keep_replica_on_loopback() -> None:
    """In a Serve replica of the bot's local cluster: Serve's replica gRPC server, which
    Ray (2.60) binds to ``[::]:0`` whatever the node's address, binds to 127.0.0.1 too.
    Called as the replica is built (the server starts after). Nothing happens outside
    the single-machine mode (a cluster of several machines)."""
    if os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") != "0":
        return
    from ray.serve._private import replica

    bind = getattr(replica, "add_port_to_grpc_server", None)
    if bind is None:
        logger.warning("Ray Serve's replica gRPC server could not be kept on 127.0.0.1")
        return
    if getattr(bind, "on_loopback", False):
        return

    def on_loopback(server: Any, address: str) -> int:
        return bind(server, address.replace("[::]", "127.0.0.1"))

    on_loopback.on_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = on_loopback


def _single_machine(on: bool) -> None:
    """Ray's single-machine mode on (the node's address is 127.0.0.1) or back off. Its
    processes read the variable as they start; this one read it at import."""
    from ray._private import ray_constants

    if on:
        os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    else:
        os.environ.pop(ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR, None)
    ray_constants.ENABLE_RAY_CLUSTER = not on and not ray_constants.IS_WINDOWS_OR_OSX


def join(address: str, options: dict[str, Any] | None = None) -> None:
    """``ray.init`` at the operator's cluster; a refusal for want of its token says so."""
    import ray

    require_safe_ray()
    try:
        ray.init(address=address, **(options or {}))
    except ConnectionError as exc:
        if not _refused_for_token(exc):
            raise
        raise ConnectionError(
            f"the Ray cluster at {address} asks for its token: set RAY_AUTH_MODE=token and "
            "RAY_AUTH_TOKEN (or RAY_AUTH_TOKEN_PATH) in the bot's environment"
        ) from exc


def _refused_for_token(exc: BaseException | None) -> bool:
    while exc is not None:  # Ray carries the GCS's answer as text or as the cause
        if "InvalidAuthToken" in str(exc) or type(exc).__name__ == "AuthenticationError":
            return True
        exc = exc.__cause__
    return False


def forget_token() -> None:
    """After the local cluster stopped: its token leaves the environment and the disk.
    Nothing happens where the token in use is not one ``start_local`` wrote."""
    folder = token_folder()
    if folder is None:
        return
    _single_machine(False)
    for name in AUTH_VARIABLES:
        os.environ.pop(name, None)
    _reload_auth()
    shutil.rmtree(folder, ignore_errors=True)


def token_folder() -> Path | None:
    """The private folder of the local cluster's token, while there is one."""
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if not path:
        return None
    folder = Path(path).parent
    ours = folder.name.startswith(TOKEN_FOLDER_PREFIX)
    return folder if ours and folder.parent == Path(tempfile.gettempdir()) else None


def _write_token() -> Path:
    folder = Path(tempfile.mkdtemp(prefix=TOKEN_FOLDER_PREFIX))  # mode 0700
    path = folder / "auth_token"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_hex(32))
    return path


def _reload_auth() -> None:
    """Make this process's Ray read the authentication settings again: its config
    caches the mode and its loader the token (as Ray's own ``_enable_token_auth`` and
    test helpers do; the config first, so that no thread reloads a token in between)."""
    from ray._raylet import AuthenticationTokenLoader, Config

    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()
