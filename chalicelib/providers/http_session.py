"""The pooled HTTP clients for server-side calls (providers: a urllib3 pool manager; S2S
destinations and OAuth tokens: a requests session on the same guarded pool classes), with the
call-time half of the SSRF check (issue 13, defect 4).

A URL's host is checked as written at save time (``addresses.py``). A DNS name can still
resolve to an internal address when it is called (a changed record, DNS rebinding). So every
new connection resolves its host once here, refuses the call if *any* address is internal
(``address_problem``), and connects to one of exactly the addresses it checked: the
connection is pinned, no second lookup happens between the check and the connect. TLS still
verifies the certificate and sends SNI for the host name (urllib3 does that above
``_new_conn``). Hosts, and addresses, listed in ``RTDCS_PROVIDERS_HTTP_HOSTS`` are exempt.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError
from urllib3.util import make_headers
from urllib3.util.connection import allowed_gai_family

from chalicelib.providers.addresses import address_problem

if TYPE_CHECKING:
    import requests

AddrInfo = tuple[Any, Any, int, str, Any]
Resolver = Callable[..., Sequence[AddrInfo]]


class BlockedAddress(Exception):
    """The host resolved to an address rtdcs may not call."""


class BlockedAddressError(NewConnectionError):
    """urllib3's form of :class:`BlockedAddress` (requests wraps it in a ConnectionError)."""


class AddressGuard:
    """Resolves a host and checks every address it resolves to."""

    def __init__(self, exempt: Iterable[str] = (), resolve: Resolver = socket.getaddrinfo) -> None:
        self.exempt = tuple(host.lower().rstrip(".") for host in exempt)
        self._resolve = resolve

    def addresses(self, host: str, port: int) -> list[AddrInfo]:
        name = host.strip("[]")
        infos = list(self._resolve(name, port, allowed_gai_family(), socket.SOCK_STREAM))
        if name.lower().rstrip(".") in self.exempt:
            return infos
        for info in infos:
            problem = address_problem(str(info[4][0]), self.exempt)
            if problem:
                raise BlockedAddress(f"{name} resolves to {info[4][0]}: {problem}")
        return infos


def connect_checked(
    guard: AddressGuard, host: str, port: int, timeout: float | None, socket_options: Any
) -> socket.socket:
    """Like ``urllib3.util.connection.create_connection``, to the checked addresses only."""
    error: OSError | None = None
    for family, kind, proto, _, address in guard.addresses(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error or OSError("getaddrinfo returned no address")


def _guarded(connection_class: type[HTTPConnection], guard: AddressGuard) -> type[HTTPConnection]:
    def _new_conn(self: HTTPConnection) -> socket.socket:
        try:
            sock = connect_checked(guard, self._dns_host, self.port,  # type: ignore[attr-defined]
                                   _socket_timeout(self.timeout), self.socket_options)
        except BlockedAddress as exc:
            raise BlockedAddressError(self, str(exc)) from None
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        return sock

    name = f"Guarded{connection_class.__name__}"
    return type(name, (connection_class,), {"_new_conn": _new_conn})


def _socket_timeout(timeout: Any) -> float | None:
    # urllib3 passes a float, None (blocking) or its "use the socket default" sentinel.
    if timeout is None or isinstance(timeout, (int, float)):
        return timeout
    return socket.getdefaulttimeout()


def guarded_pool_classes(guard: AddressGuard) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3's pool classes by scheme, whose every new connection goes through ``guard``."""
    http = type("GuardedHTTPPool", (HTTPConnectionPool,),
                {"ConnectionCls": _guarded(HTTPConnection, guard)})
    https = type("GuardedHTTPSPool", (HTTPSConnectionPool,),
                 {"ConnectionCls": _guarded(HTTPSConnection, guard)})
    return {"http": http, "https": https}


# What requests sent by default (bar its User-Agent), for callers to start their headers
# from: a request's own headers replace a PoolManager's, they are not merged.
DEFAULT_HEADERS: dict[str, str] = {**make_headers(accept_encoding=True), "Accept": "*/*"}


def make_pool(
    pool_size: int = 64, hosts: int = 64, guard: AddressGuard | None = None
) -> PoolManager:
    """The providers' pooled client, urllib3 itself (botocore has loaded it already; requests
    costs ~17 ms of a cold start): ``hosts`` keep-alive host pools of ``pool_size``
    connections that never block, no retries, no proxy from the environment. Every
    connection it opens goes through ``guard`` (no exemptions by default)."""
    manager = PoolManager(num_pools=hosts, maxsize=pool_size, block=False, retries=False)
    manager.pool_classes_by_scheme = guarded_pool_classes(guard or AddressGuard())
    return manager


def make_session(
    pool_size: int = 64, hosts: int = 64, guard: AddressGuard | None = None
) -> requests.Session:
    """A pooled ``requests`` session with the same guard, for the S2S consumer (its own
    Lambda). requests is imported here, never on the API's path."""
    from chalicelib.providers.requests_session import guarded_session

    return guarded_session(pool_size, hosts, guard or AddressGuard())


def is_blocked_address(exc: BaseException) -> bool:
    """Whether an error (urllib3's, or requests' wrapping of it) comes from a refused address."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, BlockedAddressError) or isinstance(exc, BlockedAddressError)
