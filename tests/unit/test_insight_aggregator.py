"""The aggregator: what a profile write counts for (opt-outs, deletions, /ibs, replays, TTL
removals count for nothing), one write per (kind, id, day) per batch, and concurrent
aggregators that lose nothing (the race injected between a merge's read and its write)."""

from __future__ import annotations

from typing import Any, Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.insight import sketches
from chalicelib.insight.aggregator import Aggregator
from chalicelib.insight.days import utc_day
from chalicelib.insight.derive import derive
from chalicelib.insight.keys import SketchKey
from chalicelib.insight.reports import Reports
from chalicelib.insight.repository import InsightRepository
from chalicelib.insight.stream import change_from_record
from chalicelib.store.profiles import ProfileChanges
from infra.bootstrap import create_data_stack
from tests.insight_kit import DAY, ProfileWrites

NOW = 1_767_268_800.0
TODAY = utc_day(NOW)
SOURCES = {2001: 1, 2002: 1, 3001: 900}
KNOWN = {"trait": frozenset(SOURCES), "segment": frozenset({5001}),
         "datasource": frozenset({1, 900})}


@pytest.fixture
def table() -> Iterator[Any]:
    with mock_aws():
        created = create_data_stack(boto3.client("cloudformation"), boto3.client("dynamodb"))
        yield boto3.resource("dynamodb").Table(created["insight"])


def _counted(writes: ProfileWrites) -> list[Any]:
    found = []
    for record in writes.take():
        change = change_from_record(record)
        found.append(derive(change.old, change.new, SOURCES.get))
    return found


def _population(table: Any, kind: str, object_id: int, window: str = "7") -> dict[str, int]:
    reports = Reports(InsightRepository(table), KNOWN.__getitem__, lambda: NOW)
    if kind == "datasource":
        answer = reports.datasources({"ids": str(object_id), "windows": window})
    else:
        answer = reports.populations({"kind": kind, "ids": str(object_id), "windows": window})
    return dict(answer["items"][0]["windows"][window])


def test_an_event_counts_its_traits_segments_and_data_sources() -> None:
    writes = ProfileWrites()
    writes.event("a", NOW, traits={2001}, onboarded={3001}, segments={5001})
    (one,) = _counted(writes)
    assert (one.uuid, one.day, one.traits, one.segments, one.sources) == (
        "a", TODAY, {2001, 3001}, {5001}, {1, 900})


def test_only_what_the_event_realized_counts() -> None:
    writes = ProfileWrites()
    writes.event("a", NOW - 60, traits={2001}, onboarded={3001}, segments={5001})
    writes.take()
    writes.event("a", NOW, traits={2002}, segments={5001})  # 2001 and 3001 stay stored
    (one,) = _counted(writes)
    assert one.traits == {2002} and one.segments == {5001}
    writes.event("a", NOW + 1, onboarded={3001})  # onboarded again: one stamp, count 1
    (again,) = _counted(writes)
    assert again.traits == {3001} and again.sources == {900}


def test_declared_ids_count_for_their_data_source() -> None:
    writes = ProfileWrites()
    writes.event("a", NOW, synced={900: "dp-1"})
    (one,) = _counted(writes)
    assert one.traits == frozenset() and one.sources == {900}


def test_writes_that_are_not_events_count_for_nothing() -> None:
    writes = ProfileWrites()
    tid = writes.event("a", NOW - 60, traits={2001}, segments={5001})
    writes.take()
    writes.ibs("a", NOW, 900, "dp-1")  # /ibs: a sync, no event id
    writes.apply("a", ProfileChanges(now=NOW - 60, event_id=tid,
                                     add_stamps={2001: int(NOW - 60)}))  # a duplicate replay
    writes.expire("a")  # a TTL removal
    # /ibs and the TTL removal wrote (and count for nothing); the replay wrote nothing.
    assert _counted(writes) == [None, None]


def test_a_replay_the_guard_cannot_vouch_for_adds_only_new_realizations() -> None:
    writes = ProfileWrites()
    writes.event("a", NOW - 60, traits={2001})
    writes.take()
    # A spooled event older than the guard's memory: its stamp already stored is not counted.
    writes.apply("a", ProfileChanges(now=NOW - 60, event_id="old",
                                     add_stamps={2001: int(NOW - 60), 2002: int(NOW - 60)}),
                 counted=False)
    (one,) = _counted(writes)
    assert one.traits == {2002}


def test_a_late_replay_does_not_count_the_newer_events_segments() -> None:
    writes = ProfileWrites()
    writes.event("a", NOW, traits={2001}, segments={5001})
    writes.take()
    writes.event("a", NOW - 3600, traits={2002}, segments=set(), event_id="late")
    (one,) = _counted(writes)
    assert one.traits == {2002} and one.segments == frozenset()


def test_opted_out_and_deleted_profiles_count_for_nothing(table: Any) -> None:
    writes = ProfileWrites()
    aggregator = Aggregator(InsightRepository(table), lambda: SOURCES.get)
    writes.event("kept", NOW - 120, traits={2001}, segments={5001})
    writes.event("gone", NOW - 120, traits={2001}, segments={5001})
    writes.event("out", NOW - 120, traits={2001}, segments={5001})
    aggregator.handle(writes.take())
    assert _population(table, "trait", 2001)["uniques"] == 3
    writes.opt_out("out", NOW - 60)
    writes.event("out", NOW - 30, traits={2002})  # refused by the store: the marker stays
    writes.delete("gone", NOW - 60)
    # After the deletion: a new profile of the same UUID carries the marker (15 days).
    writes.event("gone", NOW - 30, traits={2002}, segments={5001})
    writes.event("kept", NOW - 30, traits={2002})
    records = writes.take()
    assert len(records) == 4  # opt-out, deletion, the write after it, kept's event
    report = aggregator.handle(records)
    assert report.counted == 1
    assert _population(table, "trait", 2002)["uniques"] == 1  # only "kept"
    assert _population(table, "trait", 2001)["uniques"] == 3  # past days keep their estimate
    # Once the marker has expired, the UUID is a new visitor and counts again.
    writes.event("gone", NOW + 16 * DAY, traits={2002})
    assert _counted(writes)[0].traits == {2002}


class _CountingTable:
    """The real table, counting the write requests made through it."""

    def __init__(self, table: Any) -> None:
        self._table = table
        self.puts: list[tuple[str, int]] = []
        self.meta, self.name = table.meta, table.name

    def get_item(self, **kwargs: Any) -> Any:
        return self._table.get_item(**kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        self.puts.append((kwargs["Item"]["k"], int(kwargs["Item"]["d"])))
        return self._table.put_item(**kwargs)


def test_a_batch_makes_one_write_per_key_it_touches(table: Any) -> None:
    writes = ProfileWrites()
    for i in range(100):
        writes.event(f"v{i}", NOW - (DAY if i % 2 else 0), traits={2001}, segments={5001})
    counting = _CountingTable(table)
    report = Aggregator(InsightRepository(counting), lambda: SOURCES.get).handle(writes.take())
    assert report.records == 100 and report.counted == 100
    # trait 2001, segment 5001, data source 1, on two days
    assert sorted(counting.puts) == sorted({(k, d) for k in ("t#2001", "s#5001", "d#1")
                                            for d in (TODAY - 1, TODAY)})
    assert report.writes == 6 and report.keys == 6


class _RacingTable(_CountingTable):
    """Before the first write of each key, ``rival`` merges into that key (it wins)."""

    def __init__(self, table: Any, rival: Any) -> None:
        super().__init__(table)
        self._rival = rival
        self._raced: set[str] = set()

    def put_item(self, **kwargs: Any) -> Any:
        key = kwargs["Item"]["k"]
        if key not in self._raced:
            self._raced.add(key)
            self._rival(key, int(kwargs["Item"]["d"]))
        return super().put_item(**kwargs)


def test_racing_aggregators_lose_nothing(table: Any) -> None:
    rival_uuids = [f"r{i}" for i in range(300)]
    rival = InsightRepository(table)

    def rival_merge(key: str, day: int) -> None:
        kind = {"t": "trait", "s": "segment", "d": "datasource"}[key[0]]
        rival.merge(SketchKey(kind, int(key[2:]), day), sketches.sketch_of(rival_uuids), 300)

    writes = ProfileWrites()
    for i in range(100):
        writes.event(f"v{i}", NOW, traits={2001}, segments={5001})
    racing = _RacingTable(table, rival_merge)
    report = Aggregator(InsightRepository(racing), lambda: SOURCES.get).handle(writes.take())
    assert report.conflicts == 3 and report.writes == 6  # each key lost once, then landed
    for kind, object_id in (("trait", 2001), ("segment", 5001), ("datasource", 1)):
        figure = _population(table, kind, object_id, "1")
        assert figure["uniques"] == 400 and figure["events"] == 400, (kind, figure)


def test_sketch_items_stay_small_and_expire_after_100_days(table: Any) -> None:
    repository = InsightRepository(table)
    key = SketchKey("trait", 2001, TODAY)
    for start in range(0, 60_000, 20_000):
        result = repository.merge(key, sketches.sketch_of(f"u{i}" for i in range(start,
                                                                               start + 20_000)),
                                  1)
    item = table.get_item(Key={"k": "t#2001", "d": TODAY})["Item"]
    assert result.item_bytes < 60_000  # k = 8,192 hashes, compressed (DynamoDB's sizes)
    assert int(item["expires_at"]) == (TODAY + 101) * DAY
    estimate = sketches.estimate(sketches.from_bytes(bytes(item["s"].value)))
    assert abs(estimate.uniques - 60_000) <= 0.03 * 60_000
