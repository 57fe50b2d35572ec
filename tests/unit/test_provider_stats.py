"""provider-contract.md 7: per-provider counters, skips, latency percentiles, breaker state."""

from __future__ import annotations

import json
import threading

from chalicelib.providers.breaker import BreakerBoard
from chalicelib.providers.fanout import Outcome
from chalicelib.providers.stats import RESERVOIR, StatsRegistry, percentile


def _out(kind: str, detail: str = "", ms: float = 10.0, pid: int = 1) -> Outcome:
    return Outcome(pid, f"P{pid}", kind, ms, None, detail)


def test_counts_by_kind_error_kind_and_skip_reason() -> None:
    stats = StatsRegistry()
    for outcome in [_out("answered"), _out("answered"), _out("empty"), _out("timeout", "timeout"),
                    _out("timeout", "budget"), _out("error", "http_status"),
                    _out("error", "invalid_json"), _out("error", "http_status"),
                    _out("skipped", "no_sync"), _out("cached")]:
        stats.record(outcome)
    stats.record_skip(1, "consent")
    entry = stats.snapshot()["providers"]["1"]
    assert (entry["calls"], entry["answers"], entry["empty_answers"], entry["timeouts"]) == (
        8, 2, 1, 2)
    assert entry["timeouts_by"] == {"timeout": 1, "budget": 1}
    assert entry["errors"] == {"http_status": 2, "invalid_json": 1}
    assert entry["skips"] == {"no_sync": 1, "cache_hit": 1, "consent": 1}
    assert entry["calls"] == (entry["answers"] + entry["empty_answers"] + entry["timeouts"]
                              + sum(entry["errors"].values()))
    assert entry["latency_ms"]["samples"] == 8  # skips have no latency


def test_counted_outcomes_are_not_counted_twice() -> None:
    stats = StatsRegistry()
    stats.record_counted(_out("answered"))
    stats.record_all([Outcome(1, "P1", "answered", 5.0, None, "", counted=True),
                      _out("skipped", "tdpid")])
    entry = stats.snapshot()["providers"]["1"]
    assert entry["answers"] == 1 and entry["skips"] == {"tdpid": 1}


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None


def test_latency_reservoir_is_bounded_and_recent() -> None:
    stats = StatsRegistry()
    for _ in range(RESERVOIR):
        stats.record(_out("answered", ms=500.0))
    for _ in range(RESERVOIR):
        stats.record(_out("answered", ms=20.0))
    latency = stats.snapshot()["providers"]["1"]["latency_ms"]
    assert latency["samples"] == RESERVOIR
    assert latency["p99"] == 20.0 and latency["max"] == 20.0  # the old 500 ms are gone
    histogram = stats.snapshot()["providers"]["1"]["latency_histogram_ms"]
    assert histogram["le_25"] == RESERVOIR and histogram["le_500"] == RESERVOIR  # lifetime


def test_concurrent_recording_loses_nothing() -> None:
    stats = StatsRegistry()

    def work(pid: int) -> None:
        for i in range(2000):
            stats.record(_out("answered" if i % 2 else "error", "connection", pid=pid))

    threads = [threading.Thread(target=work, args=(pid % 3,)) for pid in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    providers = stats.snapshot()["providers"]
    assert sum(p["calls"] for p in providers.values()) == 12000
    assert all(p["answers"] == 2000 and p["errors"] == {"connection": 2000}
               for p in providers.values())


def test_snapshot_is_json_and_shows_breaker_state() -> None:
    board = BreakerBoard()
    stats = StatsRegistry(board.snapshot)
    stats.record(_out("answered", pid=1))
    for _ in range(5):
        board.get(2).record(False, trial=False)
    snapshot = json.loads(json.dumps(stats.snapshot()))
    assert snapshot["providers"]["1"]["breaker"]["state"] == "closed"
    assert snapshot["providers"]["2"]["breaker"]["state"] == "open"
    assert snapshot["providers"]["2"]["calls"] == 0
