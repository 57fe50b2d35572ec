"""Circuit breaker per provider and container (provider-contract.md 5).

* closed: calls go out. It opens after ``failure_streak`` consecutive failures, or when the
  last ``window`` calls (a full window) hold at least ``failure_ratio`` failures.
* open: every call is skipped for ``open_seconds``.
* half-open: the first call after that is the one trial; calls of concurrent events are
  skipped while it runs. Its success closes the breaker with a clean history; its failure
  opens it for another ``open_seconds``.

Results of calls that started before the breaker opened are ignored while it is open or
half-open: only the trial decides. Thread-safe; the clock is injected.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from enum import Enum
from typing import Any, Callable, NamedTuple

Clock = Callable[[], float]


class Permit(Enum):
    CALL = "call"
    TRIAL = "trial"
    DENY = "deny"


# Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
class BreakerPolicy(NamedTuple):
    failure_streak: int = 5
    window: int = 20
    failure_ratio: float = 0.5
    open_seconds: float = 30.0
    # A trial whose result never came back (it always does: the fan-out settles every call)
    # stops blocking new trials after this long.
    trial_timeout_seconds: float = 10.0


class CircuitBreaker:
    def __init__(self, policy: BreakerPolicy, clock: Clock) -> None:
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._state = "closed"
        self._streak = 0
        self._recent: deque[bool] = deque(maxlen=policy.window)  # True = failure
        self._opened_at = 0.0
        self._trial_started: float | None = None
        self._opened_count = 0

    def acquire(self) -> Permit:
        with self._lock:
            if self._state == "closed":
                return Permit.CALL
            now = self._clock()
            if self._state == "open":
                if now - self._opened_at < self._policy.open_seconds:
                    return Permit.DENY
                self._state = "half_open"
                self._trial_started = None
            if self._trial_started is not None and (
                now - self._trial_started < self._policy.trial_timeout_seconds
            ):
                return Permit.DENY
            self._trial_started = now
            return Permit.TRIAL

    def release_trial(self) -> None:
        """A granted trial was not used (e.g. the QPS cap refused the call)."""
        with self._lock:
            if self._state == "half_open":
                self._trial_started = None

    def record(self, success: bool, trial: bool) -> None:
        with self._lock:
            if self._state != "closed":
                if not trial or self._state != "half_open":
                    return
                if success:
                    self._close()
                else:
                    self._open()
                return
            self._streak = 0 if success else self._streak + 1
            self._recent.append(not success)
            policy = self._policy
            full = len(self._recent) == policy.window
            if self._streak >= policy.failure_streak or (
                full and sum(self._recent) >= policy.failure_ratio * policy.window
            ):
                self._open()

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._trial_started = None
        self._opened_count += 1

    def _close(self) -> None:
        self._state = "closed"
        self._streak = 0
        self._recent.clear()
        self._trial_started = None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state = self._state
            retry_in = None
            if state == "open":
                elapsed = self._clock() - self._opened_at
                retry_in = round(max(0.0, self._policy.open_seconds - elapsed), 3)
                if retry_in == 0:
                    state = "half_open"  # the next call is the trial
            return {
                "state": state,
                "consecutive_failures": self._streak,
                "recent_calls": len(self._recent),
                "recent_failures": sum(self._recent),
                "retry_in_s": retry_in,
                "trial_in_flight": state == "half_open" and self._trial_started is not None,
                "times_opened": self._opened_count,
            }


class BreakerBoard:
    """One breaker per provider id, created on first use."""

    def __init__(self, policy: BreakerPolicy | None = None, clock: Clock = time.monotonic) -> None:
        self._policy = policy or BreakerPolicy()
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[int, CircuitBreaker] = {}

    def get(self, pid: int) -> CircuitBreaker:
        breaker = self._breakers.get(pid)
        if breaker is None:
            with self._lock:
                breaker = self._breakers.setdefault(pid, CircuitBreaker(self._policy, self._clock))
        return breaker

    def snapshot(self) -> dict[int, dict[str, Any]]:
        with self._lock:
            breakers = dict(self._breakers)
        return {pid: breaker.snapshot() for pid, breaker in breakers.items()}
