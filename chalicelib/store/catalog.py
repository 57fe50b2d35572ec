"""Catalog repository: data sources, traits, segments, providers, destinations, mappings.

Table layout: partition key ``pk`` = kind, sort key ``sk`` = the object's id as a string,
attribute ``body`` = the object (admin-API field names). The item ``pk=meta, sk=version``
holds a counter bumped on every change; the event path reloads only when it moves.

Ids: the item ``pk=meta, sk=ids#<kind>`` holds the kind's high-water mark ``hw``, the largest
id ever used. New ids come from an atomic ``ADD hw 1``; an explicit id (import, seeding) is
accepted only above the mark, which then moves to it. Deleting an object leaves the mark alone,
so an id is never handed out twice.

Admin changes go through :meth:`CatalogRepository.commit`: one transaction that writes the
objects, their index items (store/catalog_index.py: unique keys and references) and bumps the
version **on condition that the version is still the one the change was checked against**.
A change reads the version first, then only the items its checks need (the object, what it
references, its unique keys, who uses it): what it read cannot have moved without moving the
version, so two concurrent changes cannot both pass checks that each would break (the loser
retries), and the cost of a change does not depend on the size of the catalog.

A segment may reference thousands of traits, more reference items than one transaction holds
(100 actions): the extra ones are written before the transaction and removed after it. A
reference item whose user does not use the object any more (a change that lost its race) is
recognised when read (``users_of``) and ignored.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from botocore.exceptions import ClientError

from chalicelib.store import catalog_index as ci

KINDS = ("datasource", "trait", "segment", "provider", "destination", "mapping", "mergerule")
_META = "meta"
_VERSION_KEY = {"pk": _META, "sk": "version"}
_INDEX_KEY = {"pk": _META, "sk": "index"}  # present once the index items are complete
_INDEX_LAYOUT = 1
_TRANSACTION_ACTIONS = 100  # DynamoDB's limit per TransactWriteItems


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
        old = self.get(kind, object_id)
        # Stored as a JSON string: keeps floats and nesting exact, and the item small.
        self._table.put_item(Item={"pk": kind, "sk": str(object_id), "body": json.dumps(body)})
        if isinstance(object_id, int) or str(object_id).isdigit():
            self._write_index_changes([(kind, int(object_id), old, body)])
            self.reserve_id(kind, int(object_id))  # ids written here are never handed out

    def delete(self, kind: str, object_id: int | str) -> None:
        old = self.get(kind, object_id)
        self._table.delete_item(Key={"pk": kind, "sk": str(object_id)})
        if old is not None and (isinstance(object_id, int) or str(object_id).isdigit()):
            self._write_index_changes([(kind, int(object_id), old, None)])

    def put_many(self, objects: Iterable[tuple[str, int | str, dict[str, Any]]]) -> None:
        """Batched writes (25 a request), then one id reservation per kind (its highest id)."""
        highest: dict[str, int] = {}
        # Into an empty catalog (seeding, benchmarks), the index is complete when done; else
        # the first admin change completes it (build_index).
        complete = self.index_ready() or self._empty()
        written: list[tuple[str, int | str, dict[str, Any]]] = []
        with self._table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for kind, object_id, body in objects:
                _check_kind(kind)
                written.append((kind, object_id, body))
                batch.put_item(Item={"pk": kind, "sk": str(object_id), "body": json.dumps(body)})
                if isinstance(object_id, int) or str(object_id).isdigit():
                    highest[kind] = max(highest.get(kind, 0), int(object_id))
                    for item in _index_items(kind, int(object_id), body):
                        batch.put_item(Item=item)
        for kind, object_id in highest.items():
            self.reserve_id(kind, object_id)
        self._recount({ci.order_pk(kind, body) for kind, _, body in written})
        if complete:
            self._table.put_item(Item={"pk": _META, "sk": "index", "layout": _INDEX_LAYOUT})

    def _empty(self) -> bool:
        client = self._table.meta.client
        for kind in KINDS:
            page = client.query(TableName=self._table.name, KeyConditionExpression="#pk = :k",
                                ExpressionAttributeNames={"#pk": "pk"},
                                ExpressionAttributeValues={":k": kind}, Limit=1,
                                ConsistentRead=True)
            if page.get("Items"):
                return False
        return True

    # ---- reads -------------------------------------------------------------------------------

    def list_kind(self, kind: str, consistent: bool = False) -> list[dict[str, Any]]:
        # Through the table's client, not the Table: clients are thread-safe, resources are
        # not, and load_all reads the kinds in parallel. (A resource's client still takes and
        # returns plain Python values.)
        client = self._table.meta.client
        kwargs = self._kind_query(kind, consistent)
        items: list[dict[str, Any]] = []
        while True:
            page = client.query(**kwargs)
            items.extend(json.loads(item["body"]) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _kind_query(self, partition: str, consistent: bool) -> dict[str, Any]:
        return {
            "TableName": self._table.name,
            "KeyConditionExpression": "#pk = :kind",
            "ExpressionAttributeNames": {"#pk": "pk"},
            "ExpressionAttributeValues": {":kind": partition},
            "ConsistentRead": consistent,
        }

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

    def get_many(self, kind: str, object_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Consistent reads of some objects of one kind (BatchGetItem, 100 keys a request)."""
        _check_kind(kind)
        wanted = sorted(set(object_ids))
        found: dict[int, dict[str, Any]] = {}
        client = self._table.meta.client
        for start in range(0, len(wanted), 100):
            keys: list[dict[str, Any]] = [{"pk": kind, "sk": str(i)}
                                          for i in wanted[start:start + 100]]
            request: dict[str, Any] = {self._table.name: {"Keys": keys, "ConsistentRead": True}}
            while request:
                answer = client.batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table.name, []):
                    found[int(item["sk"])] = dict(json.loads(item["body"]))
                request = answer.get("UnprocessedKeys") or {}
        return found

    def key_owner(self, kind: str, key: str) -> int | None:
        """The id of the ``kind`` object that owns unique ``key`` (catalog_index.unique_key)."""
        item = self._table.get_item(Key={"pk": ci.key_pk(kind), "sk": key},
                                    ConsistentRead=True).get("Item")
        return None if item is None else int(_to_plain(item["id"]))

    def users_of(self, ref: ci.Ref, limit: int | None = None
                 ) -> list[tuple[ci.Ref, dict[str, Any]]]:
        """The objects that use ``ref``, with their bodies, in (kind, id) order: reference items
        checked against their users' bodies (an item left by a change that did not commit is
        ignored). ``limit``: stop once that many are found, so refusing to delete a data
        source that 100,000 traits use reads a page of them, not all."""
        client = self._table.meta.client
        kwargs: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": "pk"},
            "ExpressionAttributeValues": {":pk": ci.ref_pk(ref)},
            "ConsistentRead": True,
        }
        claimed: dict[str, list[int]] = {}
        while True:
            page = client.query(**kwargs)
            for item in page.get("Items", []):
                user = ci.parse_user(str(item["sk"]))
                if user is not None:
                    claimed.setdefault(user.kind, []).append(user.object_id)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        users: list[tuple[ci.Ref, dict[str, Any]]] = []
        for kind, ids in sorted(claimed.items()):
            ids.sort()
            for start in range(0, len(ids), 100):
                bodies = self.get_many(kind, ids[start:start + 100])
                users += [(ci.Ref(kind, i), bodies[i]) for i in sorted(bodies)
                          if ci.uses(kind, bodies[i], ref)]
                if limit is not None and len(users) >= limit:
                    return users[:limit]
        return users

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

    def allocate_ids(self, kind: str, count: int) -> int:
        """``count`` fresh ids for ``kind`` in one write; returns the first (they follow it)."""
        _check_kind(kind)
        result = self._table.update_item(
            Key=_ids_key(kind),
            UpdateExpression="ADD hw :n",
            ExpressionAttributeValues={":n": count},
            ReturnValues="UPDATED_NEW",
        )
        return int(_to_plain(result["Attributes"]["hw"])) - count + 1

    def list_page(self, kind: str, after: str | None, limit: int
                  ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` objects of ``kind`` after sort key ``after`` (None: from the start),
        and the sort key to continue from (None at the end). Eventually consistent."""
        _check_kind(kind)
        kwargs = self._kind_query(kind, consistent=False)
        kwargs["Limit"] = limit
        if after is not None:
            kwargs["ExclusiveStartKey"] = {"pk": kind, "sk": after}
        page = self._table.meta.client.query(**kwargs)
        items = page.get("Items", [])
        bodies = [json.loads(item["body"]) for item in items]
        last = page.get("LastEvaluatedKey")
        return bodies, (str(last["sk"]) if last else None)

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
        previous: Mapping[tuple[str, int], Mapping[str, Any] | None] | None = None,
    ) -> int:
        """Write ``puts`` and ``deletes`` with their index items and bump the version once,
        atomically, if the version is still ``expected_version``. ``previous``: the stored
        bodies the change replaces or deletes (None or absent: a new object). Returns the new
        version; raises :class:`ConcurrentChange` when the catalog moved since the version the
        change was checked against."""
        name = self._table.name
        previous = previous or {}
        items: list[dict[str, Any]] = []
        index_puts: list[dict[str, Any]] = []
        index_deletes: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        for kind, object_id, body in puts:
            _check_kind(kind)
            item = {"pk": kind, "sk": str(object_id), "body": json.dumps(body)}
            items.append({"Put": {"TableName": name, "Item": item}})
            change = index_change(kind, object_id, previous.get((kind, object_id)), body)
            index_puts += change.put
            index_deletes += change.delete
            _add_counts(counts, change.counts)
        for kind, object_id in deletes:
            _check_kind(kind)
            key = {"pk": kind, "sk": str(object_id)}
            items.append({"Delete": {"TableName": name, "Key": key}})
            change = index_change(kind, object_id, previous.get((kind, object_id)), None)
            index_deletes += change.delete
            _add_counts(counts, change.counts)
        items += [{"Update": _count_update(name, part, delta)}
                  for part, delta in sorted(counts.items()) if delta]
        # Key items must be exact at commit: they go in the transaction. Reference items
        # that do not fit go before it (adds) or after it (removals): see the module doc.
        room = _TRANSACTION_ACTIONS - 1 - len(items)
        in_transaction = sorted(index_puts, key=lambda i: not i["pk"].startswith("key#"))
        early, index_puts = in_transaction[room:], in_transaction[:room]
        room -= len(index_puts)
        late, index_deletes = index_deletes[room:], index_deletes[:room]
        if any(item["pk"].startswith("key#") for item in early + late):
            raise ValueError("too many unique keys for one change")
        self._batch(puts=early)
        items += [{"Put": {"TableName": name, "Item": item}} for item in index_puts]
        items += [{"Delete": {"TableName": name, "Key": key}} for key in index_deletes]
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
        self._batch(deletes=late)
        return expected_version + 1

    # ---- the index (store/catalog_index.py) ----------------------------------------------------

    def _batch(self, puts: Sequence[dict[str, Any]] = (),
               deletes: Sequence[dict[str, Any]] = ()) -> None:
        if not puts and not deletes:
            return
        with self._table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for item in puts:
                batch.put_item(Item=item)
            for key in deletes:
                batch.delete_item(Key=key)

    def _write_index_changes(
        self, changes: Iterable[tuple[str, int, Mapping[str, Any] | None,
                                      Mapping[str, Any] | None]]
    ) -> None:
        puts: list[dict[str, Any]] = []
        deletes: list[dict[str, Any]] = []
        for kind, object_id, old, new in changes:
            change = index_change(kind, object_id, old, new)
            puts += change.put
            deletes += change.delete
            for part, delta in change.counts.items():
                self._table.meta.client.update_item(**_count_update(self._table.name, part, delta))
        self._batch(puts, deletes)

    def _recount(self, partitions: Iterable[str]) -> None:
        """Set the count of each order partition to its number of order items."""
        client = self._table.meta.client
        for part in partitions:
            total = 0
            kwargs: dict[str, Any] = {"TableName": self._table.name, "Select": "COUNT",
                                      "KeyConditionExpression": "#pk = :pk",
                                      "ExpressionAttributeNames": {"#pk": "pk"},
                                      "ExpressionAttributeValues": {":pk": part},
                                      "ConsistentRead": True}
            while True:
                page = client.query(**kwargs)
                total += int(page.get("Count", 0))
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            self._table.put_item(Item={"pk": _META, "sk": ci.count_sk(part), "n": total})

    def count(self, order_partition: str) -> int:
        item = self._table.get_item(Key={"pk": _META, "sk": ci.count_sk(order_partition)},
                                    ConsistentRead=True).get("Item")
        return max(0, int(_to_plain(item["n"]))) if item and "n" in item else 0

    def ordered_ids(self, order_partition: str, offset: int, limit: int,
                    after: int | None = None) -> list[int]:
        """Ids in ascending order: ``limit`` of them after ``offset`` others, or after id
        ``after`` (a cursor: reads only the page). Keys only, consistent."""
        client = self._table.meta.client
        kwargs: dict[str, Any] = {"TableName": self._table.name,
                                  "KeyConditionExpression": "#pk = :pk",
                                  "ExpressionAttributeNames": {"#pk": "pk"},
                                  "ExpressionAttributeValues": {":pk": order_partition},
                                  "ConsistentRead": True}
        if after is not None:
            kwargs["ExclusiveStartKey"] = {"pk": order_partition, "sk": ci.order_sk(after)}
            offset = 0
        ids: list[int] = []
        while len(ids) < offset + limit:
            kwargs["Limit"] = min(1000, offset + limit - len(ids))
            page = client.query(**kwargs)
            ids += [int(item["sk"]) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return ids[offset:offset + limit]

    def index_ready(self) -> bool:
        item = self._table.get_item(Key=_INDEX_KEY, ConsistentRead=True).get("Item")
        return bool(item) and int(_to_plain(item.get("layout", 0))) >= _INDEX_LAYOUT

    def build_index(self, attempts: int = 5) -> bool:
        """Write every object's index items (a table written before the index existed, or by
        an older version), then mark the index complete, if no change landed meanwhile.
        Idempotent; False if the catalog kept changing."""
        for _ in range(attempts):
            snapshot = self.snapshot()
            items: list[dict[str, Any]] = []
            for kind, objects in snapshot.objects.items():
                id_field = ci.ID_FIELDS[kind]
                for body in objects:
                    object_id = ci.int_or_none(body.get(id_field))
                    if object_id is not None:
                        items += _index_items(kind, object_id, body)
            self._batch(puts=items)
            self._recount({item["pk"] for item in items if item["pk"].startswith("order#")})
            condition = ("attribute_not_exists(v)" if snapshot.version == 0
                         else "v = :expected")
            check: dict[str, Any] = {"TableName": self._table.name, "Key": _VERSION_KEY,
                                     "ConditionExpression": condition}
            if snapshot.version:
                check["ExpressionAttributeValues"] = {":expected": snapshot.version}
            marker = {"pk": _META, "sk": "index", "layout": _INDEX_LAYOUT}
            try:
                self._table.meta.client.transact_write_items(TransactItems=[
                    {"ConditionCheck": check},
                    {"Put": {"TableName": self._table.name, "Item": marker}},
                ])
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in (
                        "TransactionCanceledException", "TransactionConflictException"):
                    continue
                raise
            return True
        return False


# ---- index items (store/catalog_index.py) ------------------------------------------------------


def _key_item(kind: str, key: str, object_id: int) -> dict[str, Any]:
    return {"pk": ci.key_pk(kind), "sk": key, "id": object_id}


def _ref_item(ref: ci.Ref, kind: str, object_id: int) -> dict[str, Any]:
    return {"pk": ci.ref_pk(ref), "sk": ci.user_sk(kind, object_id)}


def _index_items(kind: str, object_id: int, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    entries = ci.entries(kind, body)
    return ([_order_item(kind, object_id, body)]
            + [_key_item(kind, key, object_id) for key in sorted(entries.keys)]
            + [_ref_item(ref, kind, object_id) for ref in sorted(entries.refs)])


class IndexChange(NamedTuple):
    """The index items one object change adds and removes, and how its kind's count moves."""

    put: list[dict[str, Any]]
    delete: list[dict[str, Any]]  # keys
    counts: dict[str, int]  # order partition -> +1 / -1


def index_change(kind: str, object_id: int, old: Mapping[str, Any] | None,
                 new: Mapping[str, Any] | None) -> IndexChange:
    before = ci.entries(kind, old) if old is not None else ci.IndexEntries(frozenset(),
                                                                            frozenset())
    after = ci.entries(kind, new) if new is not None else ci.IndexEntries(frozenset(),
                                                                           frozenset())
    puts = [_key_item(kind, key, object_id) for key in sorted(after.keys - before.keys)]
    puts += [_ref_item(ref, kind, object_id) for ref in sorted(after.refs - before.refs)]
    deletes = [{"pk": ci.key_pk(kind), "sk": key} for key in sorted(before.keys - after.keys)]
    deletes += [{"pk": ci.ref_pk(ref), "sk": ci.user_sk(kind, object_id)}
                for ref in sorted(before.refs - after.refs)]
    counts: dict[str, int] = {}
    if old is None and new is not None:
        puts.insert(0, _order_item(kind, object_id, new))
        counts[ci.order_pk(kind, new)] = 1
    elif old is not None and new is None:
        deletes.insert(0, _order_item(kind, object_id, old))
        counts[ci.order_pk(kind, old)] = -1
    return IndexChange(puts, deletes, counts)


def _order_item(kind: str, object_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
    return {"pk": ci.order_pk(kind, body), "sk": ci.order_sk(object_id)}


def _add_counts(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for part, delta in counts.items():
        into[part] = into.get(part, 0) + delta


def _count_update(table: str, part: str, delta: int) -> dict[str, Any]:
    return {"TableName": table, "Key": {"pk": _META, "sk": ci.count_sk(part)},
            "UpdateExpression": "ADD n :d", "ExpressionAttributeValues": {":d": delta}}

