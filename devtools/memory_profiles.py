"""An in-memory profile table that enforces what moto does not: DynamoDB's 400 KB item limit by
DynamoDB's own size rules and the 4 KB expression limit, both with ``ValidationException``, and
the conditions the profile repository writes. It also counts write units as DynamoDB would
(the larger of the item before and after). Fast enough for tens of thousands of events (tests
and ``bench/profile_growth.py``); the same scenarios run against moto in the route tests."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.types import TypeSerializer
from botocore.exceptions import ClientError

from chalicelib.store.item_size import (
    MAX_EXPRESSION_BYTES,
    MAX_ITEM_BYTES,
    item_size,
    write_units,
)

_SERIALIZER = TypeSerializer()


def _error(code: str, item: dict[str, Any] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": code},
                                "ResponseMetadata": {"HTTPStatusCode": 400}}
    if item is not None:
        response["Item"] = {k: _SERIALIZER.serialize(v) for k, v in item.items()}
    return ClientError(response, "PutItem")  # type: ignore[arg-type]


class MemoryProfileTable:
    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.puts = 0
        self.largest_item = 0
        self.largest_request = 0
        self.write_units: list[int] = []  # per successful put

    def get_item(self, Key: dict[str, str], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        item = self.items.get(Key["uuid"])
        return {"Item": dict(item)} if item is not None else {}

    def put_item(self, Item: dict[str, Any], **kwargs: Any) -> dict[str, Any]:  # noqa: N803
        condition = kwargs.get("ConditionExpression", "")
        if len(condition.encode()) > MAX_EXPRESSION_BYTES:
            raise _error("ValidationException")
        size = item_size(Item)
        if size > MAX_ITEM_BYTES:
            raise _error("ValidationException")
        current = self.items.get(Item["uuid"])
        if not self._holds(condition, kwargs.get("ExpressionAttributeValues", {}), current):
            raise _error("ConditionalCheckFailedException", current)
        self.write_units.append(write_units(item_size(current) if current else 0, size))
        self.items[Item["uuid"]] = dict(Item)
        self.puts += 1
        self.largest_item = max(self.largest_item, size)
        self.largest_request = max(self.largest_request, size + len(condition.encode()))
        return {}

    @staticmethod
    def _holds(condition: str, values: dict[str, Any], item: dict[str, Any] | None) -> bool:
        if condition == "attribute_not_exists(#u)":
            return item is None
        if item is None:
            return False
        if condition == "#v = :v AND attribute_not_exists(#o)":
            return "optout" not in item and item.get("v") == values[":v"]
        if condition == "#v = :v AND #s = :s AND attribute_not_exists(#o)":
            return ("optout" not in item and item.get("v") == values[":v"]
                    and item.get("seen") == values[":s"])
        if condition.startswith("attribute_not_exists(#v) AND attribute_not_exists(#o)"):
            if "v" in item or "optout" in item:
                return False
            if ":s" in values:
                return bool(item.get("seen") == values[":s"])
            return "seen" not in item
        raise AssertionError(f"a condition the repository does not write: {condition}")
