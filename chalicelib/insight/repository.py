"""The insight table: one item per (kind, id, UTC day) (docs/insight.md, "Storage").

Item: ``k`` (S, ``t#2001`` / ``s#5001`` / ``d#900``) and ``d`` (N, the UTC day) as key;
``s`` (B) the compact Theta sketch of the day's UUIDs; ``n`` (N) the day's events; ``v`` (N)
a version; ``expires_at`` (N) the TTL, 100 days after the day.

A merge reads the item, unites its sketch with the batch's and writes it back with a
PutItem conditional on the version it read (or on its absence). When another aggregator won,
DynamoDB returns the current item with the failure (``ReturnValuesOnConditionCheckFailure``)
and the merge is redone on it, with no extra read: concurrent aggregators lose nothing. A
sketch union is idempotent, so a batch Lambda retries cannot inflate uniques (its events may
be counted twice for the keys written before the failure: docs/insight.md).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Callable, Iterable, NamedTuple

from boto3.dynamodb.types import Binary, TypeDeserializer
from botocore.exceptions import ClientError

from chalicelib.insight import sketches
from chalicelib.insight.days import expires_at
from chalicelib.insight.keys import Kind, SketchKey, partition
from chalicelib.store.item_size import MAX_ITEM_BYTES, item_size, write_units

MAX_CONFLICTS = 50
_CONDITION_FAILED = "ConditionalCheckFailedException"
_QUERY_THREADS = 16
_DESERIALIZER = TypeDeserializer()


class DayRow(NamedTuple):
    day: int
    sketch: bytes
    events: int


class MergeResult(NamedTuple):
    writes: int  # PutItem requests (1 + lost races)
    conflicts: int
    write_units: int  # of the write that landed (DynamoDB's rule: the larger item, per KB)
    item_bytes: int


class MergeConflictsExhausted(RuntimeError):
    """Too many lost races on one key: the batch fails and Lambda delivers it again."""


def _blob(value: Any) -> bytes:
    return bytes(value.value) if isinstance(value, Binary) else bytes(value)


class InsightRepository:
    """Reads and conditional merges of day sketches. ``table`` is a boto3 Table resource;
    ``pause`` is called between lost races (tests pass a no-op)."""

    def __init__(self, table: Any, pause: Callable[[int], None] = lambda attempt: None) -> None:
        self._table = table
        self._pause = pause

    def merge(self, key: SketchKey, added: Any, events: int) -> MergeResult:
        """Unite ``added`` (a compact sketch) and ``events`` into the key's day item."""
        dynamo_key = {"k": key.partition, "d": key.day}
        stored = self._table.get_item(Key=dynamo_key).get("Item")
        conflicts = 0
        while True:
            item, old_bytes = self._next_item(key, stored, added, events)
            condition: dict[str, Any]
            if stored is None:
                condition = {"ConditionExpression": "attribute_not_exists(#k)",
                             "ExpressionAttributeNames": {"#k": "k"}}
            else:
                condition = {"ConditionExpression": "#v = :v",
                             "ExpressionAttributeNames": {"#v": "v"},
                             "ExpressionAttributeValues": {":v": stored["v"]}}
            try:
                self._table.put_item(Item=item, ReturnValuesOnConditionCheckFailure="ALL_OLD",
                                     **condition)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                    raise
                conflicts += 1
                if conflicts > MAX_CONFLICTS:
                    raise MergeConflictsExhausted(f"{key}: {conflicts} lost races") from None
                raw = exc.response.get("Item")
                stored = None if not raw else {
                    name: _DESERIALIZER.deserialize(value) for name, value in raw.items()}
                self._pause(conflicts)
                continue
            size = item_size(item)
            return MergeResult(conflicts + 1, conflicts, write_units(old_bytes, size), size)

    @staticmethod
    def _next_item(key: SketchKey, stored: dict[str, Any] | None, added: Any,
                   events: int) -> tuple[dict[str, Any], int]:
        old_sketch = None if stored is None or "s" not in stored else _blob(stored["s"])
        item = {
            "k": key.partition,
            "d": key.day,
            "s": sketches.merged(old_sketch, added),
            "n": int(stored.get("n", 0) if stored else 0) + events,
            "v": int(stored["v"]) + 1 if stored else 1,
            "expires_at": expires_at(key.day),
        }
        # Cannot happen with lg_k 13 (~54 KB at most), checked rather than trusted.
        if item_size(item) > MAX_ITEM_BYTES:
            raise ValueError(f"{key}: a sketch item of {item_size(item)} bytes")
        return item, 0 if stored is None else item_size(stored)

    # -- reads ------------------------------------------------------------------------------
    def days(self, kind: Kind, object_id: int, first: int, last: int) -> list[DayRow]:
        """The day items of one id from ``first`` to ``last`` (inclusive), oldest first."""
        # The resource's client: thread-safe (resources are not), and it still converts
        # between Python values and DynamoDB's typed JSON.
        client = self._table.meta.client
        arguments: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "#k = :k AND #d BETWEEN :a AND :b",
            "ExpressionAttributeNames": {"#k": "k", "#d": "d", "#s": "s", "#n": "n"},
            "ExpressionAttributeValues": {":k": partition(kind, object_id), ":a": first,
                                          ":b": last},
            "ProjectionExpression": "#d, #s, #n",
        }
        rows: list[DayRow] = []
        while True:
            page = client.query(**arguments)
            for item in page.get("Items", []):
                if "s" in item:
                    rows.append(DayRow(int(item["d"]), _blob(item["s"]),
                                       int(Decimal(item.get("n", 0)))))
            last_key = page.get("LastEvaluatedKey")
            if not last_key:
                return rows
            arguments["ExclusiveStartKey"] = last_key

    def days_of_many(self, kind: Kind, ids: Iterable[int], first: int,
                     last: int) -> dict[int, list[DayRow]]:
        """``days`` for several ids, queried in parallel (one Query each)."""
        wanted = list(dict.fromkeys(ids))
        if len(wanted) <= 1:
            return {i: self.days(kind, i, first, last) for i in wanted}
        with ThreadPoolExecutor(max_workers=min(_QUERY_THREADS, len(wanted))) as pool:
            found = pool.map(lambda i: self.days(kind, i, first, last), wanted)
            return dict(zip(wanted, found, strict=True))
