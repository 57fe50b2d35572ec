"""The console's event capture (docs/console.md, section 4) and its API: off by default at no
cost, one PutItem per captured event, the setting carried by the catalog snapshot, records
without ``p_`` keys; plus the console's other endpoints (overview, rule check, test call)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.ddb_hooks import dynamodb_calls
from tests.routes import test_admin_support as support
from tests.routes.test_admin_support import Admin

admin = support.admin  # fixture


def _json(response: Any) -> dict[str, Any]:
    return dict(json.loads(response.body))


def _visitor(client: Any) -> str:
    return str(_json(client.http.get("/event?d_rtbd=json&c_section=sports"))["uuid"])


def _event(client: Any, uuid: str, query: str = "c_section=sports") -> dict[str, Any]:
    return _json(client.http.get(f"/event?d_rtbd=json&{query}",
                                 headers={"Cookie": f"rtdcs_uuid={uuid}"}))


def test_capture_off_costs_no_extra_requests(
    client: Any, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spec's check: an uncaptured event makes exactly the requests it made before the
    console existed (tests/routes/test_event_route.py::test_dynamodb_requests_per_event), with
    capture off and with capture on for somebody else; a captured one makes one more."""
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "3600")
    uuid = _visitor(client)  # warms the catalog
    with dynamodb_calls() as calls:
        _event(client, uuid)
        off = list(calls)
    assert off == ["GetItem", "PutItem"]

    other = _visitor(client)
    assert admin.post("/v1/debug/capture", {"uuid": other, "minutes": 5}).status == 200
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "0")
    _event(client, uuid)  # the setting arrives with the next snapshot
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "3600")
    _event(client, uuid)
    with dynamodb_calls() as calls:
        _event(client, uuid)
        someone_else = list(calls)
        calls.clear()
        _event(client, other)
        captured = list(calls)
    assert someone_else == ["GetItem", "PutItem"]
    assert captured == ["GetItem", "PutItem", "PutItem"]


def test_a_captured_event_shows_its_calls_segments_and_no_p_keys(
    client: Any, admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "0")
    uuid = _visitor(client)
    answer = admin.post("/v1/debug/capture", {"uuid": uuid, "minutes": 60})
    assert answer.status == 200 and answer.json["enabled"] and answer.json["uuid"] == uuid
    assert admin.get("/v1/debug/capture").json["enabled"] is True
    _event(client, uuid, "c_section=sports&p_secret=hunter2&c_page=home")
    _event(client, _visitor(client))  # another visitor: not captured
    events = admin.get(f"/v1/debug/events?uuid={uuid}&limit=10").json["events"]
    assert len(events) == 1
    record = events[0]
    assert record["uuid"] == uuid
    assert record["signals"]["c_section"] == ["sports"]
    assert "p_secret" not in json.dumps(record) and "hunter2" not in json.dumps(record)
    assert {p["name"] for p in record["providers"]} == {"FastData", "SlowData"}
    assert all("outcome" in p and "ms" in p for p in record["providers"])
    assert 5001 in record["segments"] and 1001 in record["traits"]["ruleBased"]
    assert record["privacy"]["outcome"] == "pass"
    assert admin.get("/v1/debug/events").json["events"][0]["uuid"] == uuid

    assert admin.post("/v1/debug/capture", {"enabled": False}).json == {"enabled": False,
                                                                       "refreshSeconds": 0.0}
    _event(client, uuid)
    assert len(admin.get(f"/v1/debug/events?uuid={uuid}").json["events"]) == 1


def test_a_capture_write_that_fails_is_counted_and_the_answer_stands(
    client: Any, admin: Admin, tables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chalicelib.config import DebugSettings
    from chalicelib.store.dynamo import table
    from tests.infra.spool_kit import FaultInjector
    from tests.infra.test_observability import _observer

    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "0")
    uuid = _visitor(client)
    assert admin.post("/v1/debug/capture", {"uuid": uuid, "minutes": 60}).status == 200
    from chalicelib.runtime import observability

    _, stream, _ = _observer()
    capture_table = DebugSettings.from_env().capture_table
    try:
        with FaultInjector(table(capture_table).meta.client, fail_rate=1.0,
                           predicate=lambda params: json.loads(params["body"]).get(
                               "TableName") == capture_table):
            body = _event(client, uuid)
    finally:
        observability.install(None)  # later tests' lines go to stdout again
    assert body["uuid"] == uuid
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["CaptureWriteFailed"] == [1.0], line
    assert admin.get(f"/v1/debug/events?uuid={uuid}").json["events"] == []


def test_captured_items_expire_in_a_day(client: Any, admin: Admin, tables: dict[str, str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "0")
    uuid = _visitor(client)
    admin.post("/v1/debug/capture", {"uuid": uuid})
    _event(client, uuid)
    items = boto3.resource("dynamodb").Table(tables["capture"]).scan()["Items"]
    assert len(items) == 1
    record = json.loads(items[0]["record"])
    assert 86_000 < int(items[0]["expires_at"]) - record["at"] <= 86_400


@pytest.mark.parametrize("body, field", [
    ({"sample": 0.02}, "sample"),  # over 1 %
    ({"sample": 0}, "sample"),
    ({"uuid": "12"}, "uuid"),
    ({"uuid": "1" * 38, "minutes": 61}, "minutes"),  # at most an hour
    ({}, "uuid"),
    ({"uuid": "1" * 38, "sample": 0.01}, "uuid"),
])
def test_capture_requests_are_checked(admin: Admin, body: dict[str, Any], field: str) -> None:
    answer = admin.post("/v1/debug/capture", body)
    assert answer.status == 400 and answer.json["error"]["field"] == field


def test_sampling_of_at_most_one_percent_is_accepted(admin: Admin) -> None:
    answer = admin.post("/v1/debug/capture", {"sample": 0.01, "minutes": 60})
    assert answer.status == 200 and answer.json["sample"] == 0.01
    assert 3590 <= answer.json["secondsLeft"] <= 3600


def test_the_console_api_needs_the_token(admin: Admin) -> None:
    for method, path in (("GET", "/v1/debug/events"), ("POST", "/v1/debug/capture"),
                         ("GET", "/v1/stats/overview"), ("POST", "/v1/rules/validate"),
                         ("POST", "/v1/providers/1/test")):
        assert admin.call(method, path, {}, auth=False).status == 401, path


def test_rule_check_returns_the_error_at_its_position(admin: Admin) -> None:
    good = admin.post("/v1/rules/validate", {"kind": "trait", "rule": 'c_section == "golf"'})
    assert good.status == 200 and good.json == {"valid": True}
    bad = admin.post("/v1/rules/validate", {"kind": "trait", "rule": 'c_section == "golf" AND'})
    assert bad.status == 200 and bad.json["valid"] is False
    assert bad.json["error"]["field"] == "traitRule" and bad.json["error"]["position"] == 23
    saved = admin.post("/v1/traits", {**support.RULE_TRAIT, "traitRule": 'c_section == "golf" AND'})
    assert saved.status == 400 and saved.json == {"error": bad.json["error"]}  # as a save says
    missing = admin.post("/v1/rules/validate", {"kind": "segment", "rule": "1001T OR 9999T"})
    assert missing.json["error"] == {"code": "invalid_reference", "message":
                                     "trait 9999T does not exist", "field": "segmentRule",
                                     "position": 9}
    assert admin.post("/v1/rules/validate", {"kind": "segment", "rule": "1001T"}).json == {
        "valid": True, "traits": [1001]}
    assert admin.post("/v1/rules/validate", {"kind": "x", "rule": "1"}).status == 400


def test_overview_counts_this_containers_events(client: Any, admin: Admin) -> None:
    before = admin.get("/v1/stats/overview").json["events"]
    _visitor(client)
    overview = admin.get("/v1/stats/overview").json
    assert overview["events"] == before + 1
    assert len(overview["eventsPerMinute"]) == 60
    assert overview["latencyMs"]["p50"] is not None
    assert "providers" in overview["providers"]


def test_provider_test_call_reports_a_verdict(admin: Admin) -> None:
    report = admin.post("/v1/providers/1/test", {}).json
    assert report["verdict"] == "pass", report
    assert len(report["calls"]) == 3 and report["p50Ms"] is not None
    assert admin.post("/v1/providers/999/test", {}).status == 404


def test_provider_test_call_respects_the_ssrf_guard(
    admin: Admin, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTDCS_PROVIDERS_HTTP_HOSTS", "")  # loopback is no longer allowed
    report = admin.post("/v1/providers/1/test", {}).json
    assert report["verdict"] == "fail"
    assert any(p.startswith("blocked") for p in report["problems"]), report


def test_console_files_are_served_under_a_strict_csp(client: Any) -> None:
    page = client.http.get("/console")
    assert page.status_code == 200 and b"rtdcs console" in page.body
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert client.http.get("/console/app.js").headers["Content-Type"].startswith(
        "application/javascript")
    assert client.http.get("/console/vendor/uPlot.iife.min.js").status_code == 200
    assert client.http.get("/console/nothing.js").status_code == 404
    for other in ("/console/", "/console/index.html"):  # the page's relative links need /console
        moved = client.http.get(other)
        assert moved.status_code == 302 and moved.headers["Location"] == "../console"
    assert client.http.get("/console/vendor/package.json").status_code == 404
