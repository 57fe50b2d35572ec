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


def _observer() -> tuple[EventObserver, io.StringIO, list[str]]:
    stream = io.StringIO()
    emitted: list[str] = []
    sink = MetricsSink(namespace="rtdcs", service="rtdcs-test", emit=emitted.append, enabled=True)
    # A service name of its own: Powertools configures one handler per logger name.
    observer = EventObserver(sink, stream=stream, service=f"rtdcs-test-{uuidlib.uuid4().hex[:8]}")
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
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["level"] == "INFO" and line["message"]["tid"] == tid
    assert line["message"]["signals"]["c_section"] == ["sports"]
    assert line["message"]["signals"]["c_note"] == ["[redacted]"]
    text = lines[0]
    assert P_VALUE not in text and '"p_' not in text and TOKEN not in text

    assert len(emitted) == 1  # one EMF document per event
    document = json.loads(emitted[0])
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "rtdcs" and directive["Dimensions"] == [["service"]]
    assert document["service"] == "rtdcs-test"
    assert document["Events"] == [1.0]
    assert document["EventLatency"][0] > 0
    assert document["ProviderCalls"] == [2.0]  # the two simulated providers
    assert P_VALUE not in emitted[0] and TOKEN not in emitted[0]


def test_metrics_count_dynamodb_errors_and_spooled_events(
    client: Any, tables: dict[str, str]
) -> None:
    from chalicelib.store.dynamo import write_table
    from tests.infra.spool_kit import FaultInjector

    _, _, emitted = _observer()
    first = json.loads(client.http.get("/event?d_rtbd=json&c_section=sports").body)
    emitted.clear()
    with FaultInjector(write_table(tables["profiles"]).meta.client, fail_rate=1.0) as faults:
        client.http.get("/event?d_rtbd=json&c_section=sports",
                        headers={"Cookie": f"rtdcs_uuid={first['uuid']}"})
    document = json.loads(emitted[0])
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
