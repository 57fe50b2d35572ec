"""Profile repository: one consistent read and one conditional write per event.

Item layout (one item per UUID, partition key ``uuid``; docs/profile-storage.md):

* ``t`` Binary: every realized trait's stamps and exact realization count, packed
  (``packed.py``). The stamps kept are what the catalog's rules can read (1 for a trait no
  ``frequency`` expression names, up to the spec's 100), at most 10,000 traits.
* ``g`` Binary: the replay guard, the ids of the last 64 events applied (24 h at most).
* ``v`` Number: the item's version. Every write is a PutItem conditional on the version it
  read (optimistic concurrency). When a concurrent write won, DynamoDB returns the current
  item with the failure (ReturnValuesOnConditionCheckFailure), the event's changes are
  applied again to it, and the write is retried: no extra read, and counts stay exact.
* ``i<dpid>`` String: the visitor's id (DPUUID) in data source ``dpid``.
* ``pc<pid>`` Map: a cached provider answer ``{s: [segment ids that map to a trait], z: [...],
  x: expiry, k: hash of the consent string, d: dpuuid}``.
* ``s2s<id>`` Map: what S2S destination ``id`` last received.
* ``au`` Map: the last authenticated DPUUID per cross-device data source (identity.md 3:
  merge rule ``last``); ``gk`` / ``gu``: the device graph of the latest cross-device ID the
  device declared: that ID (``<dpid>#<dpuuid>``) and the other UUIDs linked to it, at most 10,
  newest first (merge rule ``deviceGraph`` on events that carry no declared ID).
* ``segs`` Number Set: stored segment membership; ``seen`` last activity (epoch s);
  ``expires_at`` the DynamoDB TTL attribute (last activity + 120 days).
* ``optout`` (epoch ms): the UUID is opted out. An opted-out item holds only ``uuid`` and
  ``optout``; every write is conditional on its absence.

Each write replaces the whole item, so its request has a fixed, small expression whatever the
number of traits, and the item is checked against the 128 KiB budget by DynamoDB's own size
rules (``item_size.py``) before it is sent. Items of the previous layout (``r<sid>`` Number
Sets, ``rn<sid>`` counters, ``ev<hour>`` guard buckets) are read as they are and rewritten in
this layout by their next write.

Writes that fail for throttling, 5xx or timeouts are retried inside the event's budget, then
spooled (``chalicelib/spool``) and replayed later by :meth:`ProfileRepository.replay`. A
``ValidationException`` is permanent: the profile is compacted harder and written once more;
if that fails too, :class:`ProfileWriteRejected` is raised (the event reports 201) and never
spooled.
"""

from __future__ import annotations

import hashlib
import random
import time
from decimal import Decimal
from typing import Any, Callable, Literal, Mapping, NamedTuple, Protocol

from boto3.dynamodb.types import Binary, TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.core.records import SlotRecord
from chalicelib.store.compaction import (
    GUARD_KEEP,
    GUARD_WINDOW_SECONDS,
    KEEP_ALL,
    MAX_CACHED_IDS,
    MAX_STAMPS_PER_TRAIT,
    MAX_TRAITS,
    PROFILE_BUDGET_BYTES,
    SWEEP_EVERY_WRITES,
    Retention,
    add_realization,
    cap_traits,
    drop_expired,
    least_recent,
    trim_stamps,
)
from chalicelib.store.item_size import item_size
from chalicelib.store.packed import (
    CorruptBlob,
    Guard,
    Realizations,
    decode_guard,
    decode_traits,
    encode_guard,
    encode_traits,
)

__all__ = ["MAX_STAMPS_PER_TRAIT", "MAX_TRAITS", "PROFILE_BUDGET_BYTES"]

PROFILE_LIFETIME_SECONDS = 120 * 86400
MAX_GRAPH_DEVICES = 10  # identity.md 3: deviceGraph, at most 10 other devices by recency
AUTH_KEY_PREFIX = "a#"  # authenticated profiles: never a 38-digit UUID


def auth_profile_key(dpid: int, dpuuid: str) -> str:
    """The key of the authenticated profile of (cross-device DPID, DPUUID) in the profile
    table; it cannot collide with a device's 38-digit UUID."""
    return f"{AUTH_KEY_PREFIX}{dpid}#{dpuuid}"
# DPUUIDs remembered per data source (dcs-protocol.md 11: 10 per UUID per DPID, FIFO): every
# link of a UUID can be found, and removed, when its profile is deleted.
MAX_LINKED_PER_DPID = 10
# A deleted profile leaves a marker this long: a spooled write of an event older than the
# deletion (SQS keeps messages 14 days at most) is dropped instead of bringing it back.
DELETION_MARKER_SECONDS = 15 * 86400
# Legacy layout: stamps in integer nanoseconds, event ids in hourly buckets.
_NS_PER_SECOND = 1_000_000_000
_LEGACY_BUCKET_SECONDS = 3600
# Optimistic-concurrency retries of one write (each is one more write request, no read).
MAX_CONFLICTS = 128
_THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)
_CONDITION_FAILED = "ConditionalCheckFailedException"
_VALIDATION = "ValidationException"

WriteOutcome = Literal["written", "duplicate", "opted_out", "spooled", "replayed", "merged",
                       "deleted"]


def new_stamp(now: float) -> int:
    """A realization stamp: epoch seconds."""
    return int(now)


def stamp_seconds(stamp: int | Decimal) -> float:
    """Seconds of a stamp, whichever layout wrote it (the previous one used nanoseconds)."""
    value = int(stamp)
    return value / _NS_PER_SECOND if value > 10**14 else float(value)


def consent_key(consent_string: str | None) -> str:
    """What a cached provider answer remembers of the consent it was given under: a hash, so
    the profile never stores the TC string itself (and a 4 KB string costs 16 bytes)."""
    if not consent_string:
        return ""
    return hashlib.sha256(consent_string.encode("utf-8")).hexdigest()[:16]


# Not dataclasses: import cost on a cold start (chalicelib/core/records.py).


class CachedAnswer(NamedTuple):
    segments: tuple[str, ...]
    removed: tuple[str, ...]
    expires_at: float
    consent_key: str
    dpuuid: str

    def usable(self, now: float, consent_key: str, dpuuid: str) -> bool:
        return now < self.expires_at and self.consent_key == consent_key and self.dpuuid == dpuuid


class Profile:
    """A visitor's stored state, and what the next write of it must be conditional on."""

    __slots__ = ("uuid", "traits", "synced_ids", "provider_cache", "segments", "last_seen",
                 "opted_out", "s2s_states", "guard", "version", "stored", "stored_seen",
                 "corrupt", "linked", "deleted_ms", "auth_ids", "graph_id", "graph")

    def __init__(
        self,
        uuid: str,
        traits: dict[int, Realizations] | None = None,
        synced_ids: dict[int, str] | None = None,
        provider_cache: dict[int, CachedAnswer] | None = None,
        segments: frozenset[int] = frozenset(),
        last_seen: float | None = None,
        opted_out: bool = False,
        s2s_states: dict[int, dict[str, Any]] | None = None,
        guard: Guard | None = None,
        version: int = 0,
        stored: Literal["absent", "current", "legacy"] = "absent",
        stored_seen: Any = None,
    ) -> None:
        self.uuid = uuid
        self.traits = {} if traits is None else traits  # sid -> stamps (s) and count
        self.synced_ids = {} if synced_ids is None else synced_ids
        self.provider_cache = {} if provider_cache is None else provider_cache
        self.segments = segments
        self.last_seen = last_seen
        self.opted_out = opted_out
        # destinationId -> what that S2S destination last received: {"s": [sids], "t": epoch s}
        self.s2s_states = {} if s2s_states is None else s2s_states
        self.guard = Guard() if guard is None else guard
        self.version = version  # ``v`` of the stored item (0: none, or the legacy layout)
        self.stored = stored  # what the item holds now: the write's condition
        self.stored_seen = stored_seen  # ``seen`` of a legacy item (its condition)
        self.corrupt = False  # its packed traits did not decode
        self.linked: dict[int, list[str]] = {}  # dpid -> DPUUIDs linked to it, oldest first
        self.deleted_ms = 0  # when the profile was deleted through the admin API (0: never)
        self.auth_ids: dict[int, str] = {}  # dpid -> last authenticated DPUUID
        self.graph_id = ""  # "<dpid>#<dpuuid>": the ID whose device graph ``graph`` is
        self.graph: tuple[str, ...] = ()  # other UUIDs linked to it, newest first

    @property
    def exists(self) -> bool:
        return self.last_seen is not None

    def copy(self) -> "Profile":
        """A copy to change: trait records are shared (they are replaced, never mutated)."""
        twin = Profile(
            self.uuid,
            dict(self.traits),
            dict(self.synced_ids), dict(self.provider_cache), self.segments, self.last_seen,
            self.opted_out, {k: dict(v) for k, v in self.s2s_states.items()},
            Guard(self.guard.entries, self.guard.since), self.version, self.stored,
            self.stored_seen,
        )
        twin.linked = {dpid: list(ids) for dpid, ids in self.linked.items()}
        twin.deleted_ms = self.deleted_ms
        twin.auth_ids = dict(self.auth_ids)
        twin.graph_id, twin.graph = self.graph_id, self.graph
        return twin

    def all_linked_ids(self) -> list[tuple[int, str]]:
        """Every (dpid, DPUUID) this profile knows to link to it."""
        pairs = {(dpid, dpuuid) for dpid, ids in self.linked.items() for dpuuid in ids}
        pairs.update(self.synced_ids.items())
        return sorted(pairs)


class ProfileChanges(SlotRecord, hashable=False):
    """What one event changes: applied to the stored state by :func:`apply_changes`.

    ``add_stamps``: rule-based realizations (sid -> stamp), each counted once;
    ``replace_stamps``: onboarded realizations (sid -> [stamp]): the trait keeps only its
    latest (rules.md 1.5); ``remove_traits``: traits a provider removed (``Status`` 0).
    ``clear_attributes`` is read from spool messages of the previous layout and ignored.
    """

    __slots__ = ("now", "event_id", "add_stamps", "replace_stamps", "remove_traits",
                 "cache_answers", "segments", "clear_attributes", "synced_ids", "keep_segments",
                 "s2s_states", "linked_ids", "auth_ids", "graph_id", "graph")

    def __init__(
        self,
        now: float,
        event_id: str = "",
        add_stamps: dict[int, int] | None = None,
        replace_stamps: dict[int, list[int]] | None = None,
        remove_traits: set[int] | None = None,
        cache_answers: dict[int, CachedAnswer] | None = None,
        segments: frozenset[int] = frozenset(),
        clear_attributes: tuple[str, ...] = (),
        synced_ids: dict[int, str] | None = None,
        keep_segments: bool = False,
        s2s_states: dict[int, dict[str, Any]] | None = None,
        linked_ids: tuple[tuple[int, str], ...] = (),
        auth_ids: dict[int, str] | None = None,
        graph_id: str = "",
        graph: tuple[str, ...] = (),
    ) -> None:
        self.now = now
        self.event_id = event_id
        self.add_stamps = {} if add_stamps is None else add_stamps
        self.replace_stamps = {} if replace_stamps is None else replace_stamps
        self.remove_traits = set() if remove_traits is None else remove_traits
        self.cache_answers = {} if cache_answers is None else cache_answers
        self.segments = segments
        self.clear_attributes = clear_attributes
        self.synced_ids = {} if synced_ids is None else synced_ids  # dpid -> latest DPUUID
        self.keep_segments = keep_segments  # /ibs: keep membership, refresh activity and ids
        self.s2s_states = {} if s2s_states is None else s2s_states  # ``s2s<id>`` to set
        self.linked_ids = linked_ids  # (dpid, DPUUID) linked to the UUID by this event
        self.auth_ids = {} if auth_ids is None else auth_ids  # dpid -> authenticated DPUUID
        self.graph_id = graph_id  # set with ``graph``: the device graph seen by this event
        self.graph = graph


# -- reading an item (either layout) --------------------------------------------------------
def _is_numbered(name: str, prefix: str) -> bool:
    return name.startswith(prefix) and name[len(prefix):].isdigit()


def _blob(value: Any) -> bytes:
    return bytes(value.value) if isinstance(value, Binary) else bytes(value)


def profile_from_item(item: Mapping[str, Any], now: float) -> Profile:
    """A stored item (either layout) as a Profile; an opted-out item as an opted-out one."""
    uuid = str(item["uuid"])
    profile = Profile(uuid=uuid, version=int(item.get("v", 0)),
                      stored="current" if "v" in item else "legacy",
                      stored_seen=item.get("seen"))
    if "optout" in item:
        profile.opted_out = True
        return profile
    profile.deleted_ms = int(item.get("deleted", 0))
    expires_at = item.get("expires_at")
    if expires_at is not None and float(expires_at) <= now:
        # TTL passed but DynamoDB has not deleted it yet: an empty profile (the next write
        # replaces the item, conditional on what it holds).
        return profile
    if "seen" not in item:
        return profile  # a deletion marker and nothing else
    profile.last_seen = float(item["seen"])
    legacy_counts: dict[int, int] = {}
    legacy_stamps: dict[int, list[int]] = {}
    legacy_guard: list[tuple[int, str]] = []
    for name, value in item.items():
        if name == "t":
            try:
                profile.traits.update(decode_traits(_blob(value)))
            except CorruptBlob:
                # Unreadable: the next write replaces it rather than failing every event;
                # ``corrupt`` lets the repository count it (ProfileCorruptTraits).
                profile.corrupt = True
        elif name == "g":
            try:
                profile.guard = decode_guard(_blob(value))
            except CorruptBlob:
                profile.guard = Guard(since=int(now))  # proves nothing older than now
        elif _is_numbered(name, "rn"):
            legacy_counts[int(name[2:])] = int(value)
        elif _is_numbered(name, "r"):
            stamps = sorted(int(stamp_seconds(v)) for v in value)[-MAX_STAMPS_PER_TRAIT:]
            if stamps:
                legacy_stamps[int(name[1:])] = stamps
        elif _is_numbered(name, "ev"):
            # an hour's bucket: its events are taken as of the hour's end (conservative)
            end = int(name[2:]) * _LEGACY_BUCKET_SECONDS + _LEGACY_BUCKET_SECONDS - 1
            legacy_guard.extend((end, str(event_id)) for event_id in value)
        elif _is_numbered(name, "i"):
            profile.synced_ids[int(name[1:])] = str(value)
        elif _is_numbered(name, "l"):
            profile.linked[int(name[1:])] = [str(v) for v in value][-MAX_LINKED_PER_DPID:]
        elif name == "au":
            profile.auth_ids = {int(k): str(v) for k, v in value.items() if str(k).isdigit()}
        elif name == "gk":
            profile.graph_id = str(value)
        elif name == "gu":
            profile.graph = tuple(str(u) for u in value)[:MAX_GRAPH_DEVICES]
        elif _is_numbered(name, "s2s"):
            profile.s2s_states[int(name[3:])] = {
                "s": [int(s) for s in value.get("s", [])], "t": int(value.get("t", 0))}
        elif _is_numbered(name, "pc"):
            if len(str(value.get("k", ""))) > len(consent_key("x")):
                continue  # the previous layout kept the TC string: it can never match now
            profile.provider_cache[int(name[2:])] = CachedAnswer(
                segments=tuple(str(s) for s in value.get("s", [])),
                removed=tuple(str(s) for s in value.get("z", [])),
                expires_at=float(value.get("x", 0)),
                consent_key=str(value.get("k", "")),
                dpuuid=str(value.get("d", "")),
            )
    for sid, stamps in legacy_stamps.items():
        count = max(legacy_counts.get(sid, 0), len(stamps))
        packed = profile.traits.get(sid)
        if packed is None:
            profile.traits[sid] = Realizations(stamps, count)
        else:
            # Written by an old container after this item was migrated: what it added.
            merged = sorted(packed.stamps + stamps)[-MAX_STAMPS_PER_TRAIT:]
            profile.traits[sid] = Realizations(merged, packed.count + count)
    if profile.stored == "legacy":
        # The old buckets listed the guarded events of the last 24 h at most (older ones were
        # removed, events without a counter were never listed): vouch for nothing older.
        since = int(now) - GUARD_WINDOW_SECONDS
        profile.guard = Guard(sorted((e for e in legacy_guard if e[0] > since), reverse=True),
                              since)
    profile.segments = frozenset(int(s) for s in item.get("segs", ()))
    return profile


# -- applying one event's changes -----------------------------------------------------------
def apply_changes(
    profile: Profile, changes: ProfileChanges, retention: Retention = KEEP_ALL, *,
    counted: bool = True, late: bool = False,
) -> Profile:
    """The state after ``changes`` (a new object; ``profile`` is left as it is).

    ``late`` (a spooled replay older than the stored activity): the event adds its
    realizations only; the newer event's segments, ids, caches and activity stand. A live
    event is never late, even when a concurrent write with a slightly later clock won the
    race: its ids, caches and S2S states are applied key by key and activity is the later of
    the two. ``counted`` False (a replay the guard cannot vouch for): realizations whose stamp
    is already stored are skipped and none is counted.
    """
    state = profile.copy()
    now = changes.now
    clock = max(now, state.last_seen or now)
    traits = state.traits
    touched = [*changes.add_stamps, *changes.replace_stamps]
    sweep = profile.version % SWEEP_EVERY_WRITES == 0 or len(traits) > MAX_TRAITS
    # Expired traits go (a re-realized one starts afresh, its count at 1).
    drop_expired(traits, retention, clock, None if sweep else touched)
    for sid in changes.remove_traits:
        record = traits.get(sid)
        if record is not None and (not late or record.latest <= now):
            del traits[sid]
    for sid, stamps in changes.replace_stamps.items():
        if not stamps:
            continue
        stamp = int(stamp_seconds(max(stamps)))
        if len(stamps) > 1:  # a spooled "trim" of the previous layout: one more realization
            add_realization(traits, sid, stamp, counted=counted)
            continue
        record = traits.get(sid)
        if record is None or record.latest <= stamp:
            traits[sid] = Realizations([stamp], 1)
    for sid, stamp in changes.add_stamps.items():
        add_realization(traits, sid, int(stamp_seconds(stamp)), counted=counted)
    trim_stamps(traits, retention, None if sweep else touched)
    cap_traits(traits)
    for dpid, dpuuid in [*changes.linked_ids, *changes.synced_ids.items()]:
        ids = [d for d in state.linked.get(dpid, []) if d != dpuuid]
        state.linked[dpid] = [*ids, dpuuid][-MAX_LINKED_PER_DPID:]  # a link happened, late or not
    if not late:
        if not changes.keep_segments:
            state.segments = frozenset(changes.segments)
        state.synced_ids.update(changes.synced_ids)
        state.s2s_states.update(changes.s2s_states)
        state.provider_cache.update(changes.cache_answers)
        state.last_seen = clock
        state.auth_ids.update(changes.auth_ids)
        if changes.graph_id:
            state.graph_id, state.graph = changes.graph_id, changes.graph[:MAX_GRAPH_DEVICES]
    else:
        for dpid, dpuuid in changes.synced_ids.items():
            state.synced_ids.setdefault(dpid, dpuuid)
    state.provider_cache = {pid: a for pid, a in state.provider_cache.items()
                            if a.expires_at > clock}
    if changes.event_id:
        state.guard.record(changes.event_id, now, keep=GUARD_KEEP,
                           window_s=GUARD_WINDOW_SECONDS, now=clock)
    return state


# -- writing an item --------------------------------------------------------------------------
def _seen_value(now: float) -> Decimal:
    return Decimal(str(round(now, 3)))


def _cache_item(answer: CachedAnswer) -> dict[str, Any]:
    return {
        "s": list(answer.segments[:MAX_CACHED_IDS]),
        "z": list(answer.removed[:MAX_CACHED_IDS]),
        "x": Decimal(str(round(answer.expires_at, 3))),
        "k": answer.consent_key,
        "d": answer.dpuuid,
    }


def to_item(state: Profile, version: int) -> dict[str, Any]:
    """The whole item for ``state`` (written with PutItem)."""
    seen = state.last_seen if state.last_seen is not None else 0.0
    item: dict[str, Any] = {
        "uuid": state.uuid,
        "v": version,
        "seen": _seen_value(seen),
        "expires_at": int(seen) + PROFILE_LIFETIME_SECONDS,
    }
    if state.traits:
        item["t"] = encode_traits(state.traits)
    if state.guard.entries or state.guard.since:
        item["g"] = encode_guard(state.guard)
    if state.segments:
        item["segs"] = set(state.segments)
    for dpid, dpuuid in sorted(state.synced_ids.items()):
        item[f"i{dpid}"] = dpuuid
    for dpid, linked in sorted(state.linked.items()):
        if linked:
            item[f"l{dpid}"] = list(linked)
    if state.deleted_ms and seen * 1000 < state.deleted_ms + DELETION_MARKER_SECONDS * 1000:
        item["deleted"] = state.deleted_ms
    if state.auth_ids:
        item["au"] = {str(dpid): dpuuid for dpid, dpuuid in sorted(state.auth_ids.items())}
    if state.graph_id:
        item["gk"] = state.graph_id
        if state.graph:
            item["gu"] = list(state.graph)
    for destination_id, s2s in sorted(state.s2s_states.items()):
        item[f"s2s{destination_id}"] = s2s
    for pid, answer in sorted(state.provider_cache.items()):
        item[f"pc{pid}"] = _cache_item(answer)
    return item


class Fitted(NamedTuple):
    item: dict[str, Any]
    size: int
    traits_dropped: int
    caches_dropped: int


def fit_budget(state: Profile, version: int, budget: int = PROFILE_BUDGET_BYTES) -> Fitted:
    """The item for ``state`` within ``budget`` bytes (DynamoDB's rules): over it, the
    oldest cached provider answers go first, then the least recently realized traits.
    ``state`` is compacted in place. Raises ProfileWriteRejected if even that cannot fit."""
    item = to_item(state, version)
    size = item_size(item)
    caches = traits = 0
    while size > budget and state.provider_cache:
        oldest = min(state.provider_cache, key=lambda pid: state.provider_cache[pid].expires_at)
        del state.provider_cache[oldest]
        caches += 1
        item = to_item(state, version)
        size = item_size(item)
    if size > budget and state.traits:
        # Least recently realized first; each trait's share of ``t`` estimated from its
        # stamps (about 3 bytes a stamp plus 3 for its id and counts), so a few heavy old
        # traits are not mistaken for many light ones, then re-measured.
        order = least_recent(state.traits, len(state.traits))
        position = 0
        while size > budget and position < len(order):
            excess = size - budget
            freed = 0
            while freed < excess and position < len(order):
                sid = order[position]
                position += 1
                freed += 3 + 3 * len(state.traits[sid].stamps)
                del state.traits[sid]
                traits += 1
            item = to_item(state, version)
            size = item_size(item)
    if size > budget and any(len(ids) > 1 for ids in state.linked.values()):
        # Last resort before refusing: only the latest DPUUID remembered per data source
        # (older links then expire with their 120 days instead of going with a deletion).
        state.linked = {dpid: ids[-1:] for dpid, ids in state.linked.items()}
        item = to_item(state, version)
        size = item_size(item)
    if size > budget:
        raise ProfileWriteRejected(f"profile of {size} bytes without traits or caches")
    return Fitted(item, size, traits, caches)


# An event that changes nothing the profile keeps is not written (issue 17: a write costs five
# times a read). What it would have changed: the replay guard (nothing to guard) and ``seen``,
# which is refreshed by a write at most this often (TTL is 120 days after ``seen``).
SEEN_REFRESH_SECONDS = 86400


def changes_nothing(stored: Profile, changes: ProfileChanges) -> bool:
    """Whether writing ``changes`` over ``stored`` would keep nothing new: no realization,
    no cached answer, no S2S state, the same segments and ids, ``seen`` less than a day old.
    A new, legacy, corrupt or marked (deleted) profile is always written."""
    if stored.stored != "current" or stored.last_seen is None or stored.corrupt:
        return False
    if stored.deleted_ms or changes.keep_segments:
        return False
    if changes.add_stamps or changes.replace_stamps or changes.cache_answers:
        return False
    if changes.s2s_states or (changes.remove_traits & stored.traits.keys()):
        return False
    if changes.segments != stored.segments:
        return False
    if any(stored.synced_ids.get(dpid) != dpuuid for dpid, dpuuid in changes.synced_ids.items()):
        return False
    if any(dpuuid not in stored.linked.get(dpid, ()) for dpid, dpuuid in changes.linked_ids):
        return False
    if any(stored.auth_ids.get(dpid) != dpuuid for dpid, dpuuid in changes.auth_ids.items()):
        return False
    if changes.graph_id and (changes.graph_id, changes.graph) != (stored.graph_id, stored.graph):
        return False
    return changes.now - stored.last_seen < SEEN_REFRESH_SECONDS


def write_condition(stored: Profile) -> dict[str, Any]:
    """The PutItem condition: the item still holds what ``stored`` was read from."""
    names = {"#o": "optout"}
    values: dict[str, Any] = {}
    if stored.stored == "absent":
        names = {"#u": "uuid"}
        condition = "attribute_not_exists(#u)"
    elif stored.stored == "current":
        # ``seen`` too: a container of the previous version (during a deploy) SETs it on
        # every write without knowing ``v``; its write then fails this one's condition and
        # is read back and kept (read_item merges its attributes) instead of overwritten.
        names["#v"] = "v"
        values[":v"] = stored.version
        if stored.stored_seen is None:
            condition = "#v = :v AND attribute_not_exists(#o)"
        else:
            names["#s"] = "seen"
            values[":s"] = stored.stored_seen
            condition = "#v = :v AND #s = :s AND attribute_not_exists(#o)"
    else:  # the previous layout: no version; every write of it set ``seen``
        names["#v"] = "v"
        names["#s"] = "seen"
        if stored.stored_seen is None:
            condition = "attribute_not_exists(#v) AND attribute_not_exists(#o) " \
                        "AND attribute_not_exists(#s)"
        else:
            values[":s"] = stored.stored_seen
            condition = "attribute_not_exists(#v) AND attribute_not_exists(#o) AND #s = :s"
    arguments: dict[str, Any] = {"ConditionExpression": condition,
                                 "ExpressionAttributeNames": names}
    if values:
        arguments["ExpressionAttributeValues"] = values
    return arguments


class ProfileWriteFailed(Exception):
    """A profile write that did not land and was not spooled: the event reports 201."""


class ProfileWriteRejected(ProfileWriteFailed):
    """DynamoDB refused the profile write as invalid even after compaction (permanent: never
    spooled; the event reports 201 and ``ProfileWritesRejected`` counts it)."""


class ProfileConflictsExhausted(ProfileWriteFailed):
    """Too many concurrent writes of one profile inside the budget: spooled when a spool is
    configured and takes it, else raised (201)."""


class Metrics(Protocol):
    def count(self, name: str, value: float = 1) -> None: ...


class Spool(Protocol):
    def send(self, uuid: str, changes: ProfileChanges, reason: str) -> None: ...


class _NoMetrics:
    def count(self, name: str, value: float = 1) -> None:
        pass


class WritePolicy(NamedTuple):
    """Backoff for a failing profile write, bounded by a budget from the event's start."""

    max_attempts: int = 4
    base_delay_s: float = 0.010
    max_delay_s: float = 0.080
    budget_s: float = 0.600  # from ``changes.now``: no retry may start after that
    # Lost races (another write of the same profile won) are retried on the item DynamoDB
    # returned with the failure, with a short jittered pause, until this many or the budget.
    max_conflicts: int = MAX_CONFLICTS
    conflict_budget_s: float = 10.0

    def delay(self, attempt: int, jitter: float) -> float:
        """Equal jitter: half the exponential step fixed, half random."""
        step = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return step / 2 + step / 2 * jitter


def is_retryable(exc: BaseException) -> bool:
    """Throttling, 5xx and transport errors (timeouts, resets) are worth another attempt."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code in _THROTTLE_CODES or status >= 500
    return isinstance(exc, BotoCoreError)


def error_reason(exc: BaseException) -> str:
    """A short, secret-free description of a storage error (for logs and spool messages)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return f"{error.get('Code', 'ClientError')} ({status})"
    return type(exc).__name__


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


_DESERIALIZER = TypeDeserializer()


def _old_item(exc: ClientError) -> dict[str, Any] | None:
    """The item returned with a failed condition (ReturnValuesOnConditionCheckFailure)."""
    raw = exc.response.get("Item")
    if not raw:
        return None
    return {k: _DESERIALIZER.deserialize(v) for k, v in raw.items()}


class _Conflict(Exception):
    """Internal: a concurrent write changed the item; ``stored`` is what it holds now."""

    def __init__(self, stored: Profile) -> None:
        super().__init__("conflict")
        self.stored = stored


class ProfileRepository:
    """Profiles in DynamoDB: ``load`` (one consistent GetItem), ``write`` (one conditional
    PutItem, retried, spooled on failure) and ``replay`` (a spooled write, applied later).

    ``write_table`` (default ``table``) is the table object writes go through: production
    gives it a client without botocore retries, so the retries here are the only ones and
    stay inside the event's budget. ``spool`` None: a write that still fails raises.
    """

    def __init__(
        self,
        table: Any,
        *,
        write_table: Any = None,
        spool: Spool | None = None,
        metrics: Metrics | None = None,
        policy: WritePolicy | None = None,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
        budget_bytes: int = PROFILE_BUDGET_BYTES,
    ) -> None:
        self._table = table
        self._write_table = table if write_table is None else write_table
        self._spool = spool
        self._metrics: Metrics = metrics or _NoMetrics()
        self._policy = policy or WritePolicy()
        self._now = wall_clock
        self._sleep = sleep
        self._jitter = jitter
        self._budget = budget_bytes

    def load(self, uuid: str, now: float) -> Profile:
        item = self._table.get_item(Key={"uuid": uuid}, ConsistentRead=True).get("Item")
        if item is None:
            return Profile(uuid=uuid)
        profile = profile_from_item(item, now)
        if profile.corrupt:
            self._metrics.count("ProfileCorruptTraits")  # its traits are lost: say so
        return profile

    def apply(self, uuid: str, changes: ProfileChanges, stored: Profile | None = None,
              retention: Retention = KEEP_ALL) -> None:
        """Write one event's changes (see ``write``); an event that changes nothing the
        profile keeps is not written (:func:`changes_nothing`), and counted."""
        if stored is not None and changes_nothing(stored, changes):
            self._metrics.count("ProfileWritesSkipped")
            return
        self.write(uuid, changes, stored, retention)

    def write(self, uuid: str, changes: ProfileChanges, stored: Profile | None = None,
              retention: Retention = KEEP_ALL) -> WriteOutcome:
        """Write one event's changes over ``stored`` (what the event read; read here when
        None): ``written``, ``duplicate`` (a retry found its own earlier attempt applied),
        ``opted_out`` (nothing written) or ``spooled`` (DynamoDB kept failing; the changes
        are queued and applied later). Raises the storage error when the spool cannot take
        them either, and ProfileWriteRejected for a permanent refusal (the caller reports
        201 for both)."""
        deadline = changes.now + self._policy.budget_s
        try:
            if stored is None:
                stored = self.load(uuid, changes.now)
            outcome = self._write(uuid, changes, stored, retention, deadline, counted=True,
                                  replay=False)
            return "written" if outcome == "written" else outcome
        except ProfileWriteRejected:
            self._metrics.count("ProfileWritesRejected")
            raise
        except (ClientError, BotoCoreError, ProfileConflictsExhausted) as exc:
            if self._spool is None:
                raise
            try:
                self._spool.send(uuid, changes, error_reason(exc))
            except Exception:
                self._metrics.count("SpoolSendFailures")
                raise exc from None
            self._metrics.count("SpooledEvents")
            return "spooled"

    def replay(self, uuid: str, changes: ProfileChanges, budget_s: float = 2.0) -> WriteOutcome:
        """Apply a spooled event's changes (idempotent; storage errors raise).

        ``replayed``: applied as a whole; ``merged``: a newer event had written the
        profile, so only the realizations were added; ``duplicate``: already applied;
        ``opted_out``: dropped. When the replay guard no longer covers the event's time (more
        than 64 later events, or 24 h), realizations already stored are not added again and
        nothing is counted (``SpoolCountersSkipped``).
        """
        deadline = self._now() + budget_s
        stored = self.load(uuid, self._now())
        proven = not changes.event_id or stored.guard.proves(changes.now)
        if not proven and changes.event_id not in stored.guard:
            self._metrics.count("SpoolCountersSkipped")
        late = stored.last_seen is not None and stored.last_seen > changes.now
        outcome = self._write(uuid, changes, stored, KEEP_ALL, deadline, counted=proven,
                              replay=True)
        if outcome != "written":
            return outcome
        return "merged" if late else "replayed"

    def opt_out(self, uuid: str, now: float) -> Profile:
        """Replace the profile by an opt-out marker; returns what was stored before."""
        old = self._table.put_item(
            Item={"uuid": uuid, "optout": int(now * 1000)}, ReturnValues="ALL_OLD"
        ).get("Attributes")
        return Profile(uuid=uuid) if not old else profile_from_item(old, now)

    def load_many(self, keys: list[str], now: float) -> dict[str, Profile]:
        """Several profiles (authenticated ones, other devices: identity.md 3) in one
        consistent BatchGetItem; unprocessed keys are retried a bounded number of times.
        A key with no item is an empty profile."""
        found: dict[str, Profile] = {key: Profile(uuid=key) for key in keys}
        if not keys:
            return found
        # The resource's client serializes plain Python values itself, as Table methods do.
        client = self._table.meta.client
        name = self._table.name
        request: dict[str, Any] = {name: {"Keys": [{"uuid": k} for k in found],
                                          "ConsistentRead": True}}
        for _ in range(3):
            response = client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(name, []):
                found[str(item["uuid"])] = profile_from_item(item, now)
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        return found

    def is_opted_out(self, uuid: str) -> bool:
        """Only the opt-out marker of ``uuid`` (a ``d_uuid`` beside the visitor's cookie)."""
        item = self._table.get_item(Key={"uuid": uuid}, ConsistentRead=True,
                                    ProjectionExpression="optout").get("Item")
        return bool(item) and "optout" in item

    def raw_item(self, uuid: str) -> dict[str, Any] | None:
        """The stored item; None if there is none, or only a deletion marker."""
        item = self._table.get_item(Key={"uuid": uuid}, ConsistentRead=True).get("Item")
        if item is None or ("deleted" in item and "seen" not in item and "optout" not in item):
            return None
        return dict(item)

    def delete(self, uuid: str, now: float | None = None) -> dict[str, Any] | None:
        """Delete the profile (admin privacy API); returns what was stored, if anything.

        The item is replaced by a deletion marker (``deleted``, epoch ms) that expires after
        15 days: a write of an event older than the deletion (a spooled one, or one in flight)
        is dropped rather than bringing the profile back. Not over an opt-out marker."""
        when = self._now() if now is None else now
        try:
            old = self._table.put_item(
                Item={"uuid": uuid, "deleted": int(when * 1000),
                      "expires_at": int(when) + DELETION_MARKER_SECONDS},
                ConditionExpression="attribute_not_exists(#o)",
                ExpressionAttributeNames={"#o": "optout"},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if _error_code(exc) == _CONDITION_FAILED:
                return None  # opted out: the marker stays, there is no data to delete
            raise
        attributes = old.get("Attributes")
        return None if not attributes else dict(attributes)

    # -- one event's write: conflicts re-applied, failures retried -------------------------
    def _write(self, uuid: str, changes: ProfileChanges, stored: Profile, retention: Retention,
               deadline: float, *, counted: bool,
               replay: bool) -> Literal["written", "duplicate", "opted_out", "deleted"]:
        conflicts = 0
        # From now, not from the event's time: a replay's event may be hours old.
        conflict_deadline = self._now() + max(self._policy.budget_s,
                                              self._policy.conflict_budget_s)
        budget = self._budget
        while True:
            if stored.opted_out:
                return "opted_out"
            if stored.deleted_ms and changes.now * 1000 <= stored.deleted_ms:
                self._metrics.count("ProfileWritesAfterDeletion")
                return "deleted"  # an event from before the deletion: it must not return
            if changes.event_id and changes.event_id in stored.guard:
                return "duplicate"
            # A replay is late when the item already holds newer activity (asked again after
            # every lost race); a live event never is.
            late = replay and stored.last_seen is not None and stored.last_seen > changes.now
            state = apply_changes(stored, changes, retention, counted=counted, late=late)
            fitted = fit_budget(state, stored.version + 1, budget)
            if fitted.traits_dropped or fitted.caches_dropped:
                self._metrics.count("ProfileCompactions")
            try:
                self._put(uuid, fitted.item, stored, deadline)
                return "written"
            except _Conflict as conflict:
                conflicts += 1
                self._metrics.count("ProfileWriteConflicts")
                if conflicts > self._policy.max_conflicts or self._now() > conflict_deadline:
                    raise ProfileConflictsExhausted("ConditionalCheckFailed (conflicts)") from None
                stored = conflict.stored
                # A short random pause, the same for every loser: a growing one would starve
                # the writer that lost most (its rivals retry sooner and win again).
                self._sleep(0.002 * self._jitter())
            except ClientError as exc:
                if _error_code(exc) != _VALIDATION:
                    raise
                # Permanent (never spooled): DynamoDB refused what we computed as valid. Once
                # more with half the budget; then ProfileWriteRejected (the event's 201).
                self._metrics.count("ProfileWriteValidationErrors")
                if budget < self._budget:
                    raise ProfileWriteRejected(error_reason(exc)) from None
                budget = self._budget // 2
            except ProfileWriteRejected:
                raise

    def _put(self, uuid: str, item: dict[str, Any], stored: Profile, deadline: float) -> None:
        """One conditional PutItem, retried on throttling and transport errors."""
        attempt = 1
        condition = write_condition(stored)
        while True:
            try:
                self._write_table.put_item(
                    Item=item, ReturnValuesOnConditionCheckFailure="ALL_OLD", **condition)
                return
            except (ClientError, BotoCoreError) as exc:
                if _error_code(exc) == _CONDITION_FAILED:
                    assert isinstance(exc, ClientError)
                    old = _old_item(exc)
                    raise _Conflict(Profile(uuid=uuid) if old is None
                                    else profile_from_item(old, self._now())) from None
                if _error_code(exc) == _VALIDATION:
                    raise
                self._metrics.count("DynamoDBErrors")
                delay = self._policy.delay(attempt, self._jitter())
                retry = (
                    is_retryable(exc)
                    and attempt < self._policy.max_attempts
                    and self._now() + delay < deadline
                )
                if not retry:
                    raise
                self._metrics.count("ProfileWriteRetries")
                self._sleep(delay)
                attempt += 1
