"""``maxQps``: a per-container, per-provider cap on calls per second (provider-contract.md 1).

An exact sliding window: a call is allowed when fewer than ``max_qps`` calls were allowed in
the last second. Memory per provider is bounded by ``max_qps`` timestamps. A cap of 0 (or
less) allows no call at all. Thread-safe; the clock is injected.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

Clock = Callable[[], float]
WINDOW_SECONDS = 1.0


class QpsLimiter:
    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[int, deque[float]] = {}

    def try_acquire(self, pid: int, max_qps: int | None) -> bool:
        if max_qps is None:
            return True
        if max_qps <= 0:
            return False
        with self._lock:
            now = self._clock()
            calls = self._calls.get(pid)
            if calls is None or calls.maxlen != max_qps:  # new provider or a changed cap
                calls = deque(calls or (), maxlen=max_qps)
                self._calls[pid] = calls
            while calls and now - calls[0] >= WINDOW_SECONDS:
                calls.popleft()
            if len(calls) >= max_qps:
                return False
            calls.append(now)
            return True
