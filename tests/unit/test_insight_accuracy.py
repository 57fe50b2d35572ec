"""Audience insight against exact counts (spec insight.md 5; issue 15's acceptance): synthetic
visitors of known membership go through the store's own write code into stream records, the
aggregator (batches of 100) and the insight table (moto), and every report is compared with
the counts computed from the plan: exact below the sketch's nominal size, within 3 % (and
overlaps within 5 % of the smaller audience) at 10,000."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.insight import sketches
from chalicelib.insight.aggregator import Aggregator
from chalicelib.insight.days import utc_day
from chalicelib.insight.reports import Reports
from chalicelib.insight.repository import InsightRepository
from infra.bootstrap import create_data_stack
from tests.insight_kit import DAY, ProfileWrites, batches, counted_keys

NOW = 1_767_268_800.0  # 2026-01-01 12:00 UTC
TODAY = utc_day(NOW)
SOURCES = {2001: 1, 2002: 1, 2003: 1, 3001: 900}
Exact = dict[tuple[str, int], dict[int, set[str]]]


def plan(n: int, writes: ProfileWrites) -> tuple[Exact, dict[tuple[str, int], dict[int, int]]]:
    """Events of ``n`` visitors over three days, and the exact uniques/events they make."""
    exact: Exact = defaultdict(lambda: defaultdict(set))
    events: dict[tuple[str, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def event(uuid: str, at: float, traits: set[int], onboarded: set[int],
              segments: set[int]) -> None:
        writes.event(uuid, at, traits=traits, onboarded=onboarded, segments=segments)
        day = utc_day(at)
        for key in counted_keys(traits, onboarded, segments, SOURCES):
            exact[key][day].add(uuid)
            events[key][day] += 1

    for i in range(n):
        uuid = f"{i:038d}"
        if i % 5 == 0:
            event(uuid, NOW - 10 * DAY, {2001}, set(), {5001})
        if i % 4 in (0, 1):
            event(uuid, NOW - DAY, {2001} | ({2002} if i % 3 else set()), set(),
                  {5001} | ({5002} if i % 2 == 0 else set()))
        if i % 4 != 0:
            event(uuid, NOW - 3600, {2001} | ({2003} if i < 0.9 * n else set()),
                  {3001} if i % 2 else set(), {5001} | ({5003} if i % 3 == 0 else set()))
    return exact, events


@pytest.fixture
def insight_table() -> Iterator[Any]:
    with mock_aws():
        created = create_data_stack(boto3.client("cloudformation"), boto3.client("dynamodb"))
        yield boto3.resource("dynamodb").Table(created["insight"])


def _run(n: int, table: Any) -> tuple[Reports, Exact, dict[tuple[str, int], dict[int, int]]]:
    writes = ProfileWrites()
    exact, events = plan(n, writes)
    aggregator = Aggregator(InsightRepository(table), lambda: SOURCES.get)
    for batch in batches(writes.take()):
        aggregator.handle(batch)
    known = {"trait": frozenset({2001, 2002, 2003, 3001}),
             "segment": frozenset({5001, 5002, 5003}), "datasource": frozenset({1, 900})}
    return Reports(InsightRepository(table), known.__getitem__, lambda: NOW), exact, events


def _window(days: dict[int, set[str]], window: int) -> set[str]:
    return set().union(*(days.get(TODAY - back, set()) for back in range(window)))


def _close(figure: dict[str, int], exact: int, tolerance: float) -> None:
    if exact < sketches.NOMINAL_K:
        assert figure["uniques"] == figure["lower"] == figure["upper"] == exact, (figure, exact)
    else:
        assert abs(figure["uniques"] - exact) <= tolerance * exact, (figure, exact)
        assert figure["lower"] <= figure["uniques"] <= figure["upper"], figure


def _check_everything(reports: Reports, exact: Exact,
                      events: dict[tuple[str, int], dict[int, int]]) -> None:
    for kind, ids in (("trait", [2001, 2002, 2003, 3001]), ("segment", [5001, 5002, 5003])):
        answer = reports.populations({"kind": kind, "ids": ",".join(map(str, ids)),
                                      "windows": "today,1,7,30"})
        for item in answer["items"]:
            days = exact[(kind, item["id"])]
            for label, window in (("today", 1), ("1", 1), ("7", 7), ("30", 30)):
                figure = item["windows"][label]
                _close(figure, len(_window(days, window)), 0.03)
                assert figure["events"] == sum(events[(kind, item["id"])].get(TODAY - b, 0)
                                               for b in range(window))
        for object_id in ids:
            trend = reports.trend({"kind": kind, "id": str(object_id), "days": "14"})
            assert len(trend["days"]) == 14
            for back, entry in enumerate(reversed(trend["days"])):
                _close(entry, len(exact[(kind, object_id)].get(TODAY - back, set())), 0.03)
                assert entry["events"] == events[(kind, object_id)].get(TODAY - back, 0)
    sources = reports.datasources({"windows": "1,30"})
    assert [item["id"] for item in sources["items"]] == [1, 900]
    for item in sources["items"]:
        for label, window in (("1", 1), ("30", 30)):
            _close(item["windows"][label], len(_window(exact[("datasource", item["id"])],
                                                       window)), 0.03)
    for a, b, c in ((("trait", 2001), ("segment", 5001), None),
                    (("trait", 2003), ("segment", 5003), None),
                    (("trait", 2001), ("trait", 2002), ("segment", 5003))):
        refs = [r for r in (a, b, c) if r is not None]
        query = {name: f"{kind}:{i}" for name, (kind, i) in zip("abc", refs, strict=False)}
        answer = reports.overlap({**query, "window": "30"})
        sets = {name: _window(exact[ref], 30) for name, ref in zip("abc", refs, strict=False)}
        smaller = min(len(s) for s in sets.values())
        tolerance = 0.05 * smaller

        exact_mode = max(len(s) for s in sets.values()) < sketches.NOMINAL_K

        def near(figure: dict[str, int], truth: int, tol: float = tolerance,
                 exact_mode: bool = exact_mode) -> None:
            if exact_mode:
                assert figure["uniques"] == truth, (figure, truth)
            else:
                assert abs(figure["uniques"] - truth) <= tol, (figure, truth, tol)

        for name, members in sets.items():
            _close(answer["sets"][name], len(members), 0.03)
        near(answer["intersection"], len(set.intersection(*sets.values())))
        near(answer["union"], len(set.union(*sets.values())),
             0.03 * len(set.union(*sets.values())))
        for region, figure in answer["regions"].items():
            inside = set.intersection(*(sets[n] for n in region))
            outside = set().union(*(sets[n] for n in sets if n not in region))
            near(figure, len(inside - outside))


def test_a_hundred_visitors_are_counted_exactly(insight_table: Any) -> None:
    reports, exact, events = _run(100, insight_table)
    assert len(_window(exact[("trait", 2001)], 30)) == 100
    _check_everything(reports, exact, events)


def test_ten_thousand_visitors_within_the_bounds(insight_table: Any) -> None:
    reports, exact, events = _run(10_000, insight_table)
    # The plan has audiences both sides of the nominal size, so both rules are exercised.
    assert len(_window(exact[("trait", 2001)], 30)) == 10_000
    assert len(_window(exact[("trait", 2003)], 1)) < sketches.NOMINAL_K
    _check_everything(reports, exact, events)
