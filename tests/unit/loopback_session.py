"""The providers' connection pool as the tests use it: loopback exempt from the SSRF check."""

from __future__ import annotations

from urllib3 import PoolManager

from chalicelib.providers import http_session


def make_pool(pool_size: int = 64, hosts: int = 64) -> PoolManager:
    guard = http_session.AddressGuard(("127.0.0.1",))
    return http_session.make_pool(pool_size, hosts, guard)
