"""Issue 17: the profile path's plain botocore clients (``WireTable`` on the ``botocore``
wire) send the very request a boto3 Table would, and the cached User-Agent is the string
botocore builds. The ``http`` wire: tests/unit/test_dynamo_http.py."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Iterator

import pytest
from boto3.dynamodb.types import Binary
from botocore.awsrequest import AWSResponse
from botocore.context import start_as_current_context
from botocore.exceptions import ClientError
from botocore.useragent import UserAgentString, register_feature_id

from chalicelib.runtime import aws
from chalicelib.store import dynamo

ITEM = {"uuid": "1" * 38, "v": 3, "seen": Decimal("1700000000.123"), "expires_at": 1710368000,
        "t": b"\x02\x01\x02", "g": Binary(b"\x01\x00"), "segs": {7, 11, 5_000_001},
        "i0": "abc", "l5": ["x", "y"], "au": {"5": "d"}, "pc2": {"s": ["a"], "x": Decimal("1.5")}}
CONDITION = {"ConditionExpression": "#v = :v AND #s = :s AND attribute_not_exists(#o)",
             "ExpressionAttributeNames": {"#v": "v", "#s": "seen", "#o": "optout"},
             "ExpressionAttributeValues": {":v": 2, ":s": Decimal("1699999999.5")}}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class _Answer:
    """Records each request body at ``before-send`` and answers with ``status``/``payload``."""

    def __init__(self, status: int = 200, payload: dict[str, Any] | None = None) -> None:
        self.status = status
        self.payload = payload or {}
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: Any, **_: Any) -> AWSResponse:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        self.bodies.append(json.loads(body))
        headers = {"content-type": "application/x-amz-json-1.0", "x-amzn-requestid": "t"}
        return AWSResponse(request.url, self.status, headers,
                           _Raw(json.dumps(self.payload).encode()))


@pytest.fixture()
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached: answered
    monkeypatch.setenv("RTDCS_DYNAMODB_WIRE", "botocore")  # the http wire: test_dynamo_http
    dynamo.reset_for_tests()
    yield
    dynamo.reset_for_tests()


def _old_write_table() -> Any:
    """What write_table returned before: a Table of a resource with the same configuration."""
    return aws.resource("dynamodb", config=dynamo._CONFIGS["profile_writes"]).Table("profiles")


def _hooked(client: Any, answer: _Answer) -> None:
    client.meta.events.unregister("before-send.dynamodb", unique_id="test-wire")
    client.meta.events.register("before-send.dynamodb", answer, unique_id="test-wire")


def test_a_put_sends_what_the_boto3_table_sends(clients: None) -> None:
    table_answer, wire_answer = _Answer(), _Answer()
    resource_table = _old_write_table()
    _hooked(resource_table.meta.client, table_answer)
    wire = dynamo.write_table("profiles")
    _hooked(wire.meta.client, wire_answer)
    params = {"Item": ITEM, "ReturnValuesOnConditionCheckFailure": "ALL_OLD", **CONDITION}
    assert resource_table.put_item(**params) == wire.put_item(**params)
    assert wire_answer.bodies == table_answer.bodies
    assert wire_answer.bodies[0]["Item"]["segs"]["NS"]  # serialized here, as boto3 does
    assert params["Item"] is ITEM and "TableName" not in params  # the caller's dict untouched


def test_returned_attributes_are_python_values_and_failures_the_same_errors(
    clients: None,
) -> None:
    old = {"uuid": {"S": "u"}, "v": {"N": "2"}, "t": {"B": "AQI="}, "segs": {"NS": ["7"]}}
    wire = dynamo.write_table("profiles")
    _hooked(wire.meta.client, _Answer(payload={"Attributes": old}))
    got = wire.put_item(Item={"uuid": "u", "v": 3}, ReturnValues="ALL_OLD")["Attributes"]
    assert got == {"uuid": "u", "v": Decimal(2), "t": Binary(b"\x01\x02"), "segs": {Decimal(7)}}

    failed = {"__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
              "message": "The conditional request failed", "Item": old}
    errors = []
    for made in (_old_write_table(), dynamo.write_table("profiles")):
        _hooked(made.meta.client, _Answer(400, failed))
        with pytest.raises(ClientError) as caught:
            made.put_item(Item={"uuid": "u", "v": 3},
                          ReturnValuesOnConditionCheckFailure="ALL_OLD", **CONDITION)
        errors.append(caught.value.response)
    assert errors[0]["Error"]["Code"] == "ConditionalCheckFailedException"
    assert errors[1] == errors[0]  # the item as botocore parsed it, not converted by boto3
    assert errors[1]["Item"]["t"] == {"B": b"\x01\x02"}


def test_a_get_sends_and_returns_what_the_boto3_table_does(clients: None) -> None:
    stored = {"uuid": {"S": "u"}, "v": {"N": "4"}, "seen": {"N": "1700000000.125"},
              "t": {"B": "AQI="}, "segs": {"NS": ["7", "11"]}, "l5": {"L": [{"S": "x"}]}}
    resource_table = dynamo.table("profiles")
    reader = dynamo.profile_table("profiles")
    answers = []
    results = []
    for made in (resource_table, reader):
        answer = _Answer(payload={"Item": stored})
        _hooked(made._client if made is reader else made.meta.client, answer)
        results.append(made.get_item(Key={"uuid": "u"}, ConsistentRead=True,
                                     ProjectionExpression="#o",
                                     ExpressionAttributeNames={"#o": "optout"}))
        answers.append(answer.bodies)
    assert answers[1] == answers[0]
    assert results[1] == results[0]
    assert results[1]["Item"]["segs"] == {Decimal(7), Decimal(11)}
    # BatchGetItem (load_many) still goes through the Table's client, with Python values.
    assert reader.meta.client is resource_table.meta.client and reader.name == "profiles"


def test_floats_are_refused_before_sending_as_boto3_refuses_them(clients: None) -> None:
    answer = _Answer()
    wire = dynamo.write_table("profiles")
    _hooked(wire.meta.client, answer)
    with pytest.raises(TypeError):
        wire.put_item(Item={"uuid": "u", "seen": 1.5})
    assert answer.bodies == []


def test_every_client_the_app_uses_is_listed_for_hooks(clients: None) -> None:
    listed = dynamo.dynamodb_clients()
    assert dynamo.write_table("profiles").meta.client in listed
    assert dynamo.table("profiles").meta.client in listed
    assert dynamo.profile_table("profiles")._client in listed


def test_the_cached_user_agent_is_botocores_for_each_feature_set(clients: None) -> None:
    client = aws.client("dynamodb")
    creator = client._user_agent_creator

    def fresh() -> str:
        return UserAgentString.to_string(creator)  # botocore's own, uncached

    assert creator._rtdcs_cached and creator.to_string() == fresh()
    with start_as_current_context():
        register_feature_id("RETRY_MODE_STANDARD")
        with_feature = creator.to_string()
        assert with_feature == fresh() and with_feature != UserAgentString.to_string(
            aws.client("dynamodb")._user_agent_creator)
    assert creator.to_string() == fresh()  # the context's feature is gone again


def test_plain_clients_skip_botocores_parameter_check_the_resource_keeps_it(
    clients: None,
) -> None:
    from botocore.validate import ParamValidationDecorator

    def checks(client: Any) -> bool:  # botocore wraps the serializer in the check
        return isinstance(client._serializer, ParamValidationDecorator)

    assert not checks(dynamo.write_table("profiles").meta.client)
    assert not checks(dynamo.profile_table("profiles")._client)
    assert checks(dynamo.table("profiles").meta.client)
