"""Compact binary encodings of the profile's two growing parts (docs/profile-storage.md).

* Trait realizations (attribute ``t``): per realized trait its stamps (epoch seconds, newest
  100 at most) and its exact realization count, sorted by trait id; ids are delta coded and
  stamps are stored as distances (from the newest stamp of the profile, then from the next
  newer stamp of the trait), all as unsigned LEB128 varints. A trait realized once costs
  about 5 bytes; 10,000 traits with 3 stamps each fit in about 100 KB.
* Replay guard (attribute ``g``): the ids of the most recent events applied to the profile
  with their times, plus ``since``: every event applied with a time after ``since`` is listed.
  A write recognises its own earlier attempt, and a spooled replay whether it was applied,
  while its event is newer than ``since``.

Each encoding starts with a format byte, so a later layout can be read beside this one.
"""

from __future__ import annotations

import base64
import binascii
from typing import Iterable

TRAITS_FORMAT = 1
GUARD_FORMAT = 1


class CorruptBlob(ValueError):
    """A stored blob that does not decode (treated as empty, and counted, by the caller)."""


class Realizations:
    """One trait on one profile: stamps (epoch s, ascending) and how often it was realized."""

    __slots__ = ("stamps", "count")

    def __init__(self, stamps: list[int], count: int) -> None:
        self.stamps = stamps
        self.count = max(count, len(stamps))

    @property
    def latest(self) -> int:
        return self.stamps[-1]

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Realizations) and self.stamps == other.stamps
                and self.count == other.count)

    def __repr__(self) -> str:
        return f"Realizations({self.stamps!r}, {self.count})"


# -- varints ------------------------------------------------------------------------------
def _put(out: bytearray, value: int) -> None:
    if value < 0:
        raise ValueError("varints are unsigned")
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def varint(self) -> int:
        result = shift = 0
        data = self.data
        while True:
            if self.pos >= len(data) or shift > 63:
                raise CorruptBlob("truncated varint")
            byte = data[self.pos]
            self.pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise CorruptBlob("truncated")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return bytes(chunk)

    def byte(self) -> int:
        return self.take(1)[0]

    def done(self) -> bool:
        return self.pos == len(self.data)


# -- trait realizations -------------------------------------------------------------------
def encode_traits(traits: dict[int, Realizations]) -> bytes:
    out = bytearray([TRAITS_FORMAT])
    records = [(sid, r) for sid, r in sorted(traits.items()) if r.stamps]
    base = max((r.latest for _, r in records), default=0)
    _put(out, base)
    _put(out, len(records))
    previous_sid = 0
    for sid, record in records:
        _put(out, sid - previous_sid)
        previous_sid = sid
        stamps = record.stamps
        extra = record.count - len(stamps)
        _put(out, (len(stamps) - 1) << 1 | (1 if extra else 0))
        if extra:
            _put(out, extra)
        newer = base
        for stamp in reversed(stamps):
            _put(out, newer - stamp)
            newer = stamp
    return bytes(out)


def decode_traits(blob: bytes) -> dict[int, Realizations]:
    reader = _Reader(bytes(blob))
    if reader.byte() != TRAITS_FORMAT:
        raise CorruptBlob("unknown trait format")
    base = reader.varint()
    count = reader.varint()
    traits: dict[int, Realizations] = {}
    sid = 0
    for _ in range(count):
        sid += reader.varint()
        header = reader.varint()
        n = (header >> 1) + 1
        extra = reader.varint() if header & 1 else 0
        stamps = []
        newer = base
        for _ in range(n):
            newer -= reader.varint()
            stamps.append(newer)
        stamps.reverse()
        traits[sid] = Realizations(stamps, n + extra)
    if not reader.done():
        raise CorruptBlob("trailing bytes")
    return traits


# -- replay guard -------------------------------------------------------------------------
class Guard:
    """Recent event ids with their event times, the last applied first, and ``since``: the
    latest event time ever dropped from the list (so every applied event newer than it is
    listed, whatever order events were applied in)."""

    __slots__ = ("entries", "since")

    def __init__(self, entries: Iterable[tuple[int, str]] = (), since: int = 0) -> None:
        self.entries: list[tuple[int, str]] = list(entries)
        self.since = since

    def __contains__(self, event_id: str) -> bool:
        return any(e == event_id for _, e in self.entries)

    def proves(self, event_time: float) -> bool:
        """True when an event applied at ``event_time`` would be listed if it was applied."""
        return int(event_time) > self.since

    def record(self, event_id: str, event_time: float, *, keep: int, window_s: int,
               now: float) -> None:
        entries = [(int(event_time), event_id), *self.entries]
        cutoff = int(now) - window_s
        kept = [e for e in entries if e[0] > cutoff][:keep]
        dropped = [e[0] for e in entries if e not in kept]
        if dropped:
            self.since = max(self.since, max(dropped))
        self.entries = kept


def _zigzag(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def _unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


_RAW_TID = 0
_TEXT = 1


def _id_bytes(event_id: str) -> bytes:
    try:
        raw = base64.b64decode(event_id, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == 8 and base64.b64encode(raw).decode("ascii") == event_id:
        return bytes([_RAW_TID]) + raw
    text = event_id.encode("utf-8")[:255]
    return bytes([_TEXT, len(text)]) + text


def encode_guard(guard: Guard) -> bytes:
    out = bytearray([GUARD_FORMAT])
    _put(out, guard.since)
    entries = guard.entries
    base = entries[0][0] if entries else 0
    _put(out, base)
    _put(out, len(entries))
    previous = base
    for when, event_id in entries:
        _put(out, _zigzag(previous - when))  # usually newer first: small and positive
        previous = when
        out += _id_bytes(event_id)
    return bytes(out)


def decode_guard(blob: bytes) -> Guard:
    reader = _Reader(bytes(blob))
    if reader.byte() != GUARD_FORMAT:
        raise CorruptBlob("unknown guard format")
    since = reader.varint()
    previous = reader.varint()
    entries = []
    for _ in range(reader.varint()):
        previous -= _unzigzag(reader.varint())
        kind = reader.byte()
        if kind == _RAW_TID:
            event_id = base64.b64encode(reader.take(8)).decode("ascii")
        elif kind == _TEXT:
            event_id = reader.take(reader.byte()).decode("utf-8", "replace")
        else:
            raise CorruptBlob("unknown guard entry")
        entries.append((previous, event_id))
    if not reader.done():
        raise CorruptBlob("trailing bytes")
    return Guard(entries, since)
