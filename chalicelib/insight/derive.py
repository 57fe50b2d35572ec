"""What one profile write counts for (docs/insight.md, "What a change counts for").

Every ``/event`` write records its event id in the item's replay guard (``g``), so a change
whose new guard lists an id the old one did not is an event; anything else is not:
``/ibs`` (keeps segments, no event id), an opt-out, a deletion, a TTL removal, a retry that
found its own write (never written twice), a spooled replay of an event already applied
(dropped as ``duplicate`` before any write). From an event's change:

* traits realized: new in ``t``, or realized more often (exact count), or with a newer
  latest stamp (an onboarded trait keeps one stamp and a count of 1);
* segments qualified: the membership the event stored (``segs``), unless the event was a
  late spooled replay (its older segments were not stored: the newer event's stand);
* data sources seen: those of the realized traits (from the catalog) and those whose
  declared id (``i<dpid>``) the event set or changed.

Items that are opted out, or carry a deletion marker (the profile was deleted and this is a
later write), count for nothing. Requests without consent never write a profile
(pipeline.py stops them before any storage), so they never reach the stream.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple

from chalicelib.insight.days import utc_day
from chalicelib.store.profiles import AUTH_KEY_PREFIX, Profile, profile_from_item

# A live event racing another write may carry a clock a little behind the winner's; only a
# replay older than the stored activity by more than this is "late".
LATE_AFTER_S = 2.0


class Counted(NamedTuple):
    """One event's contribution: its visitor, UTC day, and what it realized."""

    uuid: str
    day: int
    traits: frozenset[int]
    segments: frozenset[int]
    sources: frozenset[int]


def _is_counted_item(item: Mapping[str, Any] | None) -> bool:
    # Authenticated profiles (``a#<dpid>#<dpuuid>``, identity.md 3) are not devices.
    return item is not None and "optout" not in item and "deleted" not in item \
        and "seen" in item and not str(item.get("uuid", "")).startswith(AUTH_KEY_PREFIX)


def derive(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None,
           source_of: Callable[[int], int | None]) -> Counted | None:
    """The contribution of one change (None: it counts for nothing). ``source_of`` maps a
    trait id to its data source (None: unknown to the catalog)."""
    if not _is_counted_item(new):
        return None
    assert new is not None
    after = profile_from_item(new, float(new["seen"]))
    known = {event_id for _, event_id in _guard(old)}
    fresh = [(when, event_id) for when, event_id in after.guard.entries if event_id not in known]
    if not fresh:
        return None  # not an event (e.g. /ibs), or nothing new
    event_time = max(when for when, _ in fresh)
    before = _profile(old, event_time)
    traits = frozenset(sid for sid, record in after.traits.items()
                       if _realized(before, sid, record.count, record.latest))
    late = before.last_seen is not None and before.last_seen > event_time + LATE_AFTER_S
    segments = frozenset() if late else after.segments
    sources = {source for source in map(source_of, traits) if source is not None}
    sources.update(dpid for dpid, dpuuid in after.synced_ids.items()
                   if before.synced_ids.get(dpid) != dpuuid)
    return Counted(after.uuid, utc_day(event_time), traits, segments, frozenset(sources))


def _guard(item: Mapping[str, Any] | None) -> list[tuple[int, str]]:
    if item is None or "seen" not in item:
        return []
    return profile_from_item(item, float(item["seen"])).guard.entries


def _profile(item: Mapping[str, Any] | None, now: float) -> Profile:
    if item is None or "optout" in item:
        return Profile(uuid="")
    return profile_from_item(item, now)


def _realized(before: Profile, sid: int, count: int, latest: int) -> bool:
    old = before.traits.get(sid)
    return old is None or count > old.count or latest > old.latest
