"""The ``/v1/reports/*`` answers, from the day sketches (docs/insight.md, "API").

Windows nest (1 ⊂ 7 ⊂ 30 ...), so one id's days are read once, from today backwards, into one
running union that is read at each window's boundary: the 90-day window of an id costs one
Query and 90 sketch unions whatever else is asked. Every figure carries the library's 95 %
bounds (exact, so all three equal, below the sketch's nominal size).
"""

from __future__ import annotations

import time
from itertools import combinations
from typing import Any, Callable, Iterable, Mapping

from chalicelib.insight import params, sketches
from chalicelib.insight.days import iso_day, iso_time, utc_day, window_days
from chalicelib.insight.keys import Kind
from chalicelib.insight.repository import DayRow, InsightRepository

KnownIds = Callable[[Kind], frozenset[int]]


def known_ids(catalog: Any) -> KnownIds:
    """The ids each kind has in a compiled catalog (paused segments included)."""

    def known(kind: Kind) -> frozenset[int]:
        if kind == "trait":
            return frozenset(catalog.traits)
        if kind == "segment":
            return frozenset(s.sid for s in catalog.segments)
        return frozenset(int(d["dataSourceId"]) for d in catalog.raw.get("datasource", ())
                         if "dataSourceId" in d)

    return known


class Reports:
    def __init__(self, repository: InsightRepository, known: KnownIds,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._repository = repository
        self._known = known
        self._now = wall_clock

    # -- populations and data sources -----------------------------------------------------
    def populations(self, query: Mapping[str, str]) -> dict[str, Any]:
        kind = params.kind(query)
        ids = params.ids(query)
        windows = params.windows(query)
        self._check_known(kind, ids)
        return self._windows_report(kind, ids, windows)

    def datasources(self, query: Mapping[str, str]) -> dict[str, Any]:
        windows = params.windows(query)
        ids = params.ids(query, required=False)
        if ids:
            self._check_known("datasource", ids)
        else:
            ids = sorted(self._known("datasource"))[:params.MAX_IDS]
        return self._windows_report("datasource", ids, windows)

    def _windows_report(self, kind: Kind, ids: list[int],
                        windows: list[tuple[str, int]]) -> dict[str, Any]:
        now = self._now()
        today = utc_day(now)
        longest = max(days for _, days in windows)
        rows = self._repository.days_of_many(kind, ids, today - longest + 1, today)
        items = []
        for object_id in ids:
            by_window = _window_figures(rows.get(object_id, []), today,
                                        sorted({days for _, days in windows}))
            items.append({"kind": kind, "id": object_id,
                          "windows": {label: by_window[days] for label, days in windows}})
        return {"items": items, "asOf": iso_time(now)}

    # -- trend ----------------------------------------------------------------------------
    def trend(self, query: Mapping[str, str]) -> dict[str, Any]:
        kind = params.kind(query, ("trait", "segment", "datasource"))
        object_id = params.one_id(query)
        days = params.days(query)
        self._check_known(kind, [object_id])
        now = self._now()
        today = utc_day(now)
        span = window_days(today, days)
        stored = {r.day: r for r in self._repository.days(kind, object_id, span[0], span[-1])}
        entries = []
        for day in span:
            row = stored.get(day)
            figure = (sketches.EMPTY if row is None
                      else sketches.estimate(sketches.from_bytes(row.sketch)))
            entries.append({"day": iso_day(day), **figure.as_dict(),
                            "events": 0 if row is None else row.events})
        return {"kind": kind, "id": object_id, "days": entries, "asOf": iso_time(now)}

    # -- overlap --------------------------------------------------------------------------
    def overlap(self, query: Mapping[str, str]) -> dict[str, Any]:
        refs = params.sets(query)
        window = params.window(query.get("window", str(params.DEFAULT_OVERLAP_WINDOW)),
                               "window")
        missing = [f"{r.kind}:{r.id}" for r in refs if r.id not in self._known(r.kind)]
        if missing:
            error = params.unknown("set", [])
            error.message = f"unknown ids: {', '.join(missing)}"
            error.extra["ids"] = missing
            raise error
        now = self._now()
        today = utc_day(now)
        span = window_days(today, window)
        united: dict[str, Any] = {}
        for ref in refs:
            rows = self._repository.days(ref.kind, ref.id, span[0], span[-1])
            united[ref.name] = sketches.union_of(sketches.from_bytes(r.sketch) for r in rows)
        names = [r.name for r in refs]
        answer: dict[str, Any] = {
            "window": window,
            "sets": {r.name: {"kind": r.kind, "id": r.id,
                              **sketches.estimate(united[r.name]).as_dict()} for r in refs},
            "intersection": _figure(sketches.intersection_of(united[n] for n in names)),
            "union": _figure(sketches.union_of(united[n] for n in names)),
        }
        if len(names) == 3:
            answer["pairs"] = {a + b: _figure(sketches.intersection_of([united[a], united[b]]))
                               for a, b in combinations(names, 2)}
        answer["regions"] = _venn(united, names)
        answer["asOf"] = iso_time(now)
        return answer

    def _check_known(self, kind: Kind, ids: Iterable[int]) -> None:
        known = self._known(kind)
        missing = [i for i in ids if i not in known]
        if missing:
            raise params.unknown(kind, missing)


def _figure(sketch: Any) -> dict[str, int]:
    return sketches.estimate(sketch).as_dict()


def _window_figures(rows: list[DayRow], today: int,
                    windows: list[int]) -> dict[int, dict[str, int]]:
    """Uniques (with bounds) and events of each window, from one pass over the days."""
    by_day = {r.day: r for r in rows}
    union = sketches.RunningUnion()
    events = 0
    figures: dict[int, dict[str, int]] = {}
    remaining = list(windows)  # ascending
    for back in range(max(windows)):
        row = by_day.get(today - back)
        if row is not None:
            union.add(sketches.from_bytes(row.sketch))
            events += row.events
        if remaining and back + 1 == remaining[0]:
            remaining.pop(0)
            figures[back + 1] = {**sketches.estimate(union.result()).as_dict(),
                                 "events": events}
    return figures


def _venn(united: Mapping[str, Any], names: list[str]) -> dict[str, dict[str, int]]:
    """Exclusive Venn regions: ``a`` only in A, ``ab`` in A and B only, ... ``abc``."""
    regions: dict[str, dict[str, int]] = {}
    for size in range(1, len(names) + 1):
        for inside in combinations(names, size):
            outside = [n for n in names if n not in inside]
            core = sketches.intersection_of(united[n] for n in inside)
            if outside:
                core = sketches.minus(core, sketches.union_of(united[n] for n in outside))
            regions["".join(inside)] = _figure(core)
    return regions
