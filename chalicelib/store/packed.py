"""Compact binary encodings of the profile's two growing parts (docs/profile-storage.md).

* Trait realizations (attribute ``t``): per realized trait its stamps (epoch seconds, newest
  100 at most) and its exact realization count, sorted by trait id, in columns of fixed-width
  integers: id deltas, stamps per trait, count beyond the stamps, and stamp distances (from
  the newest stamp of the profile, then from the next newer stamp of the trait). A trait
  realized once costs about 5 bytes; 10,000 traits with 3 stamps each about 100 KB.
* Replay guard (attribute ``g``): the ids of the most recent events applied to the profile
  with their times, plus ``since``: every event applied with a time after ``since`` is listed.
  A write recognises its own earlier attempt, and a spooled replay whether it was applied,
  while its event is newer than ``since``.

Each encoding starts with a format byte, so a later layout can be read beside this one.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from array import array
from itertools import accumulate, pairwise
from typing import Iterable

TRAITS_FORMAT = 2
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
        # Inline rather than take(1)[0]: the guard decode reads ~130 single bytes per event.
        pos = self.pos
        if pos >= len(self.data):
            raise CorruptBlob("truncated")
        self.pos = pos + 1
        return self.data[pos]

    def done(self) -> bool:
        return self.pos == len(self.data)


# -- trait realizations -------------------------------------------------------------------
# Columns of fixed-width little-endian unsigned integers, each as narrow as its largest value
# (0, 1, 2, 3 or 4 bytes), so decoding is array() slicing at C speed rather than a Python
# loop over bytes (a 10,000-trait profile is read and written on every event of its visitor).
_TYPECODES = {1: "B", 2: "H", 4: "I"}
assert array("I").itemsize == 4 and array("H").itemsize == 2


def _width(largest: int) -> int:
    if largest == 0:
        return 0
    size = (largest.bit_length() + 7) // 8
    if size > 4:
        raise ValueError("a column value does not fit in 4 bytes")
    return size


def _column(values: list[int]) -> tuple[int, bytes]:
    width = _width(max(values, default=0))
    if width == 0:
        return 0, b""
    if width == 3:  # a 2-byte plane and a 1-byte plane
        return 3, _split_planes(values)
    packed = array(_TYPECODES[width], values)
    if sys.byteorder != "little" and width > 1:
        packed.byteswap()
    return width, packed.tobytes()


# The 3-byte columns go through 4-byte little-endian words and strided byte slices (C speed)
# rather than a Python expression per value: most columns of a real profile are 3 bytes wide
# (ids, stamp distances), and they are encoded and decoded on every event of a visitor.
def _split_planes(values: list[int]) -> bytes:
    """The low 2 bytes of each value (little-endian), then the third byte of each."""
    words = array("I", values)
    if sys.byteorder != "little":
        words.byteswap()
    raw = words.tobytes()
    low = bytearray(2 * len(values))
    low[0::2] = raw[0::4]
    low[1::2] = raw[1::4]
    return bytes(low) + raw[2::4]


def _join_planes(low: bytes, high: bytes) -> list[int]:
    raw = bytearray(4 * len(high))
    raw[0::4] = low[0::2]
    raw[1::4] = low[1::2]
    raw[2::4] = high
    words = array("I", raw)
    if sys.byteorder != "little":
        words.byteswap()
    return words.tolist()


def _read_column(reader: "_Reader", width: int, n: int) -> list[int]:
    if width == 0:
        return [0] * n
    if width == 3:
        return _join_planes(reader.take(2 * n), reader.take(n))
    if width not in _TYPECODES:
        raise CorruptBlob("bad column width")
    values = array(_TYPECODES[width], reader.take(width * n))
    if sys.byteorder != "little" and width > 1:
        values.byteswap()
    return values.tolist()


def encode_traits(traits: dict[int, Realizations]) -> bytes:
    """Format 2: header (format, base, records, older stamps, four column widths), then the
    columns: id deltas, stamps per trait - 1, count beyond the stamps, newest stamp's distance
    from ``base`` (the newest stamp of all), and each older stamp's distance from the next
    newer one of its trait."""
    # Column by column with comprehensions, not one loop appending to five lists: this runs
    # on every profile write (issue 17: CPU per warm event).
    sids = sorted(sid for sid, r in traits.items() if r.stamps)
    records = [traits[sid] for sid in sids]
    all_stamps = [r.stamps for r in records]
    latest = [stamps[-1] for stamps in all_stamps]
    base = max(latest, default=0)
    deltas = [b - a for a, b in pairwise([0, *sids])]
    extra_stamps = [len(stamps) - 1 for stamps in all_stamps]
    extra_counts = [r.count - len(r.stamps) for r in records]
    newest = [base - stamp for stamp in latest]
    older = [stamps[i] - stamps[i - 1]
             for stamps in all_stamps if len(stamps) > 1
             for i in range(len(stamps) - 1, 0, -1)]
    out = bytearray([TRAITS_FORMAT])
    _put(out, base)
    _put(out, len(sids))
    _put(out, len(older))
    columns = [_column(deltas), _column(extra_stamps), _column(extra_counts),
               _column(newest), _column(older)]
    out.append(columns[0][0] | columns[1][0] << 4)
    out.append(columns[2][0] | columns[3][0] << 4)
    out.append(columns[4][0])
    for _, data in columns:
        out += data
    return bytes(out)


def decode_traits(blob: bytes) -> dict[int, Realizations]:
    reader = _Reader(bytes(blob))
    if reader.byte() != TRAITS_FORMAT:
        raise CorruptBlob("unknown trait format")
    base = reader.varint()
    n = reader.varint()
    n_older = reader.varint()
    # Every record after the first moves the id by at least 1 byte's worth of column, and a
    # trait keeps at most 100 stamps: refuse counts the blob cannot hold (no huge lists).
    if n > len(blob) or n_older > 99 * n:
        raise CorruptBlob("record counts do not fit the blob")
    first, second, third = reader.byte(), reader.byte(), reader.byte()
    widths = (first & 0xF, first >> 4, second & 0xF, second >> 4, third)
    sids = list(accumulate(_read_column(reader, widths[0], n)))
    extra_stamps = _read_column(reader, widths[1], n)
    extra_counts = _read_column(reader, widths[2], n)
    newest = _read_column(reader, widths[3], n)
    older = _read_column(reader, widths[4], n_older)
    if not reader.done() or sum(extra_stamps) != n_older:
        raise CorruptBlob("columns do not add up")
    traits: dict[int, Realizations] = {}
    position = 0
    new = Realizations.__new__  # the checks of __init__ hold by construction here
    for sid, more, extra, distance in zip(sids, extra_stamps, extra_counts, newest,
                                          strict=True):
        stamp = base - distance
        record = new(Realizations)
        if more:
            stamps = [stamp]
            for gap in older[position:position + more]:
                stamp -= gap
                stamps.append(stamp)
            position += more
            stamps.reverse()
            record.stamps = stamps
        else:
            record.stamps = [stamp]
        record.count = more + 1 + extra
        traits[sid] = record
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
        kept_set = set(kept)  # a set: ``e not in kept`` on the list was 64 x 65 comparisons
        dropped = [e[0] for e in entries if e not in kept_set]
        if dropped:
            self.since = max(self.since, max(dropped))
        self.entries = kept


def _zigzag(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def _unzigzag(value: int) -> int:
    return value // 2 if value % 2 == 0 else -(value + 1) // 2


_RAW_TID = 0
_TEXT = 1


# The canonical base64 of exactly 8 bytes: 10 free characters, an 11th whose 2 padding bits
# are zero, then "=". Only such ids round-trip, so a match means the raw form; it spares the
# decode, validation and re-encode (64 ids per write).
_RAW_TID_ID = re.compile(r"[A-Za-z0-9+/]{10}[AEIMQUYcgkosw048]=")


def _id_bytes(event_id: str) -> bytes:
    if _RAW_TID_ID.fullmatch(event_id):
        return b"\x00" + binascii.a2b_base64(event_id)  # _RAW_TID
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
    data = reader.data
    size = len(data)
    for _ in range(reader.varint()):
        pos = reader.pos
        # The usual entry read inline (a delta of 1-2 varint bytes, a raw id with its 8
        # bytes present): 64 entries per read, each a few method calls less. Anything else
        # goes the general way below, with its checks and errors.
        first = data[pos] if pos < size else 0x80
        if first < 0x80:
            delta, pos = first, pos + 1
        elif pos + 1 < size and data[pos + 1] < 0x80:
            delta, pos = (first & 0x7F) | (data[pos + 1] << 7), pos + 2
        else:
            delta = -1
        if delta >= 0 and pos + 9 <= size and data[pos] == _RAW_TID:
            previous -= _unzigzag(delta)
            entries.append((previous, binascii.b2a_base64(data[pos + 1:pos + 9],
                                                          newline=False).decode("ascii")))
            reader.pos = pos + 9
            continue
        previous -= _unzigzag(reader.varint())
        kind = reader.byte()
        if kind == _RAW_TID:
            event_id = binascii.b2a_base64(reader.take(8), newline=False).decode("ascii")
        elif kind == _TEXT:
            event_id = reader.take(reader.byte()).decode("utf-8", "replace")
        else:
            raise CorruptBlob("unknown guard entry")
        entries.append((previous, event_id))
    if not reader.done():
        raise CorruptBlob("trailing bytes")
    return Guard(entries, since)
