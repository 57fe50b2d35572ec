"""Helpers for the audience-insight tests and bench (no tests of its own).

``ProfileWrites`` plays the profile store without DynamoDB: each event is applied with the
store's own code (``apply_changes`` + ``fit_budget``, the item layout ``/event`` writes) and
comes out as the DynamoDB Stream record Lambda would hand the aggregator (old and new image,
binary base64-encoded). So the aggregator is fed what production feeds it, at test speed.
"""

from __future__ import annotations

import base64
from typing import Any, Iterable, Mapping

from boto3.dynamodb.types import TypeSerializer

from chalicelib.store.profiles import (
    Profile,
    ProfileChanges,
    apply_changes,
    fit_budget,
    profile_from_item,
)

_SERIALIZER = TypeSerializer()
DAY = 86400


def _lambda_json(typed: Mapping[str, Any]) -> dict[str, Any]:
    (tag, value), = typed.items()
    if tag == "B":
        raw = value.value if hasattr(value, "value") else value
        return {"B": base64.b64encode(bytes(raw)).decode("ascii")}
    if tag == "M":
        return {"M": {k: _lambda_json(v) for k, v in value.items()}}
    if tag == "L":
        return {"L": [_lambda_json(v) for v in value]}
    return {tag: value}


def lambda_image(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {k: _lambda_json(_SERIALIZER.serialize(v)) for k, v in item.items()}


def stream_record(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
                  sequence: int) -> dict[str, Any]:
    name = "REMOVE" if new is None else ("INSERT" if old is None else "MODIFY")
    dynamodb: dict[str, Any] = {"SequenceNumber": str(sequence), "SizeBytes": 1,
                                "StreamViewType": "NEW_AND_OLD_IMAGES",
                                "ApproximateCreationDateTime": 0}
    if old is not None:
        dynamodb["OldImage"] = lambda_image(old)
    if new is not None:
        dynamodb["NewImage"] = lambda_image(new)
    return {"eventName": name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


class ProfileWrites:
    """Profile items by UUID, and the stream records of every write made to them."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.records: list[dict[str, Any]] = []
        self._sequence = 0
        self._events = 0

    def _put(self, uuid: str, new: dict[str, Any] | None) -> None:
        old = self.items.get(uuid)
        if new is None:
            self.items.pop(uuid, None)
        else:
            self.items[uuid] = new
        self._sequence += 1
        self.records.append(stream_record(old, new, self._sequence))

    def event(self, uuid: str, now: float, traits: Iterable[int] = (),
              segments: Iterable[int] = (), onboarded: Iterable[int] = (),
              synced: Mapping[int, str] | None = None, event_id: str | None = None) -> str:
        """One /event write: rule-based ``traits``, ``onboarded`` traits, its segments."""
        self._events += 1
        tid = event_id or f"ev-{self._events}"
        stamp = int(now)
        changes = ProfileChanges(
            now=now, event_id=tid,
            add_stamps={sid: stamp for sid in traits},
            replace_stamps={sid: [stamp] for sid in onboarded},
            segments=frozenset(segments), synced_ids=dict(synced or {}))
        self.apply(uuid, changes)
        return tid

    def apply(self, uuid: str, changes: ProfileChanges, counted: bool = True) -> None:
        stored = self.items.get(uuid)
        profile = Profile(uuid=uuid) if stored is None else profile_from_item(stored, changes.now)
        if profile.opted_out:
            return  # every write is conditional on the opt-out marker's absence
        if profile.deleted_ms and changes.now * 1000 <= profile.deleted_ms:
            return
        if changes.event_id and changes.event_id in profile.guard:
            return  # the store's "duplicate": nothing is written
        state = apply_changes(profile, changes, counted=counted)
        self._put(uuid, fit_budget(state, profile.version + 1).item)

    def ibs(self, uuid: str, now: float, dpid: int, dpuuid: str) -> None:
        """An /ibs sync: keeps segments, sets an id, records no event."""
        self.apply(uuid, ProfileChanges(now=now, synced_ids={dpid: dpuuid}, keep_segments=True))

    def opt_out(self, uuid: str, now: float) -> None:
        self._put(uuid, {"uuid": uuid, "optout": int(now * 1000)})

    def delete(self, uuid: str, now: float) -> None:
        self._put(uuid, {"uuid": uuid, "deleted": int(now * 1000),
                         "expires_at": int(now) + 15 * DAY})

    def expire(self, uuid: str) -> None:
        """A TTL removal."""
        self._put(uuid, None)

    def take(self) -> list[dict[str, Any]]:
        taken, self.records = self.records, []
        return taken


def counted_keys(traits: set[int], onboarded: set[int], segments: set[int],
                 sources: Mapping[int, int]) -> Iterable[tuple[str, int]]:
    """The (kind, id) an event with these realizations counts for (the exact side of the
    accuracy checks): its traits, its segments, the data sources of its traits."""
    realized = traits | onboarded
    for kind, ids in (("trait", realized), ("segment", segments),
                      ("datasource", {sources[s] for s in realized})):
        for object_id in ids:
            yield kind, object_id


def batches(records: list[dict[str, Any]], size: int = 100) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(records), size):
        yield records[start:start + size]
