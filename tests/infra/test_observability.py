"""One structured JSON log line per event, without p_ data or secrets; EMF metrics."""

from __future__ import annotations

import io
import json
import uuid as uuidlib
from typing import Any

import pytest

from chalicelib.runtime import observability
from chalicelib.runtime.observability import EventObserver, MetricsSink, sanitize

TOKEN = "admin-token-7f3a9c1d2e"
P_VALUE = "hunter2-private-value"


def _observer(detail_rate: float = 1.0) -> tuple[EventObserver, io.StringIO, list[str]]:
    stream = io.StringIO()
    emitted: list[str] = []
    sink = MetricsSink(namespace="rtdcs", service="rtdcs-test", emit=emitted.append, enabled=True)
    observer = EventObserver(sink, stream=stream, service=f"rtdcs-test-{uuidlib.uuid4().hex[:8]}",
                             detail_rate=detail_rate)
    observability.install(observer)
    return observer, stream, emitted


def test_sanitize_drops_p_keys_secret_keys_and_secret_values() -> None:
    env = {"RTDCS_ADMIN_TOKEN": TOKEN, "AWS_SECRET_ACCESS_KEY": "short"}
    record = {
        "signals": {"c_a": ["x", f"Bearer {TOKEN}"], "p_email": [P_VALUE], "P_upper": ["y"]},
        "nested": [{"p_x": 1, "authorization": "z", "keep": 2}],
        "set": {"b", "a"},
    }
    assert sanitize(record, env) == {
        "signals": {"c_a": ["x", "[redacted]"]},
        "nested": [{"keep": 2}],
        "set": ["a", "b"],
    }


def test_one_json_line_per_event_without_p_values_or_secrets(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTDCS_ADMIN_TOKEN", TOKEN)
    _, stream, emitted = _observer()
    response = client.http.get(
        f"/event?d_rtbd=json&c_section=sports&p_email={P_VALUE}&c_note={TOKEN}",
        headers={"Authorization": f"Bearer {TOKEN}", "Cookie": "other=1"},
    )
    assert response.status_code == 200
    tid = json.loads(response.body)["tid"]

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and emitted == [], "one line: the EMF document is the log line"
    line = json.loads(lines[0])
    assert line["tid"] == tid
    assert line["signals"]["c_section"] == ["sports"]  # detail_rate 1 (the local stage's)
    assert line["signals"]["c_note"] == ["[redacted]"]
    assert line["n"]["signals"] == len(line["signals"]) + ("h_referrer" in line["signals"])
    text = lines[0]
    assert P_VALUE not in text and '"p_' not in text and TOKEN not in text

    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "rtdcs" and directive["Dimensions"] == [["service"]]
    assert line["service"] == "rtdcs-test"
    assert line["Events"] == [1.0]
    assert line["EventLatency"][0] > 0
    assert line["ProviderCalls"] == [2.0]  # the two simulated providers


def test_metrics_count_dynamodb_errors_and_spooled_events(
    client: Any, tables: dict[str, str]
) -> None:
    from chalicelib.store.dynamo import write_table
    from tests.infra.spool_kit import FaultInjector

    _, stream, _ = _observer()
    first = json.loads(client.http.get("/event?d_rtbd=json&c_section=sports").body)
    stream.truncate(0)
    stream.seek(0)
    with FaultInjector(write_table(tables["profiles"]).meta.client, fail_rate=1.0) as faults:
        client.http.get("/event?d_rtbd=json&c_section=sports",
                        headers={"Cookie": f"rtdcs_uuid={first['uuid']}"})
    document = json.loads(stream.getvalue().splitlines()[0])
    assert sum(document["DynamoDBErrors"]) == faults.failed >= 2
    assert sum(document["ProfileWriteRetries"]) == faults.failed - 1
    assert document["SpooledEvents"] == [1.0]
    assert "EventStorageErrors" not in document  # spooled is not an error for the page


def test_flush_with_nothing_counted_emits_nothing() -> None:
    emitted: list[str] = []
    sink = MetricsSink(namespace="rtdcs", service="s", emit=emitted.append, enabled=True)
    assert sink.flush() is None and emitted == []
    sink.count("Events")
    disabled = MetricsSink(namespace="rtdcs", service="s", emit=emitted.append, enabled=False)
    disabled.count("Events")
    assert disabled.flush() is not None and emitted == []  # counted, cleared, not printed
    assert sink.flush() is not None and len(emitted) == 1


def test_lines_without_detail_keep_counts_and_drop_lists(client: Any) -> None:
    _, stream, _ = _observer(detail_rate=0.0)
    body = json.loads(client.http.get("/event?d_rtbd=json&d_cts=1&c_section=sports").body)
    line = json.loads(stream.getvalue().splitlines()[0])
    assert "signals" not in line and "traits" not in line and "segments" not in line
    assert line["n"]["traits"] == len(body["traits"]) and line["n"]["segments"] == len(
        body["segments"])
    assert "errors" not in line and "privacy" not in line, "empty and default fields left out"
    assert [p["pid"] for p in line["providers"]] == [1, 2]
    assert len(stream.getvalue().encode()) < 900, stream.getvalue()


def test_detail_is_sampled_at_the_configured_rate() -> None:
    draws = iter([0.004, 0.5, 0.009, 0.011])
    sink = MetricsSink(namespace="rtdcs", service="s", emit=lambda line: None, enabled=False)
    stream = io.StringIO()
    observer = EventObserver(sink, stream=stream, detail_rate=0.01, chance=lambda: next(draws))

    class _Result:
        log = {"tid": "t", "uuid": "u", "signals": {"c_a": ["1"]}, "traits": [1], "segments": [2],
               "providers": [], "errors": [], "privacy": {"signals": [], "outcome": "pass",
                                                           "suppressed": []}}
        now = 0.0
        outcomes: list[Any] = []
        errors: list[Any] = []

    for _ in range(4):
        observer.event_done(_Result())
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert ["signals" in line for line in lines] == [True, False, True, False]
    assert all("_aws" not in line for line in lines), "metrics off: no EMF directive"
