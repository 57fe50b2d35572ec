"""Where rtdcs may send a server-side request (providers, S2S destinations, OAuth token URLs):
not to this machine, its network or the cloud's metadata service (SSRF, issue 13).

A host that is an IP literal must be a public unicast address; ``localhost`` names are
refused too. Hosts in ``RTDCS_PROVIDERS_HTTP_HOSTS`` (the local stack, tests) are exempt.
Names are checked as written here, at save time; what a name resolves to is checked at call
time by ``http_session.AddressGuard`` (docs/decisions.md).
"""

from __future__ import annotations

import ipaddress

_LOCAL_NAMES = ("localhost", "localhost.localdomain")


def address_problem(host: str, exempt: tuple[str, ...] = ()) -> str | None:
    """Why ``host`` may not be called, or None. ``host`` as ``urlsplit().hostname`` gives it."""
    name = host.lower().rstrip(".")
    if name in exempt:
        return None
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return "a local host name"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None  # a DNS name
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if (address.is_loopback or address.is_link_local or address.is_private
            or address.is_multicast or address.is_unspecified or address.is_reserved
            or not address.is_global):
        return f"{address} is not a public address"
    return None
