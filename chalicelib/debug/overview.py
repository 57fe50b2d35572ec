"""The console's overview numbers, per container and in memory (like /v1/stats/providers):
events per minute over the last hour, /event latency percentiles, error codes, privacy outcomes.
Recording costs a few dictionary updates, no I/O."""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, Iterable

WINDOW_MINUTES = 60
_MAX_LATENCIES = 2000  # per minute: a sample is enough for p50/p99


class _Minute:
    __slots__ = ("count", "latencies", "errors", "privacy")

    def __init__(self) -> None:
        self.count = 0
        self.latencies: list[float] = []
        self.errors: dict[int, int] = {}
        self.privacy: dict[str, int] = {}


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered), max(1, math.ceil(fraction * len(ordered)))) - 1
    return round(ordered[index], 1)


class EventStats:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._minutes: dict[int, _Minute] = {}

    def record(self, latency_ms: float, error_codes: Iterable[int], privacy: str | None) -> None:
        minute = int(self._clock() // 60)
        with self._lock:
            bucket = self._minutes.get(minute)
            if bucket is None:
                bucket = self._minutes[minute] = _Minute()
                for old in [m for m in self._minutes if m <= minute - WINDOW_MINUTES]:
                    del self._minutes[old]
            bucket.count += 1
            if len(bucket.latencies) < _MAX_LATENCIES:
                bucket.latencies.append(latency_ms)
            for code in error_codes:
                bucket.errors[code] = bucket.errors.get(code, 0) + 1
            if privacy:
                bucket.privacy[privacy] = bucket.privacy.get(privacy, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        now_minute = int(self._clock() // 60)
        first = now_minute - WINDOW_MINUTES + 1
        with self._lock:
            minutes = {m: b for m, b in self._minutes.items() if m >= first}
            latencies = [v for b in minutes.values() for v in b.latencies]
            errors: dict[str, int] = {}
            privacy: dict[str, int] = {}
            for bucket in minutes.values():
                for code, n in bucket.errors.items():
                    errors[str(code)] = errors.get(str(code), 0) + n
                for outcome, n in bucket.privacy.items():
                    privacy[outcome] = privacy.get(outcome, 0) + n
            per_minute = [{"minute": m * 60, "events": minutes[m].count if m in minutes else 0}
                          for m in range(first, now_minute + 1)]
        return {
            "scope": "container",
            "eventsPerMinute": per_minute,
            "events": sum(p["events"] for p in per_minute),
            "latencyMs": {"p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99)},
            "errors": dict(sorted(errors.items())),
            "privacy": dict(sorted(privacy.items())),
        }


_stats = EventStats()


def event_stats() -> EventStats:
    """This container's numbers (one per process, like the provider stats)."""
    return _stats
