"""The S2S queue handler end to end: moto SQS (queue + dead-letter queue), the catalog in moto
DynamoDB, and a loopback partner server that checks HMAC signatures and records what it got.

Messages are produced by the pure planner (``plan_s2s``), queued with ``S2SQueue`` on moto
SQS, received from it, and handed to the Lambda handler through ``chalice.test.Client``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import boto3
import pytest
from chalice.test import Client

from chalicelib.destinations.s2s import S2SState, plan_s2s, plan_s2s_final
from chalicelib.destinations.s2s_delivery import S2SQueue
from chalicelib.routes import s2s as s2s_route
from chalicelib.rules.catalog import compile_catalog
from chalicelib.store.catalog import CatalogRepository

SECRET = "partner-shared-secret"
UUID = "04817263550918273645501928374655610293"
NOW = time.time()


class Partner:
    """A loopback S2S partner. ``script`` is the status of each next POST (then 200);
    ``delay_s`` holds each answer. A wrong or missing signature gets 401."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.token_requests = 0
        self.script: list[int] = []
        self.delay_s = 0.0
        self.secret = SECRET
        self.bearer: str | None = None  # when set, POSTs need "Authorization: Bearer <it>"
        self._lock = threading.Lock()
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/token":
                    partner._token(self, raw)
                    return
                status = partner._record(self.path, dict(self.headers), raw)
                time.sleep(partner.delay_s)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _record(self, path: str, headers: dict[str, str], raw: bytes) -> int:
        expected = base64.b64encode(
            hmac.new(self.secret.encode(), raw, hashlib.sha256).digest()).decode()
        signed = hmac.compare_digest(headers.get("X-Signature", ""), expected)
        authorized = self.bearer is None or headers.get("Authorization") == f"Bearer {self.bearer}"
        with self._lock:
            self.posts.append({"path": path, "headers": headers, "body": json.loads(raw),
                               "signed": signed})
            status = self.script.pop(0) if self.script else 200
        if self.bearer is None and not signed:
            return 401
        return status if authorized else 401

    def _token(self, handler: BaseHTTPRequestHandler, raw: bytes) -> None:
        expected = "Basic " + base64.b64encode(f"rtdcs:{SECRET}".encode()).decode()
        ok = handler.headers.get("Authorization") == expected and b"client_credentials" in raw
        with self._lock:
            self.token_requests += 1
        body = json.dumps({"access_token": self.bearer, "expires_in": 3600}).encode()
        handler.send_response(200 if ok else 401)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def partner() -> Iterator[Partner]:
    server = Partner()
    yield server
    server.close()


@pytest.fixture
def queues(tables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The S2S queue and its dead-letter queue in moto (the ``tables`` fixture holds mock_aws)."""
    sqs = boto3.client("sqs")
    dlq = sqs.create_queue(QueueName="rtdcs-test-s2s-dlq")["QueueUrl"]
    queue = sqs.create_queue(QueueName="rtdcs-test-s2s")["QueueUrl"]
    monkeypatch.setenv("RTDCS_S2S_QUEUE_URL", queue)
    monkeypatch.setenv("RTDCS_S2S_DLQ_URL", dlq)
    monkeypatch.setenv("RTDCS_S2S_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("RTDCS_S2S_RETRY_DELAY_SECONDS", "0")
    monkeypatch.setenv("RTDCS_TEST_S2S_SECRET", SECRET)
    s2s_route.install(None)
    yield {"queue": queue, "dlq": dlq}
    s2s_route.install(None)


def _configure(tables: dict[str, str], url: str, auth: dict[str, Any] | None,
               destination_id: int = 70) -> dict[str, Any]:
    """Add an S2S destination (mapped to 5001, 5002, 5004) to the catalog; the raw catalog."""
    repo = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    destination: dict[str, Any] = {"destinationId": destination_id, "name": "DSP",
                                   "destinationType": "S2S", "url": url, "dataSourceId": 900}
    if auth:
        destination["auth"] = auth
    repo.put("destination", destination_id, destination)
    for n, sid in enumerate((5001, 5002, 5004), start=1):
        mapping_id = destination_id * 100 + n
        repo.put("mapping", mapping_id, {"mappingId": mapping_id,
                                         "destinationId": destination_id, "sid": sid})
    repo.bump_version()
    return repo.load_all()


_HMAC = {"type": "hmac", "algorithm": "sha256", "header": "X-Signature",
         "secretRef": "env:RTDCS_TEST_S2S_SECRET"}


def _queue_plan(raw: dict[str, Any], queue_url: str, uuids: list[str],
                segments: set[int], states: dict[int, S2SState] | None = None) -> int:
    catalog = compile_catalog(raw, version=99)
    bodies: list[str] = []
    for uuid in uuids:
        plan = plan_s2s(catalog, segments, uuid=uuid, synced_ids={900: f"dp-{uuid[-4:]}"},
                        states=states or {}, region=7, now=NOW)
        bodies += plan.queue_bodies()
    S2SQueue(boto3.client("sqs"), queue_url).send(bodies)
    return len(bodies)


def _receive(queue_url: str, expected: int) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    got: list[dict[str, Any]] = []
    for _ in range(5):
        answer = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                     MessageAttributeNames=["All"], WaitTimeSeconds=0)
        got += answer.get("Messages", [])
        if len(got) >= expected:
            break
    return got


def _invoke(client: Client, bodies: list[str]) -> None:
    event = client.events.generate_sqs_event(message_bodies=bodies, queue_name="rtdcs-test-s2s")
    client.lambda_.invoke("s2s_delivery", event)


def _run(client: Client, queues: dict[str, str], count: int) -> None:
    """Receive ``count`` queued messages and hand them to the handler in batches of 10."""
    messages = _receive(queues["queue"], count)
    assert len(messages) == count
    for start in range(0, count, 10):
        _invoke(client, [m["Body"] for m in messages[start:start + 10]])


def test_signed_real_time_message_reaches_the_partner(  # type: ignore[no-untyped-def]
    client, tables, queues, partner
) -> None:
    raw = _configure(tables, f"{partner.url}/rt", _HMAC)
    state = {70: S2SState(frozenset({5001, 5004}), NOW - 60)}
    _run(client, queues, _queue_plan(raw, queues["queue"], [UUID], {5001, 5002, 7777}, state))

    assert len(partner.posts) == 1
    post = partner.posts[0]
    assert post["signed"] and post["path"] == "/rt"
    assert post["headers"]["Content-Type"] == "application/json"
    body = post["body"]
    assert {k: body[k] for k in ("User_DPID", "Client_ID", "AAM_Destination_Id",
                                 "User_count")} == {
        "User_DPID": 900, "Client_ID": "1352", "AAM_Destination_Id": 70, "User_count": 1}
    user = body["Users"][0]
    assert (user["AAM_UUID"], user["DataPartner_UUID"], user["AAM_Regions"]) == (
        UUID, "dp-0293", ["7"])
    assert {s["Segment_ID"]: s["Status"] for s in user["Segments"]} == {
        5001: 1, 5002: 1, 5004: 0}
    assert _receive(queues["dlq"], 0) == []


def test_twelve_visitors_make_two_posts_of_at_most_ten(  # type: ignore[no-untyped-def]
    client, tables, queues, partner
) -> None:
    raw = _configure(tables, f"{partner.url}/rt", _HMAC)
    uuids = [f"{n:038d}" for n in range(1, 13)]
    count = _queue_plan(raw, queues["queue"], uuids, {5001})
    messages = _receive(queues["queue"], count)
    _invoke(client, [m["Body"] for m in messages])  # one batch of 12 records
    assert sorted(p["body"]["User_count"] for p in partner.posts) == [2, 10]
    assert all(p["signed"] for p in partner.posts)
    sent = {u["AAM_UUID"] for p in partner.posts for u in p["body"]["Users"]}
    assert sent == set(uuids)


def test_partner_failing_twice_sends_the_message_to_the_dead_letter_queue(  # type: ignore[no-untyped-def]
    client, tables, queues, partner
) -> None:
    raw = _configure(tables, f"{partner.url}/rt", _HMAC)
    partner.script = [500, 503]
    count = _queue_plan(raw, queues["queue"], [UUID], {5001})
    queued = _receive(queues["queue"], count)
    _invoke(client, [m["Body"] for m in queued])

    assert len(partner.posts) == 2, "the first try and exactly one retry"
    dead = _receive(queues["dlq"], 1)
    assert len(dead) == 1
    assert dead[0]["Body"] == queued[0]["Body"], "the original message, replayable"
    attributes = {k: v["StringValue"] for k, v in dead[0]["MessageAttributes"].items()}
    assert attributes["reason"] == "http 503"
    assert attributes["attempts"] == "2" and attributes["destinationId"] == "70"


def test_one_failure_then_success_is_delivered_by_the_retry(  # type: ignore[no-untyped-def]
    client, tables, queues, partner
) -> None:
    raw = _configure(tables, f"{partner.url}/rt", _HMAC)
    partner.script = [500]
    _run(client, queues, _queue_plan(raw, queues["queue"], [UUID], {5001}))
    assert [p["signed"] for p in partner.posts] == [True, True]
    assert _receive(queues["dlq"], 0) == []


def test_slow_partner_times_out_twice(  # type: ignore[no-untyped-def]
    client, tables, queues, partner
) -> None:
    raw = _configure(tables, f"{partner.url}/rt", _HMAC)
    partner.delay_s = 1.0  # answers 200, but after the handler's timeout (0.5 s here, 3 s default)
    _run(client, queues, _queue_plan(raw, queues["queue"], [UUID], {5001}))
    assert len(partner.posts) == 2
    dead = _receive(queues["dlq"], 1)
    assert dead[0]["MessageAttributes"]["reason"]["StringValue"] == "timeout"


def test_wrong_secret_is_refused_by_the_partner(  # type: ignore[no-untyped-def]
    client, tables, queues, partner, monkeypatch
) -> None:
    raw = _configure(tables, f"{partner.url}/rt", _HMAC)
    monkeypatch.setenv("RTDCS_TEST_S2S_SECRET", "not-the-partner-secret")
    _run(client, queues, _queue_plan(raw, queues["queue"], [UUID], {5001}))
    assert [p["signed"] for p in partner.posts] == [False, False]
    dead = _receive(queues["dlq"], 1)
    assert dead[0]["MessageAttributes"]["reason"]["StringValue"] == "http 401"


def test_plain_http_outside_the_allow_list_is_never_called(  # type: ignore[no-untyped-def]
    client, tables, queues, partner, monkeypatch
) -> None:
    raw = _configure(tables, f"{partner.url}/rt", _HMAC)
    monkeypatch.setenv("RTDCS_PROVIDERS_HTTP_HOSTS", "localhost")
    _run(client, queues, _queue_plan(raw, queues["queue"], [UUID], {5001}))
    assert partner.posts == []
    dead = _receive(queues["dlq"], 1)
    attributes = {k: v["StringValue"] for k, v in dead[0]["MessageAttributes"].items()}
    assert attributes["reason"].startswith("insecure_url") and attributes["attempts"] == "1"


def test_oauth2_client_credentials_token_is_fetched_once_and_reused(  # type: ignore[no-untyped-def]
    client, tables, queues, partner
) -> None:
    partner.bearer = "tok-123"
    auth = {"type": "oauth2", "tokenUrl": f"{partner.url}/token", "clientId": "rtdcs",
            "secretRef": "env:RTDCS_TEST_S2S_SECRET"}
    raw = _configure(tables, f"{partner.url}/rt", auth)
    _run(client, queues, _queue_plan(raw, queues["queue"], [UUID], {5001}))
    _run(client, queues, _queue_plan(raw, queues["queue"], [UUID], {5002}))
    assert [p["headers"].get("Authorization") for p in partner.posts] == ["Bearer tok-123"] * 2
    assert partner.token_requests == 1
    assert _receive(queues["dlq"], 0) == []


def test_opted_out_visitor_gets_one_final_all_zero_message(  # type: ignore[no-untyped-def]
    client, tables, queues, partner
) -> None:
    raw = _configure(tables, f"{partner.url}/rt", _HMAC)
    states = {70: S2SState(frozenset({5001, 5002}), NOW - 60)}
    plan = plan_s2s_final(compile_catalog(raw, 99), uuid=UUID, synced_ids={900: "dp-x"},
                          states=states, region=7, now=NOW)
    S2SQueue(boto3.client("sqs"), queues["queue"]).send(plan.queue_bodies())
    _run(client, queues, len(plan.messages))
    segments = partner.posts[0]["body"]["Users"][0]["Segments"]
    assert {s["Segment_ID"]: s["Status"] for s in segments} == {5001: 0, 5002: 0}
    assert plan.states == {}, "nothing is stored: no later message"


def test_messages_for_a_deleted_destination_are_dropped(  # type: ignore[no-untyped-def]
    client, tables, queues, partner
) -> None:
    raw = _configure(tables, f"{partner.url}/rt", _HMAC)
    count = _queue_plan(raw, queues["queue"], [UUID], {5001})
    repo = CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))
    repo.delete("destination", 70)
    repo.bump_version()
    _run(client, queues, count)
    assert partner.posts == [] and _receive(queues["dlq"], 0) == []


def test_malformed_message_goes_to_the_dead_letter_queue(  # type: ignore[no-untyped-def]
    client, tables, queues, partner
) -> None:
    _configure(tables, f"{partner.url}/rt", _HMAC)
    _invoke(client, ["{not json"])
    dead = _receive(queues["dlq"], 1)
    assert dead[0]["Body"] == "{not json"
    assert dead[0]["MessageAttributes"]["reason"]["StringValue"] == "malformed"


def test_unreachable_dead_letter_queue_fails_the_batch_for_redelivery(  # type: ignore[no-untyped-def]
    client, tables, queues, partner, monkeypatch
) -> None:
    raw = _configure(tables, f"{partner.url}/rt", _HMAC)
    partner.script = [500, 500]
    count = _queue_plan(raw, queues["queue"], [UUID], {5001})
    monkeypatch.setenv("RTDCS_S2S_DLQ_URL", queues["dlq"] + "-missing")
    bodies = [m["Body"] for m in _receive(queues["queue"], count)]
    with pytest.raises(Exception, match="(?i)queue"):
        _invoke(client, bodies)


def test_bearer_auth_sends_the_secret_as_a_token(  # type: ignore[no-untyped-def]
    client, tables, queues, partner
) -> None:
    partner.bearer = SECRET
    raw = _configure(tables, f"{partner.url}/rt",
                     {"type": "bearer", "secretRef": "env:RTDCS_TEST_S2S_SECRET"})
    _run(client, queues, _queue_plan(raw, queues["queue"], [UUID], {5001}))
    assert [p["headers"].get("Authorization") for p in partner.posts] == [f"Bearer {SECRET}"]
    assert _receive(queues["dlq"], 0) == []


def test_missing_secret_is_dead_lettered_without_calling_or_retrying(  # type: ignore[no-untyped-def]
    client, tables, queues, partner, monkeypatch
) -> None:
    raw = _configure(tables, f"{partner.url}/rt", _HMAC)
    monkeypatch.delenv("RTDCS_TEST_S2S_SECRET")
    _run(client, queues, _queue_plan(raw, queues["queue"], [UUID], {5001}))
    assert partner.posts == []
    dead = _receive(queues["dlq"], 1)
    attributes = {k: v["StringValue"] for k, v in dead[0]["MessageAttributes"].items()}
    assert "RTDCS_TEST_S2S_SECRET" in attributes["reason"] and attributes["attempts"] == "1"
    assert SECRET not in json.dumps(dead)
