"""Where capture lives: the setting (one item in the catalog table, so it travels with the
catalog snapshot) and the captured events (the capture table, 24 h TTL)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

if TYPE_CHECKING:
    from chalicelib.debug.setting import CaptureSetting

SETTING_KEY = {"pk": "debug", "sk": "capture"}
SNAPSHOT_KIND = "debug"  # raw["debug"]: [the setting's body] or []
TTL_SECONDS = 24 * 3600
EVENTS_PK = "events"
MAX_LIMIT = 200
_MAX_PAGES = 20  # a UUID filter reads at most this many pages of the newest events


class VersionBumper(Protocol):
    def bump_version(self) -> int: ...


class SettingStore:
    """The capture setting in the catalog table; a change bumps the catalog version, so every
    container picks it up with the catalog (admin-api.md's 10 s propagation)."""

    def __init__(self, catalog_table: Any, catalog: VersionBumper) -> None:
        self._table = catalog_table
        self._catalog = catalog

    def load(self) -> list[dict[str, Any]]:
        item = self._table.get_item(Key=SETTING_KEY, ConsistentRead=True).get("Item")
        return [json.loads(item["body"])] if item and "body" in item else []

    def get(self) -> CaptureSetting | None:
        from chalicelib.debug.setting import from_body  # the console's; not the /event path

        bodies = self.load()
        return from_body(bodies[0]) if bodies else None

    def put(self, setting: CaptureSetting | None) -> None:
        if setting is None:
            self._table.delete_item(Key=SETTING_KEY)
        else:
            self._table.put_item(Item={**SETTING_KEY, "body": json.dumps(setting.body())})
        self._catalog.bump_version()


class CatalogSource(Protocol):
    def version(self) -> int: ...

    def load_all(self) -> dict[str, list[dict[str, Any]]]: ...


class SnapshotWithCapture:
    """The catalog source the event path's cache reads: the catalog plus the capture setting,
    read only when the version moved (never per event)."""

    def __init__(self, source: CatalogSource, settings: SettingStore) -> None:
        self._source = source
        self._settings = settings

    def version(self) -> int:
        return self._source.version()

    def load_all(self) -> dict[str, list[dict[str, Any]]]:
        raw = dict(self._source.load_all())
        raw[SNAPSHOT_KIND] = self._settings.load()
        return raw


class CaptureStore:
    """Captured events, newest first: ``pk=events``, ``sk=<epoch ms>#<tid>``."""

    def __init__(self, table: Any, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def put(self, record: Mapping[str, Any]) -> None:
        now = float(record.get("at") or self._clock())
        self._table.put_item(Item={
            "pk": EVENTS_PK,
            "sk": f"{int(now * 1000):014d}#{record.get('tid', '')}",
            "uuid": str(record.get("uuid") or ""),
            "record": json.dumps(record, separators=(",", ":"), default=str),
            "expires_at": int(now) + TTL_SECONDS,
        })

    def recent(self, uuid: str | None, limit: int) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Attr, Key  # the console's reads only

        kwargs: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(EVENTS_PK),
            "ScanIndexForward": False,
            "Limit": limit if uuid is None else max(limit, 100),
        }
        if uuid:
            kwargs["FilterExpression"] = Attr("uuid").eq(uuid)
        found: list[dict[str, Any]] = []
        now = self._clock()
        for _ in range(_MAX_PAGES):
            page = self._table.query(**kwargs)
            for item in page.get("Items", []):
                expires = item.get("expires_at")
                if isinstance(expires, (int, Decimal)) and float(expires) <= now:
                    continue  # TTL deletes lag; an expired item is not shown
                found.append(json.loads(item["record"]))
            if len(found) >= limit or "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return found[:limit]
