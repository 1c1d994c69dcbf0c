"""Connect to a Ray cluster within a stated time (issue 16): `ray.init(address=...)` on an
address nobody answers keeps retrying for many minutes. The address's port is probed first
(a refused or unreachable port fails at once), then `ray.init` runs in a daemon thread that is
given RAY_CONNECT_TIMEOUT_S to finish."""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from fleetcore.errors import PlannerError

# Seconds to reach a Ray cluster before the sweep stops with an error.
RAY_CONNECT_TIMEOUT_S = 30.0


class RayUnreachable(PlannerError):
    """The Ray cluster named by --ray-address (or RAY_ADDRESS) cannot be reached (exit 1)."""

    exit_code = 1


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of 'host:port' or 'ray://host:port'; None for 'auto', 'local' and the like."""
    bare = address.removeprefix("ray://")
    host, sep, port = bare.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def _unreachable(address: str, timeout_s: float, reason: str) -> RayUnreachable:
    return RayUnreachable(
        f"cannot reach the Ray cluster at {address} (waited up to {timeout_s:g} s): {reason}; "
        "check --ray-address (or RAY_ADDRESS) and that the cluster is running"
    )


def probe(address: str, timeout_s: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """Raise RayUnreachable unless something accepts connections at the address's port."""
    where = _host_port(address)
    if where is None:
        return
    try:
        with socket.create_connection(where, timeout=timeout_s):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise _unreachable(address, timeout_s, reason) from None


def connect(ray: Any, kwargs: dict[str, Any], timeout_s: float = RAY_CONNECT_TIMEOUT_S) -> None:
    """`ray.init(**kwargs)`, failing with RayUnreachable within about timeout_s when the address
    (kwargs["address"], else RAY_ADDRESS) does not answer."""
    address = kwargs.get("address") or os.environ.get("RAY_ADDRESS")
    if not address:  # a new local instance: nothing to reach; its start-up takes what it takes
        ray.init(**kwargs)
        return
    probe(address, timeout_s)
    failure: list[BaseException] = []

    def init() -> None:
        try:
            ray.init(**kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=init, name="ray-init", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise _unreachable(address, timeout_s, "no answer")
    if failure:
        if isinstance(failure[0], ConnectionError):
            raise _unreachable(address, timeout_s, str(failure[0]).splitlines()[0]) from None
        raise failure[0]
