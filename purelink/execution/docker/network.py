"""Where a container finds the host: the name `host.docker.internal`, the bridge's gateway address,
and loopback URLs rewritten to that name (inside a container, 127.0.0.1 is the container itself)."""

from __future__ import annotations

import contextlib
import socket
from ipaddress import ip_network
from urllib.parse import urlsplit

from purelink.errors import ExecutionError
from purelink.execution.images import docker_client
from purelink.runtime.net import is_loopback, loopback_to

LOOPBACK_HOST = "host.docker.internal"


def container_url(url: str, host: str = LOOPBACK_HOST) -> str:
    """`url` as seen from inside a container: a loopback host (localhost, 127.0.0.0/8, ::1,
    0.0.0.0) becomes `host`, which resolves to the Docker host; anything else is unchanged. The
    runtime applies the same rule (`purelink.runtime.net`) to the URLs baked into a module.

    >>> container_url("http://127.0.0.1:8111/v1")
    'http://host.docker.internal:8111/v1'
    """
    return loopback_to(url, host)


def host_gateway_address(client=None) -> str:
    """The host's address on Docker's default bridge (what `host.docker.internal` resolves to in
    our containers). A server on the host that containers must reach listens here (or on 0.0.0.0)
    as well as on 127.0.0.1, which containers cannot reach.

    A freshly started engine often lists only the subnet in the bridge's IPAM config, so the address
    is looked up in three places, most certain first: the IPAM gateway, the bridge interface's own
    address on this host, then the subnet's first host address (which is what dockerd assigns)."""
    client = client or docker_client()
    attrs = client.networks.get("bridge").attrs
    configs = (attrs.get("IPAM") or {}).get("Config") or []
    for config in configs:
        if config.get("Gateway"):
            return config["Gateway"].split("/")[0]
    interface = (attrs.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    address = interface_address(interface)
    if address:
        return address
    for config in configs:
        with contextlib.suppress(ValueError, KeyError):
            network = ip_network(config["Subnet"], strict=False)
            if network.version == 4 and network.num_addresses > 2:
                return str(next(network.hosts()))
    raise ExecutionError("Docker's default bridge network has no gateway address.",
                         "Check `docker network inspect bridge`; the engine may need a restart.")


def interface_address(name: str) -> str | None:
    """The IPv4 address of network interface `name` on this host, or None (absent, or not Linux)."""
    try:
        import fcntl
        import struct
    except ImportError:
        return None
    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            packed = fcntl.ioctl(probe.fileno(), siocgifaddr, struct.pack("256s", name[:15].encode()))
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def engine_is_local(client) -> bool:
    """Whether the engine runs on this machine (a unix socket, or TCP on loopback), so that a port
    opened here is one its containers reach through the bridge; an engine over SSH or on another
    host is another machine."""
    base = getattr(client.api, "base_url", "")
    if base.startswith(("http+docker://localunixsocket", "http+docker://localhost")):
        return True
    host = urlsplit(base).hostname
    return base.startswith(("http://", "https://")) and bool(host) and is_loopback(host)
