"""Bounded profiles (issue 11, dcs-protocol.md section 11): the five adversarial visitors.

Each scenario ends with every write landed (nothing spooled, nothing in the dead-letter queue,
no 201), the item within the 128 KiB budget by DynamoDB's own size rules (``item_size``, not
moto's), every write request within DynamoDB's limits, and the segments right for what is kept.

(a) runs 34,000 events through the profile repository over an in-memory table that enforces
DynamoDB's limits (moto at that count would take minutes); (b)-(e) run through the event
pipeline against moto, with the catalogs they need.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from chalicelib.runtime import services
from chalicelib.dcs.ids import new_uuid
from chalicelib.dcs.params import parse_request
from chalicelib.pipeline import EventInput, EventPipeline, EventResult
from chalicelib.store.catalog import CatalogRepository
from chalicelib.store.compaction import GUARD_KEEP, MAX_TRAITS, PROFILE_BUDGET_BYTES
from chalicelib.store.dynamo import write_table
from chalicelib.store.item_size import (
    MAX_EXPRESSION_BYTES,
    MAX_ITEM_BYTES,
    expression_sizes,
    item_size,
)
from chalicelib.store.profiles import (
    Profile,
    ProfileChanges,
    ProfileRepository,
    profile_from_item,
)
from devtools.memory_profiles import MemoryProfileTable
from devtools.provider_sim import ProviderSimulator
from tests.infra.spool_kit import receive

DAY = 86400
T0 = 1_800_000_000.0


class _Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class _NoFanout:
    def start(self, plans: Any, budget_ms: int) -> Any:
        raise AssertionError("these scenarios call no provider")


class _Writes:
    """Every profile PutItem's request, read off the write client's own events."""

    def __init__(self, client: Any) -> None:
        self.requests: list[dict[str, Any]] = []
        client.meta.events.register("provide-client-params.dynamodb.PutItem", self._record,
                                    unique_id=f"writes-{id(self)}")

    def _record(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.requests.append(params)

    def largest(self) -> tuple[int, int]:
        """(largest item, largest expression) of the requests seen, DynamoDB's bytes."""
        items = [item_size(p["Item"]) for p in self.requests]
        expressions = [max(expression_sizes(p).values(), default=0) for p in self.requests]
        return max(items, default=0), max(expressions, default=0)


@pytest.fixture
def no_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTDCS_RT_BUDGET_MS", "0")  # rules and d_sid only


@pytest.fixture
def stack(tables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    monkeypatch.setenv("RTDCS_CATALOG_REFRESH_SECONDS", "0")
    services.reset()
    yield {"tables": tables,
           "catalog": CatalogRepository(boto3.resource("dynamodb").Table(tables["catalog"]))}
    services.reset()


def _add(stack: dict[str, Any], objects: list[tuple[str, int, dict[str, Any]]]) -> None:
    """Add catalog objects; the next event's services (and write client) see them."""
    stack["catalog"].put_many(objects)
    stack["catalog"].bump_version()
    services.reset()
    services.get_services()
    stack["writes"] = _Writes(write_table(stack["tables"]["profiles"]).meta.client)


def _rule_trait(sid: int, rule: str) -> tuple[str, int, dict[str, Any]]:
    return ("trait", sid, {"sid": sid, "name": f"t{sid}", "traitType": "RULE_BASED_TRAIT",
                           "dataSourceId": 1, "traitRule": rule, "ttl": 120})


def _segment(sid: int, rule: str) -> tuple[str, int, dict[str, Any]]:
    return ("segment", sid, {"sid": sid, "name": f"s{sid}", "segmentRule": rule,
                             "status": "active"})


def _frequency_segments(sids: list[int], per_segment: int, first_sid: int,
                        condition: str) -> list[tuple[str, int, dict[str, Any]]]:
    """Segments ``frequency([...]) <condition>`` over ``sids``, ``per_segment`` at a time."""
    segments = []
    for block in range(0, len(sids), per_segment):
        refs = ", ".join(f"{sid}T" for sid in sids[block:block + per_segment])
        segments.append(_segment(first_sid + block, f"frequency([{refs}]) {condition}"))
    return segments


def _pipeline(clock: _Clock | None = None) -> EventPipeline:
    s = services.get_services()
    if clock is None:
        return s.pipeline
    return EventPipeline(s.settings, s.catalog, s.profiles, _NoFanout(), s.idmap, clock,
                         storage_errors=(Exception,))


def _event(pipeline: EventPipeline, uuid: str, query: dict[str, list[str]],
           body: dict[str, list[str]] | None = None) -> EventResult:
    """One event; ``body`` signals are POSTed (a GET is limited to 8,192 bytes)."""
    encoded = None if body is None else urlencode(body, doseq=True).encode()
    parsed = parse_request("/event", {"d_rtbd": ["json"], **query}, encoded)
    return pipeline.handle(EventInput(parsed, {"rtdcs_uuid": uuid}))


def _item(stack: dict[str, Any], uuid: str) -> dict[str, Any]:
    table = boto3.resource("dynamodb").Table(stack["tables"]["profiles"])
    item: dict[str, Any] = table.get_item(Key={"uuid": uuid}, ConsistentRead=True)["Item"]
    return item


def _nothing_spooled(stack: dict[str, Any]) -> None:
    sqs = boto3.client("sqs")
    assert receive(sqs, stack["tables"]["spool_queue_url"]) == []
    assert receive(sqs, stack["tables"]["spool_dlq_url"]) == []


def _within_limits(stack: dict[str, Any], item: dict[str, Any]) -> None:
    assert item_size(item) <= PROFILE_BUDGET_BYTES
    assert stack["writes"].requests  # the writes were seen
    largest_item, largest_expression = stack["writes"].largest()
    assert largest_item <= PROFILE_BUDGET_BYTES < MAX_ITEM_BYTES
    assert largest_expression < MAX_EXPRESSION_BYTES


# -- (a) 34,000 events on one UUID in one day -------------------------------------------------
def test_a_34000_events_in_one_day_keep_a_bounded_guard_and_lose_nothing() -> None:
    table = MemoryProfileTable()
    repo = ProfileRepository(table)
    uuid = new_uuid()
    events = 34_000
    for i in range(events):
        now = T0 + i * DAY / events
        stored = repo.load(uuid, now)
        outcome = repo.write(uuid, ProfileChanges(now=now, event_id=f"e{i}",
                                                  add_stamps={7: int(now)},
                                                  segments=frozenset({5})), stored)
        assert outcome == "written"
    item = table.items[uuid]
    profile = profile_from_item(item, T0 + DAY)
    assert table.puts == events  # every write landed, none refused
    assert profile.traits[7].count == events
    assert len(profile.guard.entries) == GUARD_KEEP
    assert item_size(item) <= table.largest_item < 2048  # bounded: the guard does not grow
    # The last event is recognised if its write is retried; one far older is not claimed.
    assert f"e{events - 1}" in profile.guard and not profile.guard.proves(T0)


# -- (b) 420 rule-based traits x 100 realizations -----------------------------------------------
def test_b_420_traits_realized_100_times_each_fit_with_every_stamp(stack: dict[str, Any],
    no_providers: None) -> None:
    sids = list(range(10001, 10421))
    objects = [_rule_trait(sid, f'c_b == "{sid}"') for sid in sids]
    # Frequency rules over every trait, so every stamp must be kept (the worst case).
    objects += _frequency_segments(sids, 60, 60001, ">= 99")
    objects.append(_segment(61001, "frequency([10001T]) == 100"))
    objects.append(_segment(61002, "frequency([10420T] <= 1D) >= 100"))
    objects.append(_segment(61003, "frequency([10420T] >= 1D) >= 1"))
    _add(stack, objects)
    uuid = new_uuid()
    clock = _Clock(T0)
    pipeline = _pipeline(clock)
    for event in range(700):  # 60 traits a page view: each trait 100 times
        clock.now = T0 + event * 60
        first = (event * 60) % 420
        values = [str(sid) for sid in sids[first:first + 60]]
        result = _event(pipeline, uuid, {"c_b": values, "d_cts": ["1"]})
        assert [e.code for e in result.errors] == [], event
    item = _item(stack, uuid)
    profile = profile_from_item(item, clock.now)
    assert all(profile.traits[sid].count == 100 for sid in sids)
    assert all(len(profile.traits[sid].stamps) == 100 for sid in sids)
    assert {61001, 61002} <= item["segs"] and 61003 not in item["segs"]
    _within_limits(stack, item)
    _nothing_spooled(stack)


# -- (c) 7 providers answering 60 unmapped 1,000-character ids and 1 mapped one ------------------
def test_c_providers_answering_huge_unmapped_ids_cache_only_what_maps(
    stack: dict[str, Any], simulator: ProviderSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # About storage, not latency: 7 x 61 KB answers on a busy 2-core machine get time.
    monkeypatch.setenv("RTDCS_RT_BUDGET_MS", "3000")
    objects: list[tuple[str, int, dict[str, Any]]] = []
    for n in range(7):
        dpid, pid, name = 911 + n, 11 + n, f"big{n}"
        objects.append(("datasource", dpid, {"dataSourceId": dpid, "name": name,
                                             "idType": "COOKIE"}))
        objects.append(("provider", pid, {
            "pid": pid, "name": name, "dataSourceId": dpid,
            "url": f"{simulator.url}/providers/{name}", "status": "active", "timeoutMs": 2000,
            "idMode": "uuid", "cacheTtlSeconds": 3600, "signals": []}))
        objects.append(("trait", 40001 + n, {
            "sid": 40001 + n, "name": f"mapped {n}", "traitType": "ON_BOARDED_TRAIT",
            "dataSourceId": dpid, "providerSegmentId": f"m{n}", "ttl": 120}))
        unmapped = [f"{n}-{i}-" + "x" * 990 for i in range(60)]
        simulator.configure(name, {"latency_ms": 0, "segments": [*unmapped, f"m{n}"]})
    objects.append(_segment(62001, " AND ".join(f"{40001 + n}T" for n in range(7))))
    _add(stack, objects)
    pipeline = _pipeline()
    uuid = new_uuid()
    consent = "C" * 2000
    first = _event(pipeline, uuid, {"d_cts": ["1"], "gdpr": ["0"], "gdpr_consent": [consent]})
    assert [e.code for e in first.errors] == []
    assert {o.kind for o in first.outcomes if o.pid >= 11} == {"answered"}
    assert 62001 in first.fields["segments"]
    item = _item(stack, uuid)
    for n in range(7):
        cached = item[f"pc{11 + n}"]
        assert cached["s"] == [f"m{n}"] and len(cached["k"]) <= 16
    stored = repr(item).encode() + b"".join(getattr(v, "value", b"") for v in item.values())
    assert consent.encode() not in stored
    calls = {name: n for name, n in simulator.calls().items() if name.startswith("big")}
    second = _event(pipeline, uuid, {"d_cts": ["1"], "gdpr": ["0"], "gdpr_consent": [consent]})
    assert {o.kind for o in second.outcomes if o.pid >= 11} == {"cached"}
    after = {name: n for name, n in simulator.calls().items() if name.startswith("big")}
    assert after == calls and len(calls) == 7  # the cache landed: none called again
    assert 62001 in second.fields["segments"]
    _within_limits(stack, _item(stack, uuid))
    _nothing_spooled(stack)


# -- (d) one event realizing 200 traits ------------------------------------------------------------
def test_d_one_event_realizing_200_traits_is_one_small_request(stack: dict[str, Any],
    no_providers: None) -> None:
    onboarded = list(range(20001, 20101))
    rule_based = list(range(30001, 30101))
    objects = [("trait", sid, {"sid": sid, "name": f"o{sid}", "traitType": "ON_BOARDED_TRAIT",
                               "dataSourceId": 1, "ttl": 120}) for sid in onboarded]
    objects += [_rule_trait(sid, 'c_d == "x"') for sid in rule_based]
    objects.append(_segment(63001, "20100T AND 30100T"))
    _add(stack, objects)
    uuid = new_uuid()
    result = _event(_pipeline(_Clock(T0)), uuid,
                    {"d_sid": [str(s) for s in onboarded], "c_d": ["x"], "d_cts": ["1"]})
    assert [e.code for e in result.errors] == []
    assert len(result.fields["traits"]) == 200 and 63001 in result.fields["segments"]
    item = _item(stack, uuid)
    assert set(profile_from_item(item, T0).traits) >= set(onboarded) | set(rule_based)
    _within_limits(stack, item)
    assert len(stack["writes"].requests) == 1  # one PutItem, whatever the number of traits
    _nothing_spooled(stack)


# -- (e) 12,000 distinct traits: the 10,000 cap, least recently realized first ---------------------
def test_e_12000_traits_keep_the_10000_most_recent_with_three_stamps(
    stack: dict[str, Any], no_providers: None
) -> None:
    sids = list(range(100_001, 112_001))
    objects = [_rule_trait(sid, f'c_e{(sid - 100_001) % 10} == "{sid}"') for sid in sids]
    objects += _frequency_segments(sids, 4_000, 64001, ">= 2")  # each trait: 3 stamps read
    objects.append(_segment(65001, "frequency([102001T, 102002T]) == 6"))
    objects.append(_segment(65002, "100001T"))
    objects.append(_segment(65003, "101000T"))
    _add(stack, objects)
    uuid = new_uuid()
    clock = _Clock(T0)
    pipeline = _pipeline(clock)
    blocks = [sids[b:b + 1000] for b in range(0, 12_000, 1000)]

    def realize(block: list[int]) -> None:
        clock.now += 3600  # an hour apart: a clear order
        query: dict[str, list[str]] = {}
        for sid in block:
            query.setdefault(f"c_e{(sid - 100_001) % 10}", []).append(str(sid))
        result = _event(pipeline, uuid, {"d_cts": ["1"]}, query)
        assert [e.code for e in result.errors] == []

    for _ in range(3):  # 10,000 traits, 3 stamps each: the layout's design point
        for block in blocks[:10]:
            realize(block)
    full = _item(stack, uuid)
    profile = profile_from_item(full, clock.now)
    assert len(profile.traits) == MAX_TRAITS
    assert all(len(r.stamps) == 3 and r.count == 3 for r in profile.traits.values())
    assert item_size(full) <= PROFILE_BUDGET_BYTES
    for block in blocks[10:]:  # 2,000 more distinct traits
        realize(block)
    item = _item(stack, uuid)
    profile = profile_from_item(item, clock.now)
    assert len(profile.traits) == MAX_TRAITS
    # Blocks 0 and 1 were realized least recently: they are the ones dropped.
    assert set(profile.traits) == set(sids[2000:])
    assert all(len(profile.traits[sid].stamps) == 3 for sid in sids[2000:10_000])
    assert 65001 in item["segs"]
    assert 65002 not in item["segs"] and 65003 not in item["segs"]
    _within_limits(stack, item)
    _nothing_spooled(stack)


def test_the_budget_holds_for_a_profile_written_by_an_old_container(stack: dict[str, Any]) -> None:
    """A write whose state came from nowhere (a spooled replay, no catalog) is bounded too."""
    table = MemoryProfileTable()
    repo = ProfileRepository(table)
    uuid = new_uuid()
    stored = Profile(uuid)
    for i in range(300):  # 60 traits x 100 stamps a write would be 1.2 M stamps unbounded
        now = T0 + i
        changes = ProfileChanges(now=now, event_id=f"e{i}",
                                 add_stamps={sid: int(now) - sid for sid in range(i, i + 60)})
        assert repo.write(uuid, changes, stored) == "written"
        stored = repo.load(uuid, now)
    assert item_size(table.items[uuid]) <= PROFILE_BUDGET_BYTES
