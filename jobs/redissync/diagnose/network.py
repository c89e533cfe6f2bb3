"""The network half of the diagnosis: DNS and TCP, done with the stdlib (the TLS handshake is :mod:`.tls`).

Every blocking call gets the step's remaining budget, so no step outlives REDIS_TIMEOUT.
"""

from __future__ import annotations

import concurrent.futures
import socket
from dataclasses import dataclass
from functools import lru_cache

from ..errors import StepError
from ..net import host_port, is_ip


@dataclass(frozen=True)
class Endpoint:
    """A host:port the diagnosis talks to, and the settings a user changes when it is wrong."""

    host: str
    port: int
    kind: str  # "server" (REDIS_HOST), "sentinel" (one of REDIS_SENTINEL_HOSTS), "master" (named by the sentinels),
    # "seed" (one of REDIS_CLUSTER_NODES), "node" (a cluster node, at the address the cluster announces)

    @property
    def address(self) -> str:
        return host_port(self.host, self.port)

    @property
    def label(self) -> str:
        return {"server": "", "sentinel": "sentinel ", "master": "master ", "seed": "seed node ", "node": "cluster node "}[
            self.kind] + self.address

    @property
    def address_settings(self) -> str:
        return {
            "server": "REDIS_HOST/REDIS_PORT",
            "sentinel": "REDIS_SENTINEL_HOSTS",
            "master": "REDIS_SENTINEL_HOSTS (the sentinels announce this address)",
            "seed": "REDIS_CLUSTER_NODES",
            "node": "cluster-announce-ip/cluster-announce-port on that node (the cluster announces this address)",
        }[self.kind]


# -- DNS ------------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _resolver() -> concurrent.futures.ThreadPoolExecutor:
    """getaddrinfo cannot time out by itself: it runs here, bounded by REDIS_TIMEOUT. Started on the first
    lookup, not at import (the module stays loaded for the scheduler's lifetime; most setups use no name)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="redissync-dns")


def resolve(endpoint: Endpoint, timeout: float) -> list[str]:
    """Addresses of ``endpoint`` as this machine resolves them (getaddrinfo, bounded by ``timeout``)."""
    if is_ip(endpoint.host):
        return [endpoint.host]
    future = _resolver().submit(socket.getaddrinfo, endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise StepError(
            f"resolving '{endpoint.host}' ({endpoint.label}) took longer than REDIS_TIMEOUT: check this machine's DNS "
            f"resolver, or use an IP address in {endpoint.address_settings}"
        ) from None
    except socket.gaierror as error:
        where = "REDIS_HOST" if endpoint.kind == "server" else endpoint.address_settings
        raise StepError(
            f"{where} names '{endpoint.host}', which does not resolve from this machine ({error.strerror}): check {where}; "
            "the name must resolve where the scheduler runs, not only on Redis' own network"
        ) from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# -- TCP ------------------------------------------------------------------------------------------------
def tcp_connect(endpoint: Endpoint, timeout: float) -> str:
    """Open and close a TCP connection; returns the peer address that answered."""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as sock:
            return str(sock.getpeername()[0])
    except TimeoutError:
        raise StepError(
            f"{endpoint.label} did not accept a TCP connection within REDIS_TIMEOUT ({timeout:g} s left): check "
            f"{endpoint.address_settings}, firewalls between the scheduler and Redis, or raise REDIS_TIMEOUT"
        ) from None
    except ConnectionRefusedError:
        raise StepError(
            f"nothing listens on {endpoint.label} (connection refused): check {endpoint.address_settings} "
            "and that the server is running"
        ) from None
    except OSError as error:
        raise StepError(
            f"cannot reach {endpoint.label} ({error.strerror or type(error).__name__}): check {endpoint.address_settings} "
            "and the network route from the scheduler"
        ) from None


def speaks_plain_redis(endpoint: Endpoint, timeout: float) -> bool:
    """Does a plain-text PING get a Redis answer (+PONG, -NOAUTH, -ERR…) on this port?"""
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64)[:1] in (b"+", b"-")
    except OSError:
        return False
