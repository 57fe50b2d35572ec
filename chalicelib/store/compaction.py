"""Applying one event's changes to a profile state, and keeping the state within budget.

Pure functions over :class:`~chalicelib.store.profiles.Profile`-like state; the repository
calls them again on a fresher state when a concurrent write won (optimistic concurrency), so
each event's changes are applied exactly once to whatever the item holds.

Limits (dcs-protocol.md section 11): the newest 100 stamps per trait, 10,000 realized traits
(least recently realized dropped), the item within 128 KiB by DynamoDB's size rules
(``item_size.py``): over it, the oldest cached provider answers go first, then the least
recently realized traits.
"""

from __future__ import annotations

import bisect
import heapq
from typing import Iterable, Protocol

from chalicelib.store.packed import Realizations

MAX_STAMPS_PER_TRAIT = 100
MAX_TRAITS = 10_000
PROFILE_BUDGET_BYTES = 128 * 1024
# Cached provider answers keep only segment ids that map to an onboarded trait, at most:
MAX_CACHED_IDS = 100
# Replay guard: at most this many event ids, none older than the window.
GUARD_KEEP = 64
GUARD_WINDOW_SECONDS = 24 * 3600
# Every this many writes of a profile (and whenever it is over a cap) all its traits are
# checked for expiry and trimmed; in between only the traits the event touches are (a
# 10,000-trait profile would otherwise pay a full sweep on every event).
SWEEP_EVERY_WRITES = 16


class Retention(Protocol):
    """What the catalog's rules can read: ``chalicelib.rules.retention.CatalogRetention``."""

    def stamps_kept(self, sid: int) -> int: ...

    def expired(self, sid: int, latest: float, now: float) -> bool: ...


class KeepAll:
    """No catalog at hand (a spooled write replayed by the queue handler): keep the spec's
    100 stamps and expire nothing; the visitor's next event compacts by the catalog."""

    def stamps_kept(self, sid: int) -> int:
        return MAX_STAMPS_PER_TRAIT

    def expired(self, sid: int, latest: float, now: float) -> bool:
        return False


KEEP_ALL = KeepAll()


def add_realization(traits: dict[int, Realizations], sid: int, stamp: int, *,
                    counted: bool) -> bool:
    """One rule-based realization. ``counted`` False (a replay the guard cannot vouch for):
    skipped when the same stamp is already stored, and never counted. True when added."""
    record = traits.get(sid)
    if record is None:
        traits[sid] = Realizations([stamp], 1)
        return True
    if not counted and stamp in record.stamps:
        return False
    stamps = list(record.stamps)  # records are shared with the state read: never mutated
    bisect.insort(stamps, stamp)
    traits[sid] = Realizations(stamps, max(record.count + (1 if counted else 0), len(stamps)))
    return True


def trim_stamps(traits: dict[int, Realizations], retention: Retention,
                sids: "Iterable[int] | None" = None) -> int:
    """Keep each trait's newest stamps that the rules can read; returns stamps dropped."""
    dropped = 0
    for sid in (list(traits) if sids is None else sids):
        record = traits.get(sid)
        if record is None:
            continue
        keep = max(1, min(MAX_STAMPS_PER_TRAIT, retention.stamps_kept(sid)))
        if len(record.stamps) > keep:
            dropped += len(record.stamps) - keep
            traits[sid] = Realizations(record.stamps[-keep:], record.count)
    return dropped


def drop_expired(traits: dict[int, Realizations], retention: Retention, now: float,
                 sids: "Iterable[int] | None" = None) -> int:
    candidates = traits if sids is None else [sid for sid in sids if sid in traits]
    expired = [sid for sid in candidates if retention.expired(sid, traits[sid].latest, now)]
    for sid in expired:
        del traits[sid]
    return len(expired)


def least_recent(traits: dict[int, Realizations], n: int) -> list[int]:
    """The ``n`` least recently realized traits (ties: the lower id goes first)."""
    if n <= 0:
        return []
    return [sid for _, sid in heapq.nsmallest(n, ((r.stamps[-1], sid)
                                                  for sid, r in traits.items()))]


def cap_traits(traits: dict[int, Realizations], limit: int = MAX_TRAITS) -> int:
    victims = least_recent(traits, len(traits) - limit)
    for sid in victims:
        del traits[sid]
    return len(victims)
