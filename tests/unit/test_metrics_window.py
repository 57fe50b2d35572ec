"""Metrics held in a window (RTDCS_METRICS_WINDOW_S): written with a later event's line, at
once for failures, never more than EMF's 100 values; counts summed, latencies kept apart."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.config import MetricsSettings
from chalicelib.runtime.emf import MAX_VALUES
from chalicelib.runtime.observability import EventObserver, MetricsSink


@dataclass
class _Clock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class _Outcome:
    kind: str
    latency_ms: float


@dataclass(frozen=True)
class _Error:
    code: int


@dataclass
class _Result:
    now: float
    errors: list[_Error] = field(default_factory=list)
    log: dict[str, Any] = field(default_factory=lambda: {"tid": "t"})
    outcomes: list[_Outcome] = field(
        default_factory=lambda: [_Outcome("answered", 12.0), _Outcome("timeout", 250.0)])


def _setup(window_s: float) -> tuple[EventObserver, MetricsSink, _Clock, io.StringIO, list[str]]:
    clock = _Clock()
    emitted: list[str] = []
    sink = MetricsSink(namespace="rtdcs", service="rtdcs-test", emit=emitted.append,
                       enabled=True, window_s=window_s, clock=clock)
    stream = io.StringIO()
    observer = EventObserver(sink, stream=stream, wall_clock=clock, detail_rate=0.0)
    return observer, sink, clock, stream, emitted


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_without_a_window_every_line_carries_its_document() -> None:
    observer, _, clock, stream, _ = _setup(0)
    for _ in range(3):
        observer.event_done(_Result(now=clock.now - 0.005))
    lines = _lines(stream)
    assert [line["Events"] for line in lines] == [[1.0]] * 3
    assert all("_aws" in line for line in lines)


def test_a_window_is_written_with_the_first_event_that_finds_it_old() -> None:
    observer, _, clock, stream, emitted = _setup(10)
    started = clock.now
    for step, latency_s in ((0.0, 0.004), (4.0, 0.006), (5.9, 0.008), (0.2, 0.010)):
        clock.now += step
        observer.event_done(_Result(now=clock.now - latency_s))
    lines = _lines(stream)
    assert ["_aws" in line for line in lines] == [False, False, False, True]
    assert all(line["tid"] == "t" for line in lines)  # every event keeps its own line
    document = lines[3]
    assert document["Events"] == [4.0]  # counts summed into one value
    assert document["ProviderCalls"] == [8.0] and document["ProviderTimeouts"] == [4.0]
    assert document["EventLatency"] == [4.0, 6.0, 8.0, 10.0]  # one value per event
    assert document["_aws"]["Timestamp"] == int(started * 1000)  # the window's start
    assert emitted == []
    clock.now += 1
    observer.event_done(_Result(now=clock.now))
    assert "_aws" not in _lines(stream)[4]  # a new window began


def test_a_failure_is_written_at_once_with_what_the_window_held() -> None:
    observer, sink, clock, stream, _ = _setup(10)
    observer.event_done(_Result(now=clock.now))
    clock.now += 1
    sink.count("SpooledEvents")
    observer.event_done(_Result(now=clock.now, errors=[_Error(200)]))
    lines = _lines(stream)
    assert "_aws" not in lines[0]
    assert lines[1]["EventStorageErrors"] == [1.0] and lines[1]["SpooledEvents"] == [1.0]
    assert lines[1]["Events"] == [2.0]


def test_a_window_never_holds_more_than_emf_allows() -> None:
    observer, _, clock, stream, emitted = _setup(60)
    for _ in range(MAX_VALUES):
        observer.event_done(_Result(now=clock.now))
    lines = _lines(stream)
    assert not any("_aws" in line for line in lines[:-1])
    assert len(lines[-1]["EventLatency"]) == MAX_VALUES and lines[-1]["Events"] == [100.0]
    assert emitted == []


def test_the_window_is_read_from_the_environment_and_bounded() -> None:
    assert MetricsSettings.from_env({}).window_s == 0.0
    assert MetricsSettings.from_env({"RTDCS_METRICS_WINDOW_S": "10"}).window_s == 10.0
    assert MetricsSettings.from_env({"RTDCS_METRICS_WINDOW_S": "3600"}).window_s == 60.0
    assert MetricsSettings.from_env({"RTDCS_METRICS_WINDOW_S": "-1"}).window_s == 0.0
    assert MetricsSettings.from_env({"RTDCS_METRICS_WINDOW_S": "soon"}).window_s == 0.0


def test_a_sink_built_from_the_environment_holds_its_window(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setenv("RTDCS_METRICS_WINDOW_S", "10")
    sink = MetricsSink(emit=lambda _: None, enabled=True, clock=clock)
    sink.count("Events")
    assert not sink.due() and sink.take_due() is None
    clock.now += 10
    assert sink.due()
    monkeypatch.delenv("RTDCS_METRICS_WINDOW_S")
    assert MetricsSink(emit=lambda _: None, enabled=True).due() is False  # nothing held
    unwindowed = MetricsSink(emit=lambda _: None, enabled=True, clock=clock)
    unwindowed.count("Events")
    assert unwindowed.due()
