"""devtools/moto_patches.py: TransactWriteItems stays all-or-nothing without copying tables."""

from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from devtools import moto_patches

TABLE = "t"


@pytest.fixture
def client() -> Iterator[Any]:
    moto_patches.install()
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}])
        ddb.put_item(TableName=TABLE, Item={"pk": {"S": "a"}, "sk": {"S": "1"},
                                            "n": {"N": "1"}})
        yield ddb


def _items(ddb: Any) -> list[dict[str, Any]]:
    return sorted(ddb.scan(TableName=TABLE)["Items"], key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def _put(sk: str) -> dict[str, Any]:
    return {"Put": {"TableName": TABLE, "Item": {"pk": {"S": "b"}, "sk": {"S": sk}}}}


def test_a_failed_condition_applies_nothing_and_names_the_action(client: Any) -> None:
    before = _items(client)
    with pytest.raises(ClientError) as caught:
        client.transact_write_items(TransactItems=[
            _put("x"),
            {"ConditionCheck": {"TableName": TABLE, "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                                "ConditionExpression": "n = :two",
                                "ExpressionAttributeValues": {":two": {"N": "2"}}}},
        ])
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "ConditionalCheckFailed"]
    assert _items(client) == before


def test_a_valid_transaction_applies_every_action(client: Any) -> None:
    client.transact_write_items(TransactItems=[
        _put("x"),
        {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                    "UpdateExpression": "ADD n :one", "ConditionExpression": "n = :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}}}},
        {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "nobody"}, "sk": {"S": "0"}}}},
    ])
    items = _items(client)
    assert items[0]["n"] == {"N": "2"} and items[1]["sk"] == {"S": "x"}


def test_an_action_failing_midway_is_rolled_back(client: Any) -> None:
    before = _items(client)
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[
            _put("x"),
            {"Update": {"TableName": TABLE, "Key": {"pk": {"S": "a"}, "sk": {"S": "1"}},
                        "UpdateExpression": "ADD n :s",  # ADD of a string to a number fails
                        "ExpressionAttributeValues": {":s": {"S": "nope"}}}},
        ])
    assert _items(client) == before


def test_two_actions_on_one_item_are_refused(client: Any) -> None:
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[_put("x"), _put("x")])
    assert len(_items(client)) == 1
