"""Theta sketches (Apache DataSketches), behind a few functions.

The library (a C++ extension that pulls numpy, ~115 ms to import) is loaded on first use, so
only the insight functions pay for it, never ``/event``'s cold start (bench/coldstart.py).

Sizing (docs/insight.md, "Accuracy and size"): ``LG_K = 13`` (k = 8,192 retained hashes).
A sketch in estimation mode has a relative standard error of about 1/sqrt(k) = 1.1 %, so
95 % of estimates fall within 2.2 % (the spec asks 3 %; lg_k 12 gives 3.1 %). Below k
distinct UUIDs a sketch holds every hash and counts exactly. Stored sketches are trimmed
to k hashes (a union's result) and serialized compressed: at most ~54 KB, 7 bytes a hash
below k (an item stays far from DynamoDB's 400 KB).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, NamedTuple

LG_K = 13
NOMINAL_K = 1 << LG_K
# 95 % bounds: the library's bounds are in standard deviations (1, 2 or 3); 2 covers 95.4 %.
NUM_STD_DEV = 2

_library: Any = None


def _ds() -> Any:
    global _library
    if _library is None:
        import datasketches  # type: ignore[import-untyped]  # lazy: see the module docstring

        _library = datasketches
    return _library


class Estimate(NamedTuple):
    uniques: int
    lower: int
    upper: int

    def as_dict(self) -> dict[str, int]:
        return {"uniques": self.uniques, "lower": self.lower, "upper": self.upper}


EMPTY = Estimate(0, 0, 0)


def sketch_of(uuids: Iterable[str]) -> Any:
    """A compact sketch of these UUIDs (trimmed to k hashes)."""
    ds = _ds()
    update = ds.update_theta_sketch(LG_K)
    for uuid in uuids:
        update.update(uuid)
    return trimmed([update.compact()])


def trimmed(sketches: Iterable[Any]) -> Any:
    """The union of compact sketches, at most k hashes (what is stored and reported)."""
    union = _ds().theta_union(LG_K)
    for sketch in sketches:
        union.update(sketch)
    return union.get_result()


def union_of(sketches: Iterable[Any]) -> Any:
    return trimmed(sketches)


def intersection_of(sketches: Iterable[Any]) -> Any:
    meet = _ds().theta_intersection()
    for sketch in sketches:
        meet.update(sketch)
    if not meet.has_result():
        return empty()
    return meet.get_result()


def minus(a: Any, b: Any) -> Any:
    """A without B (Venn regions)."""
    return _ds().theta_a_not_b().compute(a, b)


def empty() -> Any:
    return _ds().update_theta_sketch(LG_K).compact()


def to_bytes(sketch: Any) -> bytes:
    return bytes(sketch.serialize(True))


def from_bytes(blob: bytes) -> Any:
    return _ds().compact_theta_sketch.deserialize(bytes(blob))


def merged(stored: bytes | None, added: Any) -> bytes:
    """``stored`` (bytes or None) united with ``added``, serialized as stored."""
    if stored is None:
        return to_bytes(trimmed([added]))
    return to_bytes(trimmed([from_bytes(stored), added]))


def estimate(sketch: Any) -> Estimate:
    """The estimate and its 95 % bounds, rounded to whole visitors (exact mode: all equal)."""
    if sketch.is_empty():
        return EMPTY
    value = round(sketch.get_estimate())
    lower = min(value, math.floor(sketch.get_lower_bound(NUM_STD_DEV)))
    upper = max(value, math.ceil(sketch.get_upper_bound(NUM_STD_DEV)))
    return Estimate(value, lower, upper)


def retained(sketch: Any) -> int:
    return int(sketch.num_retained)


class RunningUnion:
    """A union fed day by day, read at each window's boundary (windows nest)."""

    def __init__(self) -> None:
        self._union = _ds().theta_union(LG_K)
        self._empty = True

    def add(self, sketch: Any) -> None:
        self._union.update(sketch)
        self._empty = False

    def result(self) -> Any:
        return empty() if self._empty else self._union.get_result()
