"""The guarded pool of ``http_session`` behind a ``requests`` session (the S2S consumer and
its OAuth token calls). Kept apart so the API's cold start never imports requests."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from chalicelib.providers.http_session import AddressGuard, guarded_pool_classes


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, guard: AddressGuard, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = guarded_pool_classes(self._guard)


def guarded_session(pool_size: int, hosts: int, guard: AddressGuard) -> requests.Session:
    """One pooled session per container: ``hosts`` host pools of ``pool_size`` connections."""
    session = requests.Session()
    # Calls go directly: no proxy or .netrc lookups from the environment (they also cost time
    # on every request, and a proxy would connect to addresses this module never checked).
    session.trust_env = False
    adapter = _GuardedAdapter(guard, pool_connections=hosts, pool_maxsize=pool_size,
                              max_retries=0, pool_block=False)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
