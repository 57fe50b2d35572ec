"""Real-time server-to-server destinations (``S2S``): when to send, and what (pure).

destinations.md: when the segments a visitor has in an S2S destination change (qualifies,
disqualifies, a mapping starts or ends), or when nothing was sent for 3 days and the visitor
is seen again, one queue message per (visitor, destination) is produced. The queue handler
(``s2s_delivery``) groups up to 10 of them into one outbound POST in AAM's real-time format.

State kept per visitor and destination (:class:`S2SState`, stored by the pipeline in the
profile): the segments last sent with Status 1 and when. Comparing against what was *sent*,
not against the stored membership, is what makes a mapping change (or an expired mapping) a
change too.

``S2SState`` is a NamedTuple and ``S2SPlan`` a slotted class rather than dataclasses: a
dataclass costs ~0.5 ms at import, paid on every cold Lambda start (bench/coldstart.py).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import AbstractSet, Any, Mapping, NamedTuple, Sequence

from chalicelib.destinations.compiled import (
    DestinationCatalog,
    S2SDestination,
    as_destination_catalog,
)
from chalicelib.rules.catalog import CompiledCatalog

S2S_REFRESH_SECONDS = 3 * 86400
MAX_USERS_PER_MESSAGE = 10
MESSAGE_VERSION = 1


class S2SState(NamedTuple):
    """What a destination last received for one visitor."""

    sent: frozenset[int]  # segment ids last sent with Status 1
    sent_at: float  # epoch seconds

    def to_item(self) -> dict[str, Any]:
        """A small map for the profile item: ``{"s": [sids], "t": epoch s}``."""
        return {"s": sorted(self.sent), "t": int(self.sent_at)}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> "S2SState":
        return cls(frozenset(int(s) for s in item.get("s") or ()), float(item.get("t") or 0))


class S2SPlan:
    """The queue messages to send and the states to store after sending them."""

    __slots__ = ("messages", "states")

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.states: dict[int, S2SState] = {}  # destinationId -> new state

    def queue_bodies(self) -> list[str]:
        return [queue_body(m) for m in self.messages]


def queue_body(message: Mapping[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), sort_keys=True)


def _message(
    destination: S2SDestination,
    *,
    uuid: str,
    dpuuid: str,
    region: int,
    now: float,
    current: AbstractSet[int],
    removed: AbstractSet[int],
) -> dict[str, Any]:
    segments = [{"id": sid, "status": 1} for sid in sorted(current)]
    segments += [{"id": sid, "status": 0} for sid in sorted(removed)]
    return {
        "v": MESSAGE_VERSION,
        "destinationId": destination.destination_id,
        "dpid": destination.data_source_id,
        "uuid": uuid,
        "dpuuid": dpuuid,
        "region": region,
        "time": now,
        "segments": segments,
    }


def plan_s2s(
    compiled: CompiledCatalog | DestinationCatalog,
    segments: AbstractSet[int],
    *,
    uuid: str,
    synced_ids: Mapping[int, str],
    states: Mapping[int, S2SState],
    region: int,
    now: float,
) -> S2SPlan:
    """Messages due for a visitor seen now, in ``segments`` after this event.

    ``states``: destinationId -> what was last sent (absent = never). A destination is skipped
    when the visitor has no id in its data source (``synced_ids``: DPID -> DPUUID).
    """
    plan = S2SPlan()
    for destination in as_destination_catalog(compiled).s2s_destinations.values():
        dpuuid = synced_ids.get(destination.data_source_id)
        if not dpuuid:
            continue
        current = destination.live_segments(set(segments), now)
        previous = states.get(destination.destination_id)
        sent = previous.sent if previous else frozenset()
        changed = current != sent
        stale = previous is not None and now - previous.sent_at >= S2S_REFRESH_SECONDS
        if not changed and not (stale and current):
            continue
        plan.messages.append(_message(destination, uuid=uuid, dpuuid=dpuuid, region=region,
                                      now=now, current=current, removed=sent - current))
        plan.states[destination.destination_id] = S2SState(current, now)
    return plan


def plan_s2s_final(
    compiled: CompiledCatalog | DestinationCatalog,
    *,
    uuid: str,
    synced_ids: Mapping[int, str],
    states: Mapping[int, S2SState],
    region: int,
    now: float,
) -> S2SPlan:
    """Opt-out or deletion: one all-Status-0 message per destination that holds segments.

    The returned ``states`` are empty: nothing more is sent for this visitor.
    """
    plan = S2SPlan()
    for destination in as_destination_catalog(compiled).s2s_destinations.values():
        previous = states.get(destination.destination_id)
        dpuuid = synced_ids.get(destination.data_source_id)
        if previous is None or not previous.sent or not dpuuid:
            continue
        plan.messages.append(_message(destination, uuid=uuid, dpuuid=dpuuid, region=region,
                                      now=now, current=frozenset(), removed=previous.sent))
    return plan


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def merge_user_messages(messages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several messages for one visitor in one batch: the newest says what is current; any
    other segment they mention has left (Status 0)."""
    ordered = sorted(messages, key=lambda m: float(m["time"]))
    newest = ordered[-1]
    current = {int(s["id"]) for s in newest["segments"] if int(s["status"]) == 1}
    mentioned = {int(s["id"]) for m in ordered for s in m["segments"]}
    segments = [{"id": sid, "status": 1} for sid in sorted(current)]
    segments += [{"id": sid, "status": 0} for sid in sorted(mentioned - current)]
    return dict(newest, segments=segments)


def outbound_body(
    messages: Sequence[Mapping[str, Any]], *, partner_id: str, now: float
) -> bytes:
    """AAM's real-time outbound JSON for 1-10 messages of one destination and data source."""
    if not 1 <= len(messages) <= MAX_USERS_PER_MESSAGE:
        raise ValueError(f"1 to {MAX_USERS_PER_MESSAGE} users per message, not {len(messages)}")
    first = messages[0]
    users = [
        {
            "AAM_UUID": m["uuid"],
            "DataPartner_UUID": m["dpuuid"],
            "AAM_Regions": [str(m["region"])],
            "Segments": [
                {"Segment_ID": int(s["id"]), "Status": int(s["status"]),
                 "DateTime": _iso(float(m["time"]))}
                for s in m["segments"]
            ],
        }
        for m in messages
    ]
    body = {
        "ProcessTime": _iso(now),
        "User_DPID": int(first["dpid"]),
        "Client_ID": str(partner_id),
        "AAM_Destination_Id": int(first["destinationId"]),
        "User_count": len(users),
        "Users": users,
    }
    return json.dumps(body, separators=(",", ":")).encode()
