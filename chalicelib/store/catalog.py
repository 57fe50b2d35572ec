"""Catalog repository: data sources, traits, segments, providers, destinations, mappings.

Table layout: partition key ``pk`` = kind, sort key ``sk`` = the object's id as a string,
attribute ``body`` = the object (admin-API field names). The item ``pk=meta, sk=version``
holds a counter bumped on every change; the event path reloads only when it moves.

Ids: the item ``pk=meta, sk=ids#<kind>`` holds the kind's high-water mark ``hw``, the largest
id ever used. New ids come from an atomic ``ADD hw 1``; an explicit id (import, seeding) is
accepted only above the mark, which then moves to it. Deleting an object leaves the mark alone,
so an id is never handed out twice.

Admin changes go through :meth:`CatalogRepository.commit`: one transaction that writes the
objects and bumps the version **on condition that the version is still the one the change was
checked against**. Every admin check therefore runs on a consistent snapshot, and two
concurrent changes cannot both pass checks that each would break (the loser retries).
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from botocore.exceptions import ClientError

KINDS = ("datasource", "trait", "segment", "provider", "destination", "mapping")
_META = "meta"
_VERSION_KEY = {"pk": _META, "sk": "version"}


class ConcurrentChange(RuntimeError):
    """The catalog moved (or the object changed) between the checks and the write."""


# Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
class Snapshot(NamedTuple):
    """Every catalog object at one version, read with strong consistency."""

    version: int
    objects: Mapping[str, Sequence[dict[str, Any]]]


def _to_plain(value: Any) -> Any:
    """DynamoDB returns Decimals; the catalog is plain JSON."""
    return json.loads(json.dumps(value, default=_decimal_default))


def _decimal_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown catalog kind {kind!r}")


def _ids_key(kind: str) -> dict[str, str]:
    return {"pk": _META, "sk": f"ids#{kind}"}


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class CatalogRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    # ---- store-level writes (seeding, tests) -------------------------------------------------

    def put(self, kind: str, object_id: int | str, body: dict[str, Any]) -> None:
        _check_kind(kind)
        # Stored as a JSON string: keeps floats and nesting exact, and the item small.
        self._table.put_item(Item={"pk": kind, "sk": str(object_id), "body": json.dumps(body)})
        if isinstance(object_id, int) or str(object_id).isdigit():
            self.reserve_id(kind, int(object_id))  # ids written here are never handed out

    def delete(self, kind: str, object_id: int | str) -> None:
        self._table.delete_item(Key={"pk": kind, "sk": str(object_id)})

    def put_many(self, objects: Iterable[tuple[str, int | str, dict[str, Any]]]) -> None:
        """Batched writes (25 a request), then one id reservation per kind (its highest id)."""
        highest: dict[str, int] = {}
        with self._table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for kind, object_id, body in objects:
                _check_kind(kind)
                batch.put_item(Item={"pk": kind, "sk": str(object_id), "body": json.dumps(body)})
                if isinstance(object_id, int) or str(object_id).isdigit():
                    highest[kind] = max(highest.get(kind, 0), int(object_id))
        for kind, object_id in highest.items():
            self.reserve_id(kind, object_id)

    # ---- reads -------------------------------------------------------------------------------

    def list_kind(self, kind: str, consistent: bool = False) -> list[dict[str, Any]]:
        # Through the table's client, not the Table: clients are thread-safe, resources are
        # not, and load_all reads the kinds in parallel. (A resource's client still takes and
        # returns plain Python values.)
        client = self._table.meta.client
        kwargs: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "#pk = :kind",
            "ExpressionAttributeNames": {"#pk": "pk"},
            "ExpressionAttributeValues": {":kind": kind},
            "ConsistentRead": consistent,
        }
        items: list[dict[str, Any]] = []
        while True:
            page = client.query(**kwargs)
            items.extend(json.loads(item["body"]) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def load_all(self, consistent: bool = False) -> dict[str, list[dict[str, Any]]]:
        """Every kind, one query each, all at once: a cold container and every catalog change
        wait for one round trip instead of six."""
        with ThreadPoolExecutor(max_workers=len(KINDS), thread_name_prefix="catalog") as pool:
            lists = list(pool.map(lambda kind: self.list_kind(kind, consistent), KINDS))
        return dict(zip(KINDS, lists, strict=True))

    def get(self, kind: str, object_id: int | str) -> dict[str, Any] | None:
        _check_kind(kind)
        item = self._table.get_item(
            Key={"pk": kind, "sk": str(object_id)}, ConsistentRead=True
        ).get("Item")
        return None if item is None else dict(json.loads(item["body"]))

    def version(self, consistent: bool = False) -> int:
        item = self._table.get_item(Key=_VERSION_KEY, ConsistentRead=consistent).get("Item")
        return int(_to_plain(item["v"])) if item and "v" in item else 0

    def snapshot(self) -> Snapshot:
        """The version first, then the objects: a change landing in between moves the version,
        so a commit conditioned on this snapshot's version fails instead of trusting it.
        (Queries, not a Scan: the function's IAM policy grants Query on the catalog table.)"""
        version = self.version(consistent=True)
        return Snapshot(version, self.load_all(consistent=True))

    # ---- versions and ids ----------------------------------------------------------------------

    def bump_version(self) -> int:
        result = self._table.update_item(
            Key=_VERSION_KEY,
            UpdateExpression="ADD v :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        return int(_to_plain(result["Attributes"]["v"]))

    def high_water(self, kind: str) -> int:
        item = self._table.get_item(Key=_ids_key(kind), ConsistentRead=True).get("Item")
        return int(_to_plain(item["hw"])) if item and "hw" in item else 0

    def allocate_id(self, kind: str) -> int:
        """A fresh id for ``kind``: one above every id it has ever had."""
        _check_kind(kind)
        result = self._table.update_item(
            Key=_ids_key(kind),
            UpdateExpression="ADD hw :one",
            ExpressionAttributeValues={":one": 1},
            ReturnValues="UPDATED_NEW",
        )
        return int(_to_plain(result["Attributes"]["hw"]))

    def reserve_id(self, kind: str, object_id: int) -> bool:
        """Raise the high-water mark to ``object_id``; False if it is already at or above it
        (the id is, or was, in use)."""
        _check_kind(kind)
        try:
            self._table.update_item(
                Key=_ids_key(kind),
                UpdateExpression="SET hw = :id",
                ConditionExpression="attribute_not_exists(hw) OR hw < :id",
                ExpressionAttributeValues={":id": object_id},
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    # ---- admin changes ---------------------------------------------------------------------------

    def commit(
        self,
        expected_version: int,
        puts: Sequence[tuple[str, int, dict[str, Any]]] = (),
        deletes: Sequence[tuple[str, int]] = (),
    ) -> int:
        """Write ``puts`` and ``deletes`` and bump the version once, atomically, if the version
        is still ``expected_version``. Returns the new version; raises :class:`ConcurrentChange`
        when the catalog moved since the snapshot the change was checked against."""
        name = self._table.name
        items: list[dict[str, Any]] = []
        for kind, object_id, body in puts:
            _check_kind(kind)
            item = {"pk": kind, "sk": str(object_id), "body": json.dumps(body)}
            items.append({"Put": {"TableName": name, "Item": item}})
        for kind, object_id in deletes:
            _check_kind(kind)
            key = {"pk": kind, "sk": str(object_id)}
            items.append({"Delete": {"TableName": name, "Key": key}})
        values: dict[str, Any] = {":one": 1}
        if expected_version == 0:
            condition = "attribute_not_exists(v)"
        else:
            condition = "v = :expected"
            values[":expected"] = expected_version
        items.append(
            {
                "Update": {
                    "TableName": name,
                    "Key": _VERSION_KEY,
                    "UpdateExpression": "ADD v :one",
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                }
            }
        )
        client = self._table.meta.client  # the resource's client takes plain Python values
        try:
            client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "TransactionCanceledException",
                "TransactionConflictException",
            ):
                raise ConcurrentChange(str(exc)) from exc
            raise
        return expected_version + 1
