"""One stream batch in, at most one sketch merge per (kind, id, day) touched out.

The batch's changes are reduced first (``derive``), their UUIDs grouped by key into one
sketch each, then each key is merged once into the insight table (``repository``): a batch of
100 records that touches 40 keys makes 40 conditional writes (plus one per lost race).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping, NamedTuple

from chalicelib.insight import sketches
from chalicelib.insight.derive import Counted, derive
from chalicelib.insight.keys import Kind, SketchKey
from chalicelib.insight.repository import InsightRepository
from chalicelib.insight.stream import change_from_record

SourceOf = Callable[[int], "int | None"]


class BatchReport(NamedTuple):
    records: int
    counted: int  # records that were events of a counted profile
    keys: int  # (kind, id, day) touched
    writes: int  # PutItem requests, lost races included
    conflicts: int
    write_units: int
    cpu_ms: float  # this process's CPU time for the batch (derive, sketches, merges)


class _Pending:
    __slots__ = ("uuids", "events")

    def __init__(self) -> None:
        self.uuids: set[str] = set()
        self.events = 0


def group(counted: Iterable[Counted]) -> dict[SketchKey, _Pending]:
    """Per key: the distinct UUIDs and the number of events of the batch."""
    pending: dict[SketchKey, _Pending] = {}

    def add(kind: Kind, ids: Iterable[int], one: Counted) -> None:
        for object_id in ids:
            entry = pending.get(SketchKey(kind, object_id, one.day))
            if entry is None:
                entry = pending[SketchKey(kind, object_id, one.day)] = _Pending()
            entry.uuids.add(one.uuid)
            entry.events += 1

    for one in counted:
        add("trait", one.traits, one)
        add("segment", one.segments, one)
        add("datasource", one.sources, one)
    return pending


class Aggregator:
    """``source_of`` returns the current trait -> data source mapping (the catalog's)."""

    def __init__(self, repository: InsightRepository,
                 source_of: Callable[[], SourceOf],
                 cpu_clock: Callable[[], float] = time.process_time) -> None:
        self._repository = repository
        self._source_of = source_of
        self._cpu = cpu_clock

    def handle(self, records: Iterable[Mapping[str, Any]]) -> BatchReport:
        started = self._cpu()
        source_of = self._source_of()
        counted: list[Counted] = []
        total = 0
        for record in records:
            total += 1
            change = change_from_record(record)
            one = derive(change.old, change.new, source_of)
            if one is not None:
                counted.append(one)
        pending = group(counted)
        writes = conflicts = units = 0
        # Sorted: concurrent aggregators meet their shared keys in the same order.
        for key in sorted(pending):
            entry = pending[key]
            result = self._repository.merge(key, sketches.sketch_of(sorted(entry.uuids)),
                                            entry.events)
            writes += result.writes
            conflicts += result.conflicts
            units += result.write_units
        cpu_ms = (self._cpu() - started) * 1000
        return BatchReport(total, len(counted), len(pending), writes, conflicts, units, cpu_ms)


def catalog_sources(catalog: Any) -> SourceOf:
    """trait id -> data source id, from a compiled catalog."""
    traits = catalog.traits

    def source_of(sid: int) -> int | None:
        trait = traits.get(sid)
        return None if trait is None else int(trait.data_source_id)

    return source_of
