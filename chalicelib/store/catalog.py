"""Catalog repository: data sources, traits, segments, providers, destinations, mappings.

Table layout: partition key ``pk`` = kind, sort key ``sk`` = the object's id as a string,
attribute ``body`` = the object (admin-API field names). The item ``pk=meta, sk=version``
holds a counter bumped on every change; the event path reloads only when it moves.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Iterable

from boto3.dynamodb.conditions import Key

KINDS = ("datasource", "trait", "segment", "provider", "destination", "mapping")
_META = "meta"


def _to_plain(value: Any) -> Any:
    """DynamoDB returns Decimals; the catalog is plain JSON."""
    return json.loads(json.dumps(value, default=_decimal_default))


def _decimal_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class CatalogRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    def put(self, kind: str, object_id: int | str, body: dict[str, Any]) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown catalog kind {kind!r}")
        # Stored as a JSON string: keeps floats and nesting exact, and the item small.
        self._table.put_item(Item={"pk": kind, "sk": str(object_id), "body": json.dumps(body)})

    def delete(self, kind: str, object_id: int | str) -> None:
        self._table.delete_item(Key={"pk": kind, "sk": str(object_id)})

    def list_kind(self, kind: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(kind)}
        while True:
            page = self._table.query(**kwargs)
            items.extend(json.loads(item["body"]) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def load_all(self) -> dict[str, list[dict[str, Any]]]:
        return {kind: self.list_kind(kind) for kind in KINDS}

    def version(self) -> int:
        item = self._table.get_item(Key={"pk": _META, "sk": "version"}).get("Item")
        return int(_to_plain(item["v"])) if item else 0

    def bump_version(self) -> int:
        result = self._table.update_item(
            Key={"pk": _META, "sk": "version"},
            UpdateExpression="ADD v :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        return int(_to_plain(result["Attributes"]["v"]))

    def put_many(self, objects: Iterable[tuple[str, int | str, dict[str, Any]]]) -> None:
        for kind, object_id, body in objects:
            self.put(kind, object_id, body)
