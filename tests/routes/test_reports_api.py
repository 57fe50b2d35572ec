"""``/v1/reports/*`` end to end in-process: events through ``/event`` (the real pipeline and
profile store, moto), the profiles table's stream read from moto and handed to the
``insight_aggregator`` handler as Lambda would (``devtools/stream_poller.py``), then the
reports through the admin API's auth. Consent-less requests, opt-outs and deletions count
for nothing; errors name what is wrong."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from chalicelib.routes import insight as insight_routes
from devtools.stream_poller import StreamPoller, StreamSource
from tests.routes.test_admin_support import Admin, admin  # noqa: F401 - fixture

SPORTS = "/event?d_rtbd=json&d_cts=1&c_section=sports"


class _Stream:
    """The profiles stream of the moto backend, delivered to the app's handler on demand."""

    def __init__(self, client: Any, arn: str) -> None:
        self.poller = StreamPoller(
            boto3.client("dynamodbstreams"), [StreamSource("insight_aggregator", arn, 100)],
            lambda name, event: client.lambda_.invoke(name, event).payload)

    def drain(self) -> None:
        while self.poller.poll_once(self.poller.sources[0]):
            pass


@pytest.fixture
def stream(client: Any, tables: dict[str, str]) -> _Stream:
    insight_routes.install(None)
    from chalicelib.handlers import insight as handler

    handler.install_reports_repository(None)
    return _Stream(client, tables["profiles_stream_arn"])


def _event(client: Any, path: str = SPORTS, cookie: str | None = None) -> dict[str, Any]:
    headers = {"Cookie": f"rtdcs_uuid={cookie}"} if cookie else {}
    response = client.http.get(path, headers=headers)
    assert response.status_code == 200
    return dict(json.loads(response.body))


def _population(admin: Admin, kind: str, object_id: int) -> dict[str, int]:  # noqa: F811
    answer = admin.get(f"/v1/reports/populations?kind={kind}&ids={object_id}&windows=1")
    assert answer.status == 200, answer
    return dict(answer.json["items"][0]["windows"]["1"])


def test_events_appear_in_every_report(client: Any, admin: Admin,  # noqa: F811
                                       stream: _Stream) -> None:
    visitors = [_event(client)["uuid"] for _ in range(5)]
    _event(client, cookie=visitors[0])  # a second event of one visitor
    stream.drain()
    assert _population(admin, "trait", 1001) == {"uniques": 5, "lower": 5, "upper": 5,
                                                 "events": 6}
    assert _population(admin, "segment", 5001)["uniques"] == 5
    answer = admin.get("/v1/reports/overlap?a=segment:5001&b=trait:2001&window=30")
    assert answer.status == 200, answer
    assert answer.json["intersection"]["uniques"] == 5 and answer.json["union"]["uniques"] == 5
    assert answer.json["regions"] == {"a": {"uniques": 0, "lower": 0, "upper": 0},
                                      "b": {"uniques": 0, "lower": 0, "upper": 0},
                                      "ab": {"uniques": 5, "lower": 5, "upper": 5}}
    trend = admin.get("/v1/reports/trend?kind=segment&id=5001&days=3")
    assert [d["uniques"] for d in trend.json["days"]] == [0, 0, 5]
    sources = admin.get("/v1/reports/datasources?windows=1,30").json["items"]
    assert {s["id"]: s["windows"]["30"]["uniques"] for s in sources} == {1: 5, 900: 5, 901: 5}


def test_consent_less_opted_out_and_deleted_visitors_are_not_counted(
        client: Any, admin: Admin, stream: _Stream,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    kept = _event(client)["uuid"]
    gone = _event(client)["uuid"]
    out = _event(client)["uuid"]
    stream.drain()
    assert _population(admin, "trait", 1001)["uniques"] == 3
    assert admin.delete(f"/v1/profiles/{gone}").status == 204
    client.http.get("/demoptout", headers={"Cookie": f"rtdcs_uuid={out}"})
    for uuid in (kept, gone, out):
        _event(client, SPORTS + "&c_page=checkout&c_items=3", cookie=uuid)  # trait 1002
    monkeypatch.setenv("RTDCS_TCF_VENDOR_ID", "1111")
    for _ in range(3):  # gdpr applies and no consent string: 315, nothing stored
        body = _event(client, SPORTS + "&c_page=checkout&c_items=3&gdpr=1")
        assert 315 in [e["code"] for e in body.get("errors", [])]
    stream.drain()
    assert _population(admin, "trait", 1002)["uniques"] == 1  # only "kept"
    assert _population(admin, "trait", 1001)["uniques"] == 3  # today's earlier events stand


def test_report_errors(client: Any, admin: Admin, stream: _Stream) -> None:  # noqa: F811
    assert admin.get("/v1/reports/populations?kind=trait&ids=1001",
                     auth=False).status == 401
    missing = admin.get("/v1/reports/populations?kind=trait&ids=1001,777,778")
    assert missing.status == 404 and missing.error()["ids"] == [777, 778]
    assert "777, 778" in missing.error()["message"]
    overlap = admin.get("/v1/reports/overlap?a=segment:5001&b=trait:999")
    assert overlap.status == 404 and overlap.error()["ids"] == ["trait:999"]
    for query in ("kind=trait&ids=1001&windows=0", "kind=trait&ids=1001&windows=91",
                  "kind=trait&ids=1001&windows=1,x", "kind=audience&ids=1001", "kind=trait",
                  "kind=trait&ids=" + ",".join(str(i) for i in range(1, 102))):
        answer = admin.get(f"/v1/reports/populations?{query}")
        assert answer.status == 400, (query, answer)
    assert admin.get("/v1/reports/trend?kind=segment&id=5001&days=91").status == 400
    assert admin.get("/v1/reports/overlap?a=segment:5001&b=trait:1001&window=0").status == 400
    assert admin.get("/v1/reports/overlap?a=segment:5001").status == 400
    ok = admin.get("/v1/reports/populations?kind=trait&ids=1001&windows=today,90")
    assert ok.status == 200 and set(ok.json["items"][0]["windows"]) == {"today", "90"}


class _ReportsFunction:
    """A Lambda client whose ``invoke`` runs the app's ``insight_reports`` function in-process
    (Chalice's test client), with botocore's Stubber checking each request against the
    Lambda model first."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **params: Any) -> dict[str, Any]:
        import io

        from botocore.stub import Stubber

        real = boto3.client("lambda", region_name="us-east-1")
        with Stubber(real) as stub:
            stub.add_response("invoke", {"StatusCode": 200}, params)
            real.invoke(**params)
        event = json.loads(params["Payload"])
        self.calls.append(event)
        payload = self.client.lambda_.invoke("insight_reports", event).payload
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(payload).encode())}


def test_deployed_reports_run_in_the_insight_reports_function(
        client: Any, admin: Admin, stream: _Stream,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The API function carries no DataSketches when deployed: it invokes insight_reports
    (chalicelib/insight/remote.py), with the same answers and errors as in-process."""
    from chalicelib.handlers import insight as handler

    for _ in range(3):
        _event(client)
    stream.drain()
    queries = ["/v1/reports/populations?kind=trait&ids=1001&windows=1,30",
               "/v1/reports/overlap?a=segment:5001&b=trait:2001&window=30",
               "/v1/reports/populations?kind=trait&ids=777",
               "/v1/reports/trend?kind=segment&id=5001&days=91"]
    local = [admin.get(q) for q in queries]
    function = _ReportsFunction(client)
    handler.install_lambda_client(function)
    monkeypatch.setenv("RTDCS_INSIGHT_REPORTS_FUNCTION", "rtdcs-test-insight_reports")
    try:
        remote = [admin.get(q) for q in queries]
    finally:
        handler.install_lambda_client(None)
    assert len(function.calls) == len(queries)
    assert function.calls[0] == {"report": "populations",
                                 "query": {"kind": "trait", "ids": "1001", "windows": "1,30"}}
    assert [a.status for a in remote] == [a.status for a in local] == [200, 200, 404, 400]
    # The same answers; ``asOf`` is when each was computed (the remote calls come later, and
    # may fall in the next second: compared as times, never dropped).
    stamps = [(a.json.pop("asOf", None), b.json.pop("asOf", None))
              for a, b in zip(local, remote, strict=True)]
    assert [a.json for a in remote] == [a.json for a in local]
    for before, after in stamps:
        assert (before is None) == (after is None)
        assert before is None or before <= after  # ISO-8601 UTC: ordered as text
    assert stamps[0][0] is not None and stamps[1][0] is not None
    assert remote[0].json["items"][0]["windows"]["1"]["uniques"] == 3
