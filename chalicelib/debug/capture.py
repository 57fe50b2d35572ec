"""The one capture call of ``/event`` (chalicelib/handlers/event.py): loaded only when the
catalog snapshot carries a capture setting, so an uncaptured event imports and writes nothing."""

from __future__ import annotations

from typing import Any, Mapping

from chalicelib.debug.record import capture_record
from chalicelib.debug.setting import from_body
from chalicelib.debug.store import SNAPSHOT_KIND, CaptureStore


def wanted_uuid(raw: Mapping[str, Any], result: Any, now: float) -> bool:
    bodies = raw.get(SNAPSHOT_KIND) or ()
    setting = from_body(bodies[0]) if bodies else None
    uuid = result.log.get("uuid") or result.fields.get("uuid")
    return setting is not None and setting.wants(uuid, now)


def capture_event(catalog: Any, result: Any, parsed: Any, store: CaptureStore,
                  now: float) -> bool:
    """One PutItem if the setting captures this event's UUID; whether it did."""
    if not wanted_uuid(catalog.raw, result, now):
        return False
    store.put(capture_record(result, parsed, catalog.traits, now))
    return True
