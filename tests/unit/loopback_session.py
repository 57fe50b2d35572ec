"""The providers' session as the tests use it: loopback exempt from the SSRF check."""

from __future__ import annotations

import requests

from chalicelib.providers import http_session


def make_session(pool_size: int = 64, hosts: int = 64) -> requests.Session:
    guard = http_session.AddressGuard(("127.0.0.1",))
    return http_session.make_session(pool_size, hosts, guard)
