"""Privacy decisions counted per container: ``GET /v1/stats/privacy`` (privacy-signals.md 6).

Like the provider stats (``providers/stats.py``): counters since the container started, so a
caller sums them over containers. Per outcome (pass | us_optout | no_consent | invalid), per
signal present (tcf | gpp | us_privacy | gpc) and per suppressed activity. Thread-safe.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Mapping


class PrivacyStats:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._since = clock()
        self._events = 0
        self._outcomes: dict[str, int] = {}
        self._signals: dict[str, int] = {}
        self._suppressed: dict[str, int] = {}

    def record(self, decision: Mapping[str, Any]) -> None:
        """One event's ``privacy`` log object."""
        with self._lock:
            self._events += 1
            _bump(self._outcomes, str(decision.get("outcome", "pass")))
            for signal in decision.get("signals", ()):
                _bump(self._signals, str(signal).split(":", 1)[0])  # gpp:7,8 counts as gpp
            for activity in decision.get("suppressed", ()):
                _bump(self._suppressed, str(activity))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"since": round(self._since, 3), "events": self._events,
                    "outcomes": dict(self._outcomes), "signals": dict(self._signals),
                    "suppressed": dict(self._suppressed)}


def _bump(counter: dict[str, int], key: str) -> None:
    counter[key] = counter.get(key, 0) + 1
