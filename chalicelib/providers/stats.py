"""What provider calls leave behind, per provider and container (provider-contract.md 7).

Counters: ``calls`` (requests attempted) = ``answers`` + ``empty_answers`` + ``timeouts`` +
sum(``errors``); ``timeouts`` split by cause in ``timeouts_by`` (``timeout``: the provider's
own deadline or the socket gave up; ``budget``: the event's budget cut it; ``queued``: it never
left the queue before its deadline); ``errors`` by kind (``http_status``, ``invalid_json``,
``wrong_shape``, ``body_too_large``, ``connection``, ``secret``, ``auth_config``, ...);
``skips`` by reason (``breaker``, ``qps``, ``consent``, ``no_sync``, ``cache_hit``, ``tdpid``,
``insecure_url``, ...) -- a skip is not a call.

Latency of calls (timeouts included): p50/p95/p99/max over the last ``RESERVOIR`` calls (a
ring, so memory is fixed and the figures follow recent behaviour), a lifetime histogram with
fixed bounds, and a smoothed value (EWMA) the fan-out uses to start slow providers first.
Thread-safe.

The fan-out records the calls it makes (and the skips it decides) and marks those outcomes
``counted``; :meth:`StatsRegistry.record` ignores counted outcomes, so the pipeline may pass
every outcome of an event through it without counting anything twice.
"""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:
    from chalicelib.providers.fanout import Outcome

RESERVOIR = 1024
HISTOGRAM_BOUNDS_MS = (5, 10, 25, 50, 100, 150, 200, 250, 500, 1000, 2000)
EWMA_ALPHA = 0.2
_SKIP_FOR_KIND = {"cached": "cache_hit"}


class _ProviderStats:
    # Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
    __slots__ = ("name", "calls", "answers", "empty_answers", "timeouts", "timeouts_by",
                 "errors", "skips", "latencies", "next_slot", "histogram", "ewma_ms")

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.answers = 0
        self.empty_answers = 0
        self.timeouts = 0
        self.timeouts_by: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.skips: dict[str, int] = {}
        self.latencies: list[float] = []  # ring of RESERVOIR entries
        self.next_slot = 0
        self.histogram = [0] * (len(HISTOGRAM_BOUNDS_MS) + 1)
        self.ewma_ms: float | None = None  # smoothed recent latency: slow ones start first

    def add_latency(self, ms: float) -> None:
        self.ewma_ms = ms if self.ewma_ms is None else self.ewma_ms + EWMA_ALPHA * (
            ms - self.ewma_ms)
        if len(self.latencies) < RESERVOIR:
            self.latencies.append(ms)
        else:
            self.latencies[self.next_slot] = ms
        self.next_slot = (self.next_slot + 1) % RESERVOIR
        index = next(
            (i for i, bound in enumerate(HISTOGRAM_BOUNDS_MS) if ms <= bound),
            len(HISTOGRAM_BOUNDS_MS),
        )
        self.histogram[index] += 1


def _bump(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(fraction * len(sorted_values) - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class StatsRegistry:
    def __init__(
        self,
        breaker_states: Callable[[], dict[int, dict[str, Any]]] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._lock = threading.Lock()
        self._providers: dict[int, _ProviderStats] = {}
        self._breaker_states = breaker_states
        self._since = wall_clock()

    def attach_breakers(self, breaker_states: Callable[[], dict[int, dict[str, Any]]]) -> None:
        self._breaker_states = breaker_states

    # -- recording --------------------------------------------------------------------------
    def record(self, outcome: "Outcome") -> None:
        """Count one outcome decided outside the fan-out (skips, cached answers, ...)."""
        if outcome.counted:
            return
        self._record(outcome)

    def record_all(self, outcomes: Iterable["Outcome"]) -> None:
        for outcome in outcomes:
            self.record(outcome)

    def record_skip(self, pid: int, reason: str, name: str = "") -> None:
        with self._lock:
            _bump(self._entry(pid, name).skips, reason)

    def record_counted(self, outcome: "Outcome") -> None:
        """The fan-out's own entry point (it marks the outcome ``counted`` afterwards)."""
        self._record(outcome)

    def _record(self, outcome: "Outcome") -> None:
        kind = outcome.kind
        with self._lock:
            entry = self._entry(outcome.pid, outcome.name)
            if kind in ("skipped", "cached"):
                _bump(entry.skips, _SKIP_FOR_KIND.get(kind) or outcome.detail or "unknown")
                return
            entry.calls += 1
            entry.add_latency(outcome.latency_ms)
            if kind == "answered":
                entry.answers += 1
            elif kind == "empty":
                entry.empty_answers += 1
            elif kind == "timeout":
                entry.timeouts += 1
                _bump(entry.timeouts_by, outcome.detail or "timeout")
            else:
                _bump(entry.errors, outcome.detail or kind)

    def _entry(self, pid: int, name: str) -> _ProviderStats:
        entry = self._providers.get(pid)
        if entry is None:
            entry = self._providers[pid] = _ProviderStats(name)
        elif name and entry.name != name:
            entry.name = name  # renamed in the catalog
        return entry

    # -- reading ----------------------------------------------------------------------------
    def expected_latency_ms(self, pid: int) -> float | None:
        """Smoothed latency of the provider's recent calls (None before its first call)."""
        with self._lock:
            entry = self._providers.get(pid)
            return entry.ewma_ms if entry is not None else None

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready: ``{"since": epoch_s, "providers": {"<pid>": {...}}}``."""
        breakers = self._breaker_states() if self._breaker_states else {}
        with self._lock:
            copies = {
                pid: (entry, sorted(entry.latencies), list(entry.histogram))
                for pid, entry in self._providers.items()
            }
            providers = {
                str(pid): _entry_snapshot(pid, entry, ordered, histogram)
                for pid, (entry, ordered, histogram) in copies.items()
            }
        for pid, state in breakers.items():
            providers.setdefault(str(pid), _entry_snapshot(pid, _ProviderStats(""), [], []))
            providers[str(pid)]["breaker"] = state
        return {"since": round(self._since, 3), "providers": providers}


def _entry_snapshot(
    pid: int, entry: _ProviderStats, ordered: list[float], histogram: list[int]
) -> dict[str, Any]:
    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    bounds = [f"le_{b}" for b in HISTOGRAM_BOUNDS_MS] + [f"gt_{HISTOGRAM_BOUNDS_MS[-1]}"]
    return {
        "pid": pid,
        "name": entry.name,
        "calls": entry.calls,
        "answers": entry.answers,
        "empty_answers": entry.empty_answers,
        "timeouts": entry.timeouts,
        "timeouts_by": dict(entry.timeouts_by),
        "errors": dict(entry.errors),
        "skips": dict(entry.skips),
        "latency_ms": {
            "samples": len(ordered),
            "p50": ms(percentile(ordered, 0.50)),
            "p95": ms(percentile(ordered, 0.95)),
            "p99": ms(percentile(ordered, 0.99)),
            "max": ms(ordered[-1] if ordered else None),
            "ewma": ms(entry.ewma_ms),
        },
        "latency_histogram_ms": dict(zip(bounds, histogram, strict=True)) if histogram else {},
        "breaker": {"state": "closed"},
    }
