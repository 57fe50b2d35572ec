"""A read-only set of vendor IDs, backed by the TC string's own encoding.

A TC string carries vendor IDs either as a bitfield or as ranges (1-65535 in 33 bits), and
publisher restrictions may repeat such ranges hundreds of times within 4,096 characters.
Expanding them into Python ints would cost a lot per event (and let one request allocate
millions of objects), so a ``VendorSet`` keeps either the bitfield (a ``str`` of '0'/'1')
or sorted, disjoint intervals. Membership is an index or a binary search, and the set still
iterates, compares and hashes like the ``frozenset`` of the same IDs.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from typing import Any

_ONES_RE = re.compile(r"1+")


class VendorSet(AbstractSet[int]):
    """Immutable set of vendor IDs; ``VendorSet.of([1, 2, 5]) == frozenset({1, 2, 5})``."""

    __slots__ = ("_bits", "_starts", "_ends")

    _bits: str | None  # bitfield: character i is vendor i + 1
    _starts: tuple[int, ...]  # otherwise: inclusive intervals, sorted, disjoint, non-adjacent
    _ends: tuple[int, ...]

    def __init__(self, intervals: Iterable[tuple[int, int]] = ()) -> None:
        """Build from inclusive ``(start, end)`` intervals, in any order, overlapping or not."""
        starts: list[int] = []
        ends: list[int] = []
        for start, end in sorted(intervals):
            if end < start:
                raise ValueError(f"interval end {end} is below its start {start}")
            if ends and start <= ends[-1] + 1:
                if end > ends[-1]:
                    ends[-1] = end
            else:
                starts.append(start)
                ends.append(end)
        self._init(None, tuple(starts), tuple(ends))

    def _init(self, bits: str | None, starts: tuple[int, ...], ends: tuple[int, ...]) -> None:
        object.__setattr__(self, "_bits", bits)
        object.__setattr__(self, "_starts", starts)
        object.__setattr__(self, "_ends", ends)

    @classmethod
    def from_bitfield(cls, bits: str) -> VendorSet:
        """A bitfield of '0'/'1' characters, the first one being vendor 1 (not checked)."""
        obj = cls.__new__(cls)
        obj._init(bits, (), ())
        return obj

    @classmethod
    def of(cls, ids: Iterable[int]) -> VendorSet:
        return cls((i, i) for i in ids)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("VendorSet is immutable")

    def intervals(self) -> tuple[tuple[int, int], ...]:
        """The IDs as sorted, disjoint, inclusive ``(start, end)`` runs."""
        if self._bits is not None:
            return tuple((m.start() + 1, m.end()) for m in _ONES_RE.finditer(self._bits))
        return tuple(zip(self._starts, self._ends, strict=True))

    # -- the Set protocol -------------------------------------------------------------------
    def __contains__(self, item: object) -> bool:
        if not isinstance(item, int):
            return False
        bits = self._bits
        if bits is not None:
            return 0 < item <= len(bits) and bits[item - 1] == "1"
        i = bisect_right(self._starts, item) - 1
        return i >= 0 and item <= self._ends[i]

    def __iter__(self) -> Iterator[int]:
        bits = self._bits
        if bits is not None:
            i = bits.find("1")
            while i != -1:
                yield i + 1
                i = bits.find("1", i + 1)
            return
        for start, end in zip(self._starts, self._ends, strict=True):
            yield from range(start, end + 1)

    def __len__(self) -> int:
        if self._bits is not None:
            return self._bits.count("1")
        return sum(e - s + 1 for s, e in zip(self._starts, self._ends, strict=True))

    @classmethod
    def _from_iterable(cls, it: Iterable[int]) -> frozenset[int]:  # type: ignore[override]
        # Results of &, |, - and ^ are plain frozensets.
        return frozenset(it)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, VendorSet):
            if self._bits is not None and other._bits is not None:
                return self._bits.rstrip("0") == other._bits.rstrip("0")
            if self._bits is None and other._bits is None:
                return self._starts == other._starts and self._ends == other._ends
        if isinstance(other, AbstractSet):
            return len(self) == len(other) and all(i in self for i in other)
        return NotImplemented

    def __hash__(self) -> int:
        # Same algorithm as frozenset's hash, so equal sets hash alike.
        return self._hash()

    def __repr__(self) -> str:
        parts = [str(s) if s == e else f"{s}-{e}" for s, e in self.intervals()]
        return f"VendorSet[{', '.join(parts)}]"


EMPTY_VENDORS = VendorSet()
