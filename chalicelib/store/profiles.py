"""Profile repository: one consistent read and one atomic update per event.

Item layout (one item per UUID, partition key ``uuid``); every per-object attribute is
top-level so that DynamoDB update expressions can change it atomically without the
read-modify-write races a nested map would need:

* ``r<sid>``  Number Set: realization stamps of trait ``sid`` in integer nanoseconds
  (microseconds x 1000 plus a random tie-breaker, so two concurrent realizations in the same
  microsecond stay two elements). Rule-based traits ``ADD`` to it; onboarded traits ``SET``
  it to their latest realization only (rules.md 1.5).
* ``i<dpid>`` String: the visitor's id (DPUUID) in data source ``dpid``.
* ``pc<pid>`` Map: a cached provider answer ``{s: [segment ids], z: [removed ids], x: expiry,
  k: consent key, d: dpuuid}``.
* ``segs`` Number Set: stored segment membership; ``seen`` last activity (epoch s);
  ``expires_at`` the DynamoDB TTL attribute (last activity + 120 days).
* ``optout`` (epoch ms): the UUID is opted out. An opted-out item holds only ``uuid`` and
  ``optout`` and has no ``expires_at``, so the marker never expires while the data is gone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Mapping

PROFILE_LIFETIME_SECONDS = 120 * 86400
MAX_STAMPS_PER_TRAIT = 100
_NS_PER_SECOND = 1_000_000_000


def new_stamp(now: float) -> int:
    return int(now * 1_000_000) * 1000 + secrets.randbelow(1000)


def stamp_seconds(stamp: int | Decimal) -> float:
    return int(stamp) / _NS_PER_SECOND


@dataclass(frozen=True)
class CachedAnswer:
    segments: tuple[str, ...]
    removed: tuple[str, ...]
    expires_at: float
    consent_key: str
    dpuuid: str

    def usable(self, now: float, consent_key: str, dpuuid: str) -> bool:
        return now < self.expires_at and self.consent_key == consent_key and self.dpuuid == dpuuid


@dataclass
class Profile:
    uuid: str
    stamps: dict[int, list[int]] = field(default_factory=dict)  # sid -> stamps (ns), ascending
    synced_ids: dict[int, str] = field(default_factory=dict)
    provider_cache: dict[int, CachedAnswer] = field(default_factory=dict)
    segments: frozenset[int] = frozenset()
    last_seen: float | None = None
    expired_attributes: tuple[str, ...] = ()  # attributes of a TTL-expired item to clear
    opted_out: bool = False

    @property
    def exists(self) -> bool:
        return self.last_seen is not None


@dataclass
class ProfileChanges:
    """What one event changes; rendered as a single UpdateItem."""

    now: float
    event_id: str = ""
    add_stamps: dict[int, int] = field(default_factory=dict)  # rule-based: sid -> new stamp
    replace_stamps: dict[int, list[int]] = field(default_factory=dict)  # sid -> full set
    remove_traits: set[int] = field(default_factory=set)
    cache_answers: dict[int, CachedAnswer] = field(default_factory=dict)
    segments: frozenset[int] = frozenset()
    clear_attributes: tuple[str, ...] = ()
    synced_ids: dict[int, str] = field(default_factory=dict)  # dpid -> latest DPUUID
    keep_segments: bool = False  # /ibs: refresh activity and ids, leave membership alone


def _from_item(item: Mapping[str, Any], now: float) -> Profile:
    uuid = str(item["uuid"])
    if "optout" in item:
        return Profile(uuid=uuid, opted_out=True)
    expires_at = item.get("expires_at")
    if expires_at is not None and float(expires_at) <= now:
        # TTL passed but DynamoDB has not deleted it yet: an empty profile, whose stale
        # attributes the next update clears.
        stale = tuple(k for k in item if k != "uuid")
        return Profile(uuid=uuid, expired_attributes=stale)
    profile = Profile(uuid=uuid, last_seen=float(item.get("seen", now)))
    for name, value in item.items():
        if name.startswith("r") and name[1:].isdigit():
            profile.stamps[int(name[1:])] = sorted(int(v) for v in value)
        elif name.startswith("i") and name[1:].isdigit():
            profile.synced_ids[int(name[1:])] = str(value)
        elif name.startswith("pc") and name[2:].isdigit():
            profile.provider_cache[int(name[2:])] = CachedAnswer(
                segments=tuple(str(s) for s in value.get("s", [])),
                removed=tuple(str(s) for s in value.get("z", [])),
                expires_at=float(value.get("x", 0)),
                consent_key=str(value.get("k", "")),
                dpuuid=str(value.get("d", "")),
            )
    profile.segments = frozenset(int(s) for s in item.get("segs", ()))
    return profile


class _Expression:
    """Builds an update expression with generated placeholder names."""

    def __init__(self) -> None:
        self.sets: list[str] = []
        self.adds: list[str] = []
        self.removes: list[str] = []
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}

    def name(self, attribute: str) -> str:
        placeholder = f"#a{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = value
        return placeholder

    def render(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.adds:
            parts.append("ADD " + ", ".join(self.adds))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)


def _cache_item(answer: CachedAnswer) -> dict[str, Any]:
    return {
        "s": list(answer.segments),
        "z": list(answer.removed),
        "x": Decimal(str(round(answer.expires_at, 3))),
        "k": answer.consent_key,
        "d": answer.dpuuid,
    }


def build_update(changes: ProfileChanges) -> dict[str, Any]:
    """The UpdateItem arguments (minus Key/TableName) for one event's changes."""
    expr = _Expression()
    touched: set[str] = set()
    expr.sets.append(f"{expr.name('seen')} = {expr.value(Decimal(str(round(changes.now, 3))))}")
    expires = int(changes.now) + PROFILE_LIFETIME_SECONDS
    expr.sets.append(f"{expr.name('expires_at')} = {expr.value(expires)}")
    touched.update({"seen", "expires_at", "segs"})
    if changes.keep_segments:
        pass
    elif changes.segments:
        expr.sets.append(f"{expr.name('segs')} = {expr.value(set(changes.segments))}")
    else:
        expr.removes.append(expr.name("segs"))
    for sid, stamp in sorted(changes.add_stamps.items()):
        attribute = f"r{sid}"
        touched.add(attribute)
        expr.adds.append(f"{expr.name(attribute)} {expr.value({stamp})}")
    for sid, stamps in sorted(changes.replace_stamps.items()):
        attribute = f"r{sid}"
        touched.add(attribute)
        expr.sets.append(f"{expr.name(attribute)} = {expr.value(set(stamps))}")
    for sid in sorted(changes.remove_traits):
        attribute = f"r{sid}"
        if attribute not in touched:
            touched.add(attribute)
            expr.removes.append(expr.name(attribute))
    for dpid, dpuuid in sorted(changes.synced_ids.items()):
        attribute = f"i{dpid}"
        touched.add(attribute)
        expr.sets.append(f"{expr.name(attribute)} = {expr.value(dpuuid)}")
    for pid, answer in sorted(changes.cache_answers.items()):
        attribute = f"pc{pid}"
        touched.add(attribute)
        expr.sets.append(f"{expr.name(attribute)} = {expr.value(_cache_item(answer))}")
    for attribute in changes.clear_attributes:
        if attribute not in touched:
            touched.add(attribute)
            expr.removes.append(expr.name(attribute))
    return {
        "UpdateExpression": expr.render(),
        "ExpressionAttributeNames": expr.names,
        "ExpressionAttributeValues": expr.values,
    }


class ProfileRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    def load(self, uuid: str, now: float) -> Profile:
        item = self._table.get_item(Key={"uuid": uuid}, ConsistentRead=True).get("Item")
        return Profile(uuid=uuid) if item is None else _from_item(item, now)

    def apply(self, uuid: str, changes: ProfileChanges) -> None:
        self._table.update_item(Key={"uuid": uuid}, **build_update(changes))

    def opt_out(self, uuid: str, now: float) -> Profile:
        """Replace the profile by an opt-out marker; returns what was stored before."""
        old = self._table.put_item(
            Item={"uuid": uuid, "optout": int(now * 1000)}, ReturnValues="ALL_OLD"
        ).get("Attributes")
        return Profile(uuid=uuid) if not old else _from_item(old, now)

    def raw_item(self, uuid: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"uuid": uuid}, ConsistentRead=True).get("Item")
        return None if item is None else dict(item)


def trim_stamps(existing: Iterable[int], new: int) -> list[int]:
    """Keep the newest ``MAX_STAMPS_PER_TRAIT`` stamps, the new one included."""
    kept = sorted(existing)[-(MAX_STAMPS_PER_TRAIT - 1):]
    return sorted([*kept, new])
