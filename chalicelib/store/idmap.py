"""ID map: (DPID, DPUUID) -> UUIDs links and declared-ID opt-outs.

One item per declared ID, partition key ``pk = "d#<dpid>#<dpuuid>"``:

* ``u<uuid>`` (epoch ms): when that UUID was last linked; top-level attributes, so a link is
  one atomic ``SET`` and the most recent UUID is the largest value. At most 100 per ID (FIFO:
  the oldest are removed in the same update).
* ``a<uuid>``: the authState sent with that UUID's last link (0, 1, 2): with ``u<uuid>``, each
  link records its last auth state and time (identity.md 2).
* ``expires_at``: 120 days after the last link (renewed by each link).
* ``optout`` (epoch ms): the declared ID is opted out; such an item has no ``expires_at``.

Reads for one event are a single ``BatchGetItem``; the links of one event are a single
``UpdateItem`` or, for several IDs, a single ``TransactWriteItems``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from chalicelib.identity.values import DeclaredId

LINK_LIFETIME_SECONDS = 120 * 86400
MAX_UUIDS_PER_ID = 100


def link_key(dpid: int, dpuuid: str) -> str:
    return f"d#{dpid}#{dpuuid}"


class LinkRecord:
    # Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
    __slots__ = ("uuids", "opted_out", "auth")

    def __init__(self, uuids: dict[str, int] | None = None, opted_out: bool = False,
                 auth: dict[str, int] | None = None) -> None:
        self.uuids: dict[str, int] = {} if uuids is None else uuids  # uuid -> linked at (ms)
        self.opted_out = opted_out
        # uuid -> the authState of its last link (0 unknown, 1 authenticated, 2 logged out)
        self.auth: dict[str, int] = {} if auth is None else auth

    def newest(self, limit: int, exclude: str = "") -> list[str]:
        """The most recently linked UUIDs (``exclude`` left out), newest first."""
        ordered = sorted(self.uuids, key=lambda u: (-self.uuids[u], u))
        return [u for u in ordered if u != exclude][:limit]

    def most_recent(self) -> str | None:
        return max(self.uuids, key=lambda u: self.uuids[u]) if self.uuids else None


def _record(item: Mapping[str, Any], now: float) -> LinkRecord:
    if "optout" in item:
        return LinkRecord(opted_out=True)
    expires_at = item.get("expires_at")
    if expires_at is not None and float(expires_at) <= now:
        return LinkRecord()  # TTL passed; DynamoDB deletes it late
    uuids = {
        name[1:]: int(value)
        for name, value in item.items()
        if name.startswith("u") and name[1:].isdigit()
    }
    auth = {
        name[1:]: int(value)
        for name, value in item.items()
        if name.startswith("a") and name[1:].isdigit() and name[1:] in uuids
    }
    return LinkRecord(uuids=uuids, auth=auth)


class IdMapRepository:
    def __init__(self, resource: Any, table_name: str) -> None:
        self._resource = resource
        self._table_name = table_name
        self._table = resource.Table(table_name)

    def read(self, ids: Sequence[DeclaredId], now: float) -> dict[tuple[int, str], LinkRecord]:
        """Links and opt-out state of these IDs: one consistent BatchGetItem."""
        if not ids:
            return {}
        keys = list({link_key(i.dpid, i.dpuuid): None for i in ids})
        request = {self._table_name: {"Keys": [{"pk": k} for k in keys], "ConsistentRead": True}}
        items: list[Mapping[str, Any]] = []
        for _ in range(3):  # unprocessed keys are retried, a bounded number of times
            response = self._resource.batch_get_item(RequestItems=request)
            items.extend(response.get("Responses", {}).get(self._table_name, []))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        by_key = {str(item["pk"]): _record(item, now) for item in items}
        return {i.key: by_key.get(link_key(i.dpid, i.dpuuid), LinkRecord()) for i in ids}

    def link(
        self,
        ids: Sequence[DeclaredId],
        uuid: str,
        existing: Mapping[tuple[int, str], LinkRecord],
        now: float,
    ) -> None:
        """Make ``uuid`` the most recent link of every ID: one write request."""
        updates = [self._link_update(i, uuid, existing.get(i.key), now) for i in ids]
        if not updates:
            return
        if len(updates) == 1:
            self._table.update_item(**updates[0])
            return
        # The resource's client serializes plain Python values itself, as Table methods do.
        self._resource.meta.client.transact_write_items(
            TransactItems=[{"Update": {"TableName": self._table_name, **u}} for u in updates]
        )

    def opt_out(self, ids: Iterable[DeclaredId], now: float) -> None:
        for declared in ids:
            self._table.update_item(
                Key={"pk": link_key(declared.dpid, declared.dpuuid)},
                UpdateExpression="SET optout = :at REMOVE expires_at",
                ExpressionAttributeValues={":at": int(now * 1000)},
            )

    def delete_links_to(self, uuid: str, ids: Iterable[tuple[int, str]]) -> None:
        for dpid, dpuuid in ids:
            self._table.update_item(
                Key={"pk": link_key(dpid, dpuuid)},
                UpdateExpression="REMOVE #u, #a",
                ExpressionAttributeNames={"#u": f"u{uuid}", "#a": f"a{uuid}"},
            )

    def _link_update(
        self, declared: DeclaredId, uuid: str, record: LinkRecord | None, now: float
    ) -> dict[str, Any]:
        names = {"#u": f"u{uuid}", "#a": f"a{uuid}", "#x": "expires_at"}
        values: dict[str, Any] = {
            ":at": int(now * 1000),
            ":auth": declared.auth_state,
            ":exp": int(now) + LINK_LIFETIME_SECONDS,
        }
        expression = "SET #u = :at, #a = :auth, #x = :exp"
        others = [u for u in (record.uuids if record else {}) if u != uuid]
        if len(others) >= MAX_UUIDS_PER_ID:
            oldest = sorted(others, key=lambda u: record.uuids[u])  # type: ignore[union-attr]
            evict = oldest[: len(others) - MAX_UUIDS_PER_ID + 1]
            removals = []
            for index, old in enumerate(evict):
                names[f"#o{index}"] = f"u{old}"
                names[f"#p{index}"] = f"a{old}"
                removals += [f"#o{index}", f"#p{index}"]
            expression += " REMOVE " + ", ".join(removals)
        return {
            "Key": {"pk": link_key(declared.dpid, declared.dpuuid)},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

