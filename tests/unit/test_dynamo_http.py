"""Issue 17: the profile path's ``http`` wire (``chalicelib.store.dynamo_http``) sends what
botocore sends, reads answers and errors as botocore reads them, retries what botocore's
standard mode retries, and works against a real server (moto's, over loopback HTTP).

botocore is the reference throughout: each request goes through a botocore client whose
``before-send`` answers from memory, and through the http client whose pool answers the same
bytes; the two results are compared."""

from __future__ import annotations

import base64
import json
import time
from binascii import crc32
from decimal import Decimal
from typing import Any, Iterator

import boto3
import pytest
from boto3.dynamodb.types import Binary
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials as BotocoreCredentials
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
    SSLError,
)
from urllib3 import PoolManager, Timeout
from urllib3.exceptions import DecodeError, NewConnectionError, ProtocolError
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout
from urllib3.exceptions import SSLError as Urllib3SSLError

from chalicelib.config import dynamodb_wire
from chalicelib.store import dynamo
from chalicelib.store.dynamo import WireTable
from chalicelib.store.dynamo_http import DynamoHttpClient, RetryQuota
from chalicelib.store.profiles import ProfileRepository, is_retryable
from tests.unit.test_dynamo_wire import CONDITION, ITEM

ENDPOINT = "http://127.0.0.1:9"  # never reached: every answer comes from memory
REGION = "us-east-1"
NOW = 1_764_950_400.0  # 2025-12-05T16:00:00Z
WIRE_ITEM = {
    "uuid": {"S": "1" * 38}, "v": {"N": "3"}, "t": {"B": b"\x00\xff\x10"},
    "g": {"BS": [b"\x01", b"\x02\x03"]}, "segs": {"NS": ["7", "11"]}, "s": {"SS": ["a", "é"]},
    "m": {"M": {"inner": {"B": b"\x09"}, "l": {"L": [{"B": b"\x07"}, {"S": "x"}]}}},
    "ok": {"BOOL": True}, "none": {"NULL": True},
}


def _on_the_wire(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` as DynamoDB sends it: binaries in base64."""
    def encode(value: Any) -> Any:
        if isinstance(value, bytes):
            return base64.b64encode(value).decode()
        if isinstance(value, list):
            return [encode(v) for v in value]
        if isinstance(value, dict):
            return {k: encode(v) for k, v in value.items()}
        return value

    return encode(item)


class _Creds:
    def __init__(self, token: str | None = "session-token") -> None:
        self.frozen = BotocoreCredentials("AKIDTEST", "secret/key", token).get_frozen_credentials()
        self.calls = 0

    def get_frozen_credentials(self) -> Any:
        self.calls += 1
        return self.frozen


class _Answer:
    def __init__(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.status, self.headers, self.data = status, headers, data


class _Pool:
    """Records what the http client sends; answers from ``script`` (status, body[, headers])
    in turn, or raises what the script holds."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.sent: list[dict[str, Any]] = []

    def urlopen(self, method: str, url: str, **kwargs: Any) -> _Answer:
        self.sent.append({"method": method, "url": url, **kwargs})
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        status, body, *extra = step
        headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "rid"}
        headers.update(extra[0] if extra else {})
        return _Answer(status, headers, body if isinstance(body, bytes) else
                       json.dumps(body).encode())


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _botocore_client(status: int, body: Any, sent: list[Any]) -> Any:
    client = boto3.session.Session(
        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret/key",
        aws_session_token="session-token", region_name=REGION,
    ).client("dynamodb", endpoint_url=ENDPOINT,
             config=Config(retries={"total_max_attempts": 1, "mode": "standard"},
                           parameter_validation=False))
    data = body if isinstance(body, bytes) else json.dumps(body).encode()

    def answer(request: Any, **_: Any) -> AWSResponse:
        sent.append(request)
        headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "rid"}
        return AWSResponse(request.url, status, headers, _Raw(data))

    client.meta.events.register("before-send.dynamodb", answer)
    return client


def _http_client(pool: _Pool, attempts: int = 1, creds: Any = None,
                 sleeps: list[float] | None = None, endpoint: str = ENDPOINT,
                 quota: RetryQuota | None = None) -> DynamoHttpClient:
    return DynamoHttpClient(endpoint, REGION, creds or _Creds(), pool,
                            timeout=Timeout(connect=0.5, read=1), max_attempts=attempts,
                            clock=lambda: NOW, sleep=(sleeps if sleeps is not None else []).append,
                            jitter=lambda: 1.0, retry_quota=quota)


OPERATIONS = {"put_item": "PutItem", "get_item": "GetItem"}


def _both(operation: str, params: dict[str, Any], status: int, body: Any,
          ) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(botocore's result or error, the http client's, botocore's request, ours). botocore
    takes and gives binaries as bytes; the http client, DynamoDB's JSON (base64)."""
    sent: list[Any] = []
    client = _botocore_client(status, body, sent)
    pool = _Pool((status, body))
    ours = _http_client(pool)
    results = []
    for call in (lambda: getattr(client, operation)(**params),
                 lambda: ours.call(OPERATIONS[operation], _on_the_wire(params))):
        try:
            results.append(call())
        except ClientError as exc:
            results.append(exc)
    return results[0], results[1], sent[0], pool.sent[0]


PUT = {"TableName": "profiles", "Item": WIRE_ITEM, "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
       "ConditionExpression": CONDITION["ConditionExpression"],
       "ExpressionAttributeNames": CONDITION["ExpressionAttributeNames"],
       "ExpressionAttributeValues": {":v": {"N": "2"}, ":b": {"B": b"\x01"}}}
GET = {"TableName": "profiles", "Key": {"uuid": {"S": "1" * 38}}, "ConsistentRead": True,
       "ProjectionExpression": "#o", "ExpressionAttributeNames": {"#o": "optout"}}
PUT_JSON = _on_the_wire(PUT)  # what the http client is given (dynamo_json's output)


@pytest.mark.parametrize(("operation", "params"), [("put_item", PUT), ("get_item", GET)])
def test_the_request_is_botocores(operation: str, params: dict[str, Any]) -> None:
    _, _, theirs, ours = _both(operation, params, 200, {})
    assert ours["method"] == theirs.method == "POST"
    assert ours["url"] == theirs.url
    assert json.loads(ours["body"]) == json.loads(theirs.body)
    for name in ("X-Amz-Target", "Content-Type"):
        wanted = theirs.headers[name]
        assert ours["headers"][name] == (wanted.decode() if isinstance(wanted, bytes) else wanted)
    assert ours["headers"]["X-Amz-Security-Token"] == "session-token"
    assert ours["retries"] is False and ours["redirect"] is False  # nothing behind our back
    assert params["Item" if operation == "put_item" else "Key"]["uuid"] == {"S": "1" * 38}


def test_the_signature_is_the_one_botocore_computes_for_the_request_sent() -> None:
    _, _, _, ours = _both("put_item", PUT, 200, {})
    headers = dict(ours["headers"])
    authorization = headers.pop("Authorization")
    headers.pop("User-Agent")  # botocore never signs it
    request = AWSRequest(method="POST", url=ours["url"], data=ours["body"], headers=headers)
    request.context["timestamp"] = headers["X-Amz-Date"]
    signer = SigV4Auth(BotocoreCredentials("AKIDTEST", "secret/key", "session-token"),
                       "dynamodb", REGION)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    assert headers["X-Amz-Date"] == "20251205T160000Z"
    assert authorization.endswith(f"Signature={expected}")
    assert "Credential=AKIDTEST/20251205/us-east-1/dynamodb/aws4_request" in authorization
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target" \
        in authorization


def test_answers_are_parsed_as_botocore_parses_them() -> None:
    answer = {"Item": _on_the_wire(WIRE_ITEM)}
    theirs, ours, _, _ = _both("get_item", GET, 200, answer)
    assert theirs["Item"] == WIRE_ITEM  # botocore: binaries as bytes, at every depth
    assert ours["Item"] == _on_the_wire(theirs["Item"])  # ours: as sent, for dynamo_json
    assert _metadata(ours) == _metadata(theirs)
    missing_theirs, missing_ours, _, _ = _both("get_item", GET, 200, {})
    assert "Item" not in missing_ours and "Item" not in missing_theirs
    returned_theirs, returned_ours, _, _ = _both(
        "put_item", dict(PUT, ReturnValues="ALL_OLD"), 200, {"Attributes": answer["Item"]})
    assert returned_ours["Attributes"] == _on_the_wire(returned_theirs["Attributes"])


def _metadata(answer: dict[str, Any]) -> dict[str, Any]:
    """``ResponseMetadata`` without the headers (botocore's stand-in sends its own)."""
    metadata = dict(answer["ResponseMetadata"])
    assert metadata.pop("HTTPHeaders")["x-amzn-requestid"] == "rid"
    return metadata


CCF = "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException"


@pytest.mark.parametrize(("status", "body"), [
    (400, {"__type": CCF, "message": "The conditional request failed",
           "Item": _on_the_wire(WIRE_ITEM)}),
    (400, {"__type": CCF, "message": "The conditional request failed"}),
    (400, {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
           "message": "Rate of requests exceeds the allowed throughput."}),
    (400, {"__type": "com.amazon.coral.validate#ValidationException",
           "Message": "Item size has exceeded the maximum allowed size"}),
    (400, {"__type": "com.amazon.coral.service#ThrottlingException:extra", "message": "m"}),
    (500, {"__type": "com.amazon.coral.service#InternalFailure"}),
    (503, b""),
    (502, b"<html><body><b>Http/1.1 Bad Gateway</b></body></html>"),
    (400, b"not json at all"),
    (400, b""),
    (413, {"message": "no type"}),
])
def test_errors_are_the_client_errors_botocore_raises(status: int, body: Any) -> None:
    theirs, ours, _, _ = _both("put_item", PUT, status, body)
    assert isinstance(theirs, ClientError) and isinstance(ours, ClientError)
    assert ours.response["Error"] == theirs.response["Error"]
    assert ours.response.get("Item") == theirs.response.get("Item")
    assert ours.operation_name == theirs.operation_name == "PutItem"
    assert _metadata(ours.response) == _metadata(theirs.response)
    assert str(ours) == str(theirs)
    assert is_retryable(ours) == is_retryable(theirs)


def test_throttling_and_5xx_are_retried_within_the_attempts_then_raised() -> None:
    throttled = (400, {"__type": "x#ProvisionedThroughputExceededException", "message": "m"})
    sleeps: list[float] = []
    pool = _Pool(throttled, (200, {"Item": {"uuid": {"S": "u"}}}))
    assert _http_client(pool, attempts=2, sleeps=sleeps).call("GetItem", GET)["Item"] == {
        "uuid": {"S": "u"}}
    assert len(pool.sent) == 2 and sleeps == [0.025]
    assert pool.sent[0]["headers"]["X-Amz-Date"] == pool.sent[1]["headers"]["X-Amz-Date"]

    pool = _Pool(throttled)
    sleeps = []
    with pytest.raises(ClientError) as caught:
        _http_client(pool, attempts=3, sleeps=sleeps).call("GetItem", GET)
    assert len(pool.sent) == 3 and caught.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert sleeps == [0.025, 0.05]  # exponential (jitter at its top here)

    pool = _Pool((503, b""), (200, {}))
    assert "Item" not in _http_client(pool, attempts=2).call("GetItem", GET)
    assert len(pool.sent) == 2


def test_retries_draw_on_a_quota_that_answers_refill() -> None:
    throttled = (400, {"__type": "x#ThrottlingException", "message": "m"})
    quota = RetryQuota(capacity=12)
    failing = _Pool(throttled)
    with pytest.raises(ClientError):
        _http_client(failing, attempts=3, quota=quota).call("GetItem", GET)
    assert len(failing.sent) == 3 and quota.available == 2  # two retries of 5
    failing = _Pool(throttled)
    with pytest.raises(ClientError) as dry:
        _http_client(failing, attempts=3, quota=quota).call("GetItem", GET)
    assert len(failing.sent) == 1  # dry: no retry adds load to a struggling table
    assert dry.value.response["ResponseMetadata"]["RetryQuotaReached"] is True
    timed_out = _Pool(Urllib3ReadTimeout(None, "/", "t"), (200, {}))  # type: ignore[arg-type]
    quota = RetryQuota(capacity=10)
    _http_client(timed_out, attempts=2, quota=quota).call("GetItem", GET)
    assert quota.available == 10  # a timeout's retry costs 10; its success gives it back
    spent = RetryQuota(capacity=10)
    assert spent.acquire(3)
    _http_client(_Pool((200, {})), quota=spent).call("GetItem", GET)
    assert spent.available == 8  # an answer without a retry refills 1


@pytest.mark.parametrize("broken", [
    (200, b"{not json"), (200, b"[1, 2]"), (200, b'"text"'),
    (200, b"{}", {"content-encoding": "gzip"}),
    (200, b"{}", {"x-amz-crc32": "not-a-number"}),
])
def test_a_broken_answer_is_a_retried_botocore_error_never_a_bare_one(broken: Any) -> None:
    pool = _Pool(broken, (200, {"Item": {"uuid": {"S": "u"}}}))
    assert _http_client(pool, attempts=2).call("GetItem", GET)["Item"] == {"uuid": {"S": "u"}}
    with pytest.raises(HTTPClientError):
        _http_client(_Pool(broken)).call("GetItem", GET)


def test_the_body_is_read_as_sent_and_a_300_is_an_answer_as_in_botocore() -> None:
    pool = _Pool((300, {}))
    assert _http_client(pool).call("GetItem", GET)["ResponseMetadata"]["HTTPStatusCode"] == 300
    assert pool.sent[0]["decode_content"] is False and pool.sent[0]["preload_content"] is True


def test_refusals_are_never_retried() -> None:
    for body in ({"__type": CCF, "message": "m"}, {"__type": "x#ValidationException"}):
        pool = _Pool((400, body), (200, {}))
        with pytest.raises(ClientError):
            _http_client(pool, attempts=3).call("PutItem", PUT_JSON)
        assert len(pool.sent) == 1


@pytest.mark.parametrize(("raised", "expected"), [
    (NewConnectionError(None, "refused"), EndpointConnectionError),  # type: ignore[arg-type]
    (Urllib3SSLError("EOF occurred in violation of protocol"), SSLError),
    (DecodeError("bad chunk"), HTTPClientError),
    (ValueError("Invalid header value"), HTTPClientError),
    (Urllib3ReadTimeout(None, "/", "read timed out"), ReadTimeoutError),  # type: ignore[arg-type]
    (ProtocolError("reset"), ConnectionClosedError),
])
def test_transport_failures_are_botocores_exceptions_and_retried(
    raised: Exception, expected: type[Exception],
) -> None:
    pool = _Pool(raised)
    with pytest.raises(expected) as caught:
        _http_client(pool, attempts=2).call("PutItem", PUT_JSON)
    assert isinstance(caught.value, BotoCoreError) and is_retryable(caught.value)
    assert len(pool.sent) == 2
    pool = _Pool(raised, (200, {}))
    answer = _http_client(pool, attempts=2).call("PutItem", PUT_JSON)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_a_connect_timeout_is_botocores() -> None:
    from urllib3.exceptions import ConnectTimeoutError as Urllib3ConnectTimeout

    with pytest.raises(ConnectTimeoutError):
        _http_client(_Pool(Urllib3ConnectTimeout("slow"))).call("PutItem", PUT_JSON)


def test_a_body_that_fails_its_crc32_is_retried_not_believed() -> None:
    good = json.dumps({"Item": {"uuid": {"S": "u"}}}).encode()
    bad_crc = {"x-amz-crc32": str((crc32(good) + 1) & 0xFFFFFFFF)}
    pool = _Pool((200, good, bad_crc), (200, good, {"x-amz-crc32": str(crc32(good))}))
    assert _http_client(pool, attempts=2).call("GetItem", GET)["Item"] == {"uuid": {"S": "u"}}
    assert len(pool.sent) == 2
    with pytest.raises(BotoCoreError):
        _http_client(_Pool((200, good, bad_crc))).call("GetItem", GET)


def test_credentials_are_read_per_request_and_a_missing_token_is_not_sent() -> None:
    creds = _Creds(token=None)
    pool = _Pool((200, {}))
    client = _http_client(pool, creds=creds)
    client.call("GetItem", GET)
    client.call("GetItem", GET)
    assert creds.calls == 2  # botocore's refreshable credentials refresh inside this call
    assert "X-Amz-Security-Token" not in pool.sent[0]["headers"]
    assert "SignedHeaders=content-type;host;x-amz-date;x-amz-target," in \
        pool.sent[0]["headers"]["Authorization"]


def test_the_host_header_keeps_a_port_and_drops_a_default_one() -> None:
    aws_host = "dynamodb.eu-west-1.amazonaws.com"
    for endpoint, host in (("http://127.0.0.1:5055", "127.0.0.1:5055"),
                           ("http://User@LocalHost:8000/", "localhost:8000"),
                           ("http://[::1]:8000", "[::1]:8000"),
                           (f"https://{aws_host}", aws_host),
                           (f"https://{aws_host}:443", aws_host)):
        pool = _Pool((200, {}))
        _http_client(pool, endpoint=endpoint).call("GetItem", GET)
        assert pool.sent[0]["headers"]["Host"] == host
    with pytest.raises(ValueError):
        _http_client(_Pool((200, {})), endpoint="ftp://example")


def test_the_table_on_the_http_wire_sends_and_reads_what_it_does_on_botocore() -> None:
    stored = _on_the_wire({"uuid": {"S": "u"}, "v": {"N": "4"}, "seen": {"N": "1700000000.125"},
                           "t": {"B": b"\x01\x02"}, "segs": {"NS": ["7", "11"]},
                           "pc1": {"M": {"s": {"L": [{"S": "x"}]}, "b": {"B": b"\x03"}}}})
    put = {"Item": ITEM, "ReturnValues": "ALL_OLD", **CONDITION}
    get = {"Key": {"uuid": "u"}, "ConsistentRead": True}
    for method, params, answer in (("put_item", put, {"Attributes": stored}),
                                   ("get_item", get, {"Item": stored})):
        sent: list[Any] = []
        botocore_table = WireTable(_botocore_client(200, answer, sent), "profiles")
        pool = _Pool((200, answer))
        http_table = WireTable(_http_client(pool), "profiles")
        theirs = getattr(botocore_table, method)(**params)
        ours = getattr(http_table, method)(**params)
        assert json.loads(pool.sent[0]["body"]) == json.loads(sent[0].body)
        key = "Attributes" if method == "put_item" else "Item"
        assert ours[key] == theirs[key] and ours[key]["t"] == Binary(b"\x01\x02")
        assert ours[key]["pc1"]["b"] == Binary(b"\x03")


@pytest.mark.parametrize(("environ", "wire"), [
    ({}, "botocore"),  # an in-process moto, or a laptop without an endpoint: botocore
    ({"AWS_LAMBDA_FUNCTION_NAME": "rtdcs-prod"}, "http"),
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5055"}, "http"),
    ({"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:5055"}, "http"),
    ({"AWS_LAMBDA_FUNCTION_NAME": "f", "HTTPS_PROXY": "http://proxy:3128"}, "botocore"),
    ({"RTDCS_DYNAMODB_WIRE": "botocore", "AWS_LAMBDA_FUNCTION_NAME": "f"}, "botocore"),
    ({"RTDCS_DYNAMODB_WIRE": "HTTP"}, "http"),
])
def test_the_wire_chosen(environ: dict[str, str], wire: str) -> None:
    assert dynamodb_wire(environ) == wire


def test_an_unknown_wire_is_refused() -> None:
    with pytest.raises(ValueError, match="RTDCS_DYNAMODB_WIRE"):
        dynamodb_wire({"RTDCS_DYNAMODB_WIRE": "grpc"})


# ---- against a server: moto's, over loopback HTTP ----------------------------------------------


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    from devtools.stack import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture()
def served(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.delenv("RTDCS_DYNAMODB_WIRE", raising=False)
    dynamo.reset_for_tests()
    name = f"profiles-{time.monotonic_ns()}"
    boto3.client("dynamodb", endpoint_url=moto_url).create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "uuid", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "uuid", "AttributeType": "S"}])
    yield name
    dynamo.reset_for_tests()


def test_the_app_uses_the_http_wire_against_a_server_and_reads_what_boto3_reads(
    served: str, moto_url: str,
) -> None:
    writer, reader = dynamo.write_table(served), dynamo.profile_table(served)
    assert isinstance(writer.meta.client, DynamoHttpClient)
    assert isinstance(reader._client, DynamoHttpClient)
    assert isinstance(reader._client._pool, PoolManager)
    assert reader._client._pool is writer.meta.client._pool  # one set of connections
    # The botocore configurations' attempts and timeouts: reads retried twice, writes by
    # ProfileRepository only.
    assert (reader._client._max_attempts, writer.meta.client._max_attempts) == (3, 1)
    assert (reader._client._timeout.read_timeout, writer.meta.client._timeout.read_timeout) \
        == (2, 1)
    assert reader._client.endpoint_url == moto_url
    writer.put_item(Item=ITEM)
    got = reader.get_item(Key={"uuid": ITEM["uuid"]}, ConsistentRead=True)["Item"]
    table = boto3.resource("dynamodb", endpoint_url=moto_url).Table(served)
    assert got == table.get_item(Key={"uuid": ITEM["uuid"]}, ConsistentRead=True)["Item"]
    assert got["t"] == Binary(b"\x02\x01\x02") and got["seen"] == Decimal("1700000000.123")


def test_a_failed_condition_against_a_server_returns_the_item_it_found(served: str) -> None:
    writer = dynamo.write_table(served)
    writer.put_item(Item=ITEM)
    with pytest.raises(ClientError) as caught:
        writer.put_item(Item=dict(ITEM, v=9), ReturnValuesOnConditionCheckFailure="ALL_OLD",
                        ConditionExpression="attribute_not_exists(#u)",
                        ExpressionAttributeNames={"#u": "uuid"})
    assert caught.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert caught.value.response["Item"]["t"] == {"B": b"\x02\x01\x02"}


def test_profiles_load_and_write_through_the_http_wire(served: str) -> None:
    from chalicelib.store.profiles import ProfileChanges

    repo = ProfileRepository(dynamo.profile_table(served), write_table=dynamo.write_table(served),
                             spool=None, wall_clock=lambda: NOW + 4)
    uuid = "2" * 38
    assert not repo.load(uuid, NOW).exists
    changes = ProfileChanges(now=NOW, event_id="e1", add_stamps={5: int(NOW)},
                             segments=frozenset({7}))
    assert repo.write(uuid, changes) == "written"
    stored = repo.load(uuid, NOW + 1)
    assert stored.exists and 5 in stored.traits and stored.version == 1
    assert stored.segments == frozenset({7})
    assert repo.write(uuid, changes, stored) == "duplicate"  # its guard was stored and read
    later = ProfileChanges(now=NOW + 2, event_id="e2", add_stamps={5: int(NOW) + 2})
    assert repo.write(uuid, later, stored) == "written"
    assert repo.load(uuid, NOW + 3).version == 2
    # A stale writer loses the race, re-reads through the failed condition's item, and wins.
    third = ProfileChanges(now=NOW + 4, event_id="e3", add_stamps={6: int(NOW) + 4})
    assert repo.write(uuid, third, stored) == "written"
    final = repo.load(uuid, NOW + 5)
    assert final.version == 3 and {5, 6} <= set(final.traits)


def test_a_reset_closes_the_wires_connections_and_builds_afresh(served: str) -> None:
    reader = dynamo.profile_table(served)
    pool = reader._client._pool
    assert "Item" not in reader.get_item(Key={"uuid": "x"}, ConsistentRead=True)
    assert len(pool.pools) == 1  # a keep-alive connection pool to the server
    dynamo.reset_for_tests()
    assert len(pool.pools) == 0  # closed, not left open towards a stopped server
    again = dynamo.profile_table(served)
    assert again._client is not reader._client and again._client._pool is not pool
    assert "Item" not in again.get_item(Key={"uuid": "x"}, ConsistentRead=True)


def test_without_credentials_botocore_says_so_and_nothing_is_cached(
    served: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
) -> None:
    from botocore.exceptions import NoCredentialsError

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    dynamo.reset_for_tests()
    writer = dynamo.write_table(served)
    assert not isinstance(writer.meta.client, DynamoHttpClient)
    assert dynamo._http_clients == {}  # credentials that appear later are used
    with pytest.raises(NoCredentialsError):
        writer.put_item(Item={"uuid": "u"})
