"""Spool messages: one event's profile changes as JSON (version 1).

``SpooledWrite`` is a NamedTuple, not a dataclass: import cost on a cold start
(chalicelib/core/records.py).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from chalicelib.store.profiles import CachedAnswer, ProfileChanges

VERSION = 1
# Every ProfileChanges field this codec carries; a test fails when the dataclass grows one.
FIELDS = (
    "now",
    "event_id",
    "add_stamps",
    "replace_stamps",
    "remove_traits",
    "cache_answers",
    "segments",
    "clear_attributes",
    "synced_ids",
    "keep_segments",
    "s2s_states",
    "linked_ids",
    "auth_ids",
    "graph_id",
    "graph",
)


class BadMessage(ValueError):
    """A spool message that cannot be decoded (it will end in the dead-letter queue)."""


class SpooledWrite(NamedTuple):
    uuid: str
    changes: ProfileChanges
    reason: str
    spooled_at: float


def encode(uuid: str, changes: ProfileChanges, reason: str, spooled_at: float) -> str:
    body = {
        "v": VERSION,
        "uuid": uuid,
        "reason": reason,
        "spooled_at": round(spooled_at, 3),
        "changes": {
            "now": changes.now,
            "event_id": changes.event_id,
            "add_stamps": {str(k): v for k, v in changes.add_stamps.items()},
            "replace_stamps": {str(k): sorted(v) for k, v in changes.replace_stamps.items()},
            "remove_traits": sorted(changes.remove_traits),
            "cache_answers": {
                str(pid): _answer_json(answer) for pid, answer in changes.cache_answers.items()
            },
            "segments": sorted(changes.segments),
            "clear_attributes": list(changes.clear_attributes),
            "synced_ids": {str(k): v for k, v in changes.synced_ids.items()},
            "keep_segments": changes.keep_segments,
            "s2s_states": {str(k): v for k, v in changes.s2s_states.items()},
            "linked_ids": [[dpid, dpuuid] for dpid, dpuuid in changes.linked_ids],
            "auth_ids": {str(k): v for k, v in changes.auth_ids.items()},
            "graph_id": changes.graph_id,
            "graph": list(changes.graph),
        },
    }
    return json.dumps(body, separators=(",", ":"))


def decode(body: str) -> SpooledWrite:
    try:
        data = json.loads(body)
        if data.get("v") != VERSION:
            raise BadMessage(f"unknown spool message version {data.get('v')!r}")
        raw = data["changes"]
        changes = ProfileChanges(
            now=float(raw["now"]),
            event_id=str(raw.get("event_id", "")),
            add_stamps={int(k): int(v) for k, v in raw.get("add_stamps", {}).items()},
            replace_stamps={
                int(k): [int(s) for s in v] for k, v in raw.get("replace_stamps", {}).items()
            },
            remove_traits={int(s) for s in raw.get("remove_traits", [])},
            cache_answers={
                int(pid): _answer(a) for pid, a in raw.get("cache_answers", {}).items()
            },
            segments=frozenset(int(s) for s in raw.get("segments", [])),
            clear_attributes=tuple(str(a) for a in raw.get("clear_attributes", [])),
            synced_ids={int(k): str(v) for k, v in raw.get("synced_ids", {}).items()},
            keep_segments=bool(raw.get("keep_segments", False)),
            s2s_states={
                int(k): {"s": [int(s) for s in v.get("s", [])], "t": int(v.get("t", 0))}
                for k, v in raw.get("s2s_states", {}).items()
            },
            linked_ids=tuple((int(d), str(u)) for d, u in raw.get("linked_ids", [])),
            auth_ids={int(k): str(v) for k, v in raw.get("auth_ids", {}).items()},
            graph_id=str(raw.get("graph_id", "")),
            graph=tuple(str(u) for u in raw.get("graph", [])),
        )
        return SpooledWrite(
            uuid=str(data["uuid"]),
            changes=changes,
            reason=str(data.get("reason", "")),
            spooled_at=float(data.get("spooled_at", 0)),
        )
    except BadMessage:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BadMessage(f"undecodable spool message: {type(exc).__name__}") from None


def _answer_json(answer: CachedAnswer) -> dict[str, Any]:
    """The fields ``_answer`` reads back (works whether CachedAnswer is a dataclass or not)."""
    return {
        "segments": answer.segments,
        "removed": answer.removed,
        "expires_at": answer.expires_at,
        "consent_key": answer.consent_key,
        "dpuuid": answer.dpuuid,
    }


def _answer(raw: Any) -> CachedAnswer:
    return CachedAnswer(
        segments=tuple(str(s) for s in raw["segments"]),
        removed=tuple(str(s) for s in raw["removed"]),
        expires_at=float(raw["expires_at"]),
        consent_key=str(raw["consent_key"]),
        dpuuid=str(raw["dpuuid"]),
    )
