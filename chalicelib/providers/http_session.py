"""The pooled HTTP session for server-side calls (providers, S2S destinations, OAuth tokens),
with the call-time half of the SSRF check (issue 13, defect 4).

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
from typing import Any, Callable, Iterable, Sequence

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from chalicelib.providers.addresses import address_problem

AddrInfo = tuple[Any, Any, int, str, Any]
Resolver = Callable[..., Sequence[AddrInfo]]


class BlockedAddress(Exception):
    """The host resolved to an address rtdcs may not call."""


class BlockedAddressError(NewConnectionError):
    """urllib3's form of :class:`BlockedAddress` (requests raises it as a ConnectionError)."""


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


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, guard: AddressGuard, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        http = type("GuardedHTTPPool", (HTTPConnectionPool,),
                    {"ConnectionCls": _guarded(HTTPConnection, self._guard)})
        https = type("GuardedHTTPSPool", (HTTPSConnectionPool,),
                     {"ConnectionCls": _guarded(HTTPSConnection, self._guard)})
        self.poolmanager.pool_classes_by_scheme = {"http": http, "https": https}


def make_session(
    pool_size: int = 64, hosts: int = 64, guard: AddressGuard | None = None
) -> requests.Session:
    """One pooled session per container: ``hosts`` host pools of ``pool_size`` connections.
    Every connection it opens goes through ``guard`` (no exemptions by default)."""
    session = requests.Session()
    # Calls go directly: no proxy or .netrc lookups from the environment (they also cost time
    # on every request, and a proxy would connect to addresses this module never checked).
    session.trust_env = False
    adapter = _GuardedAdapter(
        guard or AddressGuard(), pool_connections=hosts, pool_maxsize=pool_size,
        max_retries=0, pool_block=False,
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def is_blocked_address(exc: BaseException) -> bool:
    """Whether a requests error comes from a refused address."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, BlockedAddressError) or isinstance(exc, BlockedAddressError)
