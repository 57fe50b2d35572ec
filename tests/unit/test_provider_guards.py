"""provider-contract.md 1 and 5: the circuit breaker and the maxQps cap, on an injected clock."""

from __future__ import annotations

import pytest

from chalicelib.providers.breaker import BreakerBoard, BreakerPolicy, CircuitBreaker, Permit
from chalicelib.providers.qps import QpsLimiter


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(BreakerPolicy(), clock)


def _calls(breaker: CircuitBreaker, results: str) -> None:
    """``results``: one letter per call, ``o`` success, ``x`` failure."""
    for letter in results:
        assert breaker.acquire() is Permit.CALL
        breaker.record(letter == "o", trial=False)


def test_five_consecutive_failures_open_the_breaker() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    _calls(breaker, "oxxxx")
    assert breaker.acquire() is Permit.CALL  # four in a row: still closed
    breaker.record(False, trial=False)
    assert breaker.acquire() is Permit.DENY
    assert breaker.snapshot()["state"] == "open"


def test_a_success_resets_the_streak() -> None:
    breaker = _breaker(FakeClock())
    _calls(breaker, "xxxxoxxxx")
    assert breaker.acquire() is Permit.CALL


def test_half_of_the_last_twenty_calls_failing_opens_it() -> None:
    breaker = _breaker(FakeClock())
    _calls(breaker, "xo" * 9 + "x")  # 19 calls, 10 failures: the window is not full yet
    assert breaker.acquire() is Permit.CALL
    breaker.record(True, trial=False)  # 20 calls, 10 failures = 50%
    assert breaker.acquire() is Permit.DENY


def test_under_half_failing_over_twenty_stays_closed() -> None:
    breaker = _breaker(FakeClock())
    _calls(breaker, "xoo" * 20)  # a third failing, never four in a row
    assert breaker.acquire() is Permit.CALL
    assert breaker.snapshot()["recent_calls"] == 20


def test_open_for_thirty_seconds_then_one_trial_decides() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    _calls(breaker, "xxxxx")
    clock.advance(29.9)
    assert breaker.acquire() is Permit.DENY
    clock.advance(0.2)
    assert breaker.acquire() is Permit.TRIAL
    assert breaker.acquire() is Permit.DENY  # a concurrent event while the trial runs
    assert breaker.snapshot()["trial_in_flight"] is True
    breaker.record(True, trial=True)
    assert breaker.snapshot()["state"] == "closed"
    assert breaker.acquire() is Permit.CALL
    _calls(breaker, "xxxx")  # a clean history after closing: four failures do not open it
    assert breaker.acquire() is Permit.CALL


def test_failed_trial_opens_for_another_thirty_seconds() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    _calls(breaker, "xxxxx")
    clock.advance(30)
    assert breaker.acquire() is Permit.TRIAL
    breaker.record(False, trial=True)
    clock.advance(29)
    assert breaker.acquire() is Permit.DENY
    clock.advance(1)
    assert breaker.acquire() is Permit.TRIAL
    assert breaker.snapshot()["times_opened"] == 2


def test_late_results_of_older_calls_do_not_decide_while_open() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    _calls(breaker, "xxxxx")
    breaker.record(True, trial=False)  # a call started before it opened, finishing now
    assert breaker.acquire() is Permit.DENY
    clock.advance(30)
    assert breaker.acquire() is Permit.TRIAL
    breaker.record(True, trial=False)  # still not the trial
    assert breaker.acquire() is Permit.DENY


def test_unused_trial_is_released() -> None:
    clock = FakeClock()
    breaker = _breaker(clock)
    _calls(breaker, "xxxxx")
    clock.advance(30)
    assert breaker.acquire() is Permit.TRIAL
    breaker.release_trial()
    assert breaker.acquire() is Permit.TRIAL


def test_snapshot_shows_retry_time() -> None:
    clock = FakeClock()
    board = BreakerBoard(clock=clock)
    for _ in range(5):
        board.get(7).acquire()
        board.get(7).record(False, trial=False)
    clock.advance(10)
    state = board.snapshot()[7]
    assert state["state"] == "open" and state["retry_in_s"] == pytest.approx(20.0)
    assert board.get(8).acquire() is Permit.CALL  # breakers are per provider


def test_qps_cap_per_provider_and_sliding_second() -> None:
    clock = FakeClock()
    limiter = QpsLimiter(clock)
    assert [limiter.try_acquire(1, 3) for _ in range(4)] == [True, True, True, False]
    assert limiter.try_acquire(2, 3)  # another provider has its own window
    clock.advance(0.5)
    assert not limiter.try_acquire(1, 3)
    clock.advance(0.5)  # the first three calls are one second old now
    assert [limiter.try_acquire(1, 3) for _ in range(4)] == [True, True, True, False]


def test_qps_none_is_unlimited_and_zero_allows_nothing() -> None:
    limiter = QpsLimiter(FakeClock())
    assert all(limiter.try_acquire(1, None) for _ in range(1000))
    assert not limiter.try_acquire(2, 0)


def test_qps_cap_change_applies_at_once() -> None:
    limiter = QpsLimiter(FakeClock())
    assert all(limiter.try_acquire(1, 5) for _ in range(3))
    assert not limiter.try_acquire(1, 2)  # lowered below what this second already used
