"""A per-container token bucket: over the configured rate, /event answers 429 (issue #3)."""

from __future__ import annotations

import threading
import time
from typing import Callable


class TokenBucket:
    """``rate`` requests per second with bursts of up to one second's worth; 0 = unlimited."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._capacity = max(rate, 1.0)
        self._tokens = self._capacity
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    def allow(self) -> bool:
        if self._rate <= 0:
            return True
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False
