"""An SSM parameter (decrypted) read at most once per refresh interval, shared by the readers
of secrets that rotate: the admin token (chalicelib/admin/auth.py) and the ``d_blob`` key
(chalicelib/identity/blob.py). After a rotation the new value is in use on every container
within the interval. Thread-safe; the SSM client and the clock are injected."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable


class CachedParameter:
    def __init__(self, ssm_client_factory: Callable[[], Any],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ssm_client_factory = ssm_client_factory
        self._clock = clock
        self._lock = threading.Lock()
        self._client: Any = None
        self._cached: tuple[str, str, float] | None = None  # (parameter, value, read at)

    def get(self, name: str, refresh_s: float) -> str:
        """The parameter's value; raises whatever reading it raised (nothing is cached)."""
        value = self._fresh(name, refresh_s)
        if value is not None:
            return value
        with self._lock:
            value = self._fresh(name, refresh_s)
            if value is not None:
                return value
            if self._client is None:
                self._client = self._ssm_client_factory()
            answer = self._client.get_parameter(Name=name, WithDecryption=True)
            value = str(answer["Parameter"]["Value"])
            self._cached = (name, value, self._clock())
            return value

    def _fresh(self, name: str, refresh_s: float) -> str | None:
        cached = self._cached
        if cached is not None and cached[0] == name and self._clock() - cached[2] < refresh_s:
            return cached[1]
        return None
