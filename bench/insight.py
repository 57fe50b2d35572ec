"""Audience insight (docs/insight.md): aggregator cost, report latency, sketch sizes and the
measured error against exact counts. Prints one JSON document.

    .venv/bin/python -m bench.insight [--visitors 100000]

* ``aggregator``: synthetic visitors (5 traits, 3 segments, 2 data sources, planted overlaps,
  events over 30 days, 1-3 events each) written with the profile store's own code into
  stream records, aggregated in batches of ``--batch`` (default: the event source's) into an
  in-memory table that honours the conditional writes (so the CPU is the aggregator's:
  derive, sketches, merges, not moto's):
  CPU ms, sketch writes and write units (DynamoDB's sizes) per 1,000 stream records;
* ``error``: every population (windows 1, 7, 30) and the pairwise overlaps against the exact
  counts, as relative errors (populations) and errors relative to the smaller audience
  (overlaps);
* ``reports``: latency of populations for 100 ids x windows 1,7,30 over 30 days of sketches
  in moto (in-process: a moto Query costs more CPU than DynamoDB's network round trip);
* ``sketch_bytes``: the stored item (DynamoDB's sizes) for 1 to 1,000,000 distinct UUIDs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import defaultdict
from decimal import Decimal
from typing import Any

for _name, _value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                      "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
                      "AWS_EC2_METADATA_DISABLED": "true"}.items():
    os.environ.setdefault(_name, _value)

from chalicelib.insight import sketches  # noqa: E402
from chalicelib.insight.aggregator import Aggregator  # noqa: E402
from chalicelib.insight.days import utc_day  # noqa: E402
from chalicelib.insight.keys import SketchKey  # noqa: E402
from chalicelib.insight.reports import Reports  # noqa: E402
from chalicelib.insight.repository import InsightRepository  # noqa: E402
from chalicelib.routes.insight import BATCH_SIZE  # noqa: E402
from chalicelib.store.item_size import item_size  # noqa: E402
from tests.insight_kit import DAY, ProfileWrites, counted_keys  # noqa: E402

NOW = 1_767_268_800.0
TODAY = utc_day(NOW)
SOURCES = {2001: 1, 2002: 1, 2003: 1, 3001: 900, 3002: 900}


class _Failed(Exception):
    def __init__(self, item: dict[str, Any] | None) -> None:
        self.response = {"Error": {"Code": "ConditionalCheckFailedException"}, "Item": None}
        self.item = item


class MemoryTable:
    """get_item / put_item (with the repository's two conditions) over a dict."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, int], dict[str, Any]] = {}

    def get_item(self, Key: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's names
        item = self.items.get((Key["k"], int(Key["d"])))
        return {} if item is None else {"Item": dict(item)}

    def put_item(self, Item: dict[str, Any], **kwargs: Any) -> None:  # noqa: N803
        key = (Item["k"], int(Item["d"]))
        stored = self.items.get(key)
        values = kwargs.get("ExpressionAttributeValues") or {}
        if (":v" in values and (stored is None or stored["v"] != values[":v"])) or (
                ":v" not in values and stored is not None):
            raise AssertionError("no concurrent writer in this bench")
        self.items[key] = {**Item, "v": Decimal(Item["v"])}


def _plan(visitor: int) -> list[tuple[float, set[int], set[int], set[int]]]:
    """(time, rule traits, onboarded traits, segments) of one visitor's events."""
    events = []
    for n in range(1 + visitor % 3):
        day = (visitor * 7 + n * 11) % 30
        traits = {2001} | ({2002} if visitor % 2 == 0 else set()) \
            | ({2003} if visitor % 10 < 3 else set())
        onboarded = ({3001} if visitor % 5 == 0 else set()) | ({3002} if n == 1 else set())
        segments = ({5001} if visitor % 6 == 0 else set()) | ({5002} if visitor % 5 == 0
                                                             else set()) | {5003}
        events.append((NOW - day * DAY - (visitor % 1000) * 60 - n * 60, traits, onboarded,
                       segments))
    return sorted(events)


def aggregate(visitors: int, batch: int = 100) -> tuple[dict[str, Any], MemoryTable,
                                                      dict[Any, Any]]:
    table = MemoryTable()
    aggregator = Aggregator(InsightRepository(table), lambda: SOURCES.get)
    exact: dict[tuple[str, int], dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    writes = ProfileWrites()
    records = cpu = 0.0
    sketch_writes = units = 0
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal records, cpu, sketch_writes, units
        report = aggregator.handle(pending)
        records += report.records
        cpu += report.cpu_ms
        sketch_writes += report.writes
        units += report.write_units
        pending.clear()

    # A stream is chronological: every visitor's events, in time order (a batch then covers
    # minutes of traffic, not 30 days).
    events = sorted((at, visitor, traits, onboarded, segments)
                    for visitor in range(visitors)
                    for at, traits, onboarded, segments in _plan(visitor))
    for at, visitor, traits, onboarded, segments in events:
        uuid = f"{visitor:038d}"
        writes.event(uuid, at, traits=traits, onboarded=onboarded, segments=segments)
        day = utc_day(at)
        for key in counted_keys(traits, onboarded, segments, SOURCES):
            exact[key][day].add(visitor)
        pending.extend(writes.take())
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    per_1000 = 1000 / records
    return {
        "visitors": visitors,
        "batch_size": batch,
        "stream_records": int(records),
        "cpu_ms_per_1000_records": round(cpu * per_1000, 1),
        "sketch_writes_per_1000_records": round(sketch_writes * per_1000, 1),
        "write_units_per_1000_records": round(units * per_1000, 1),
        "sketch_items": len(table.items),
    }, table, exact


class _QueryClient:
    """``meta.client.query`` over the memory table, for the reports."""

    def __init__(self, table: MemoryTable) -> None:
        self._table = table

    def query(self, **kwargs: Any) -> dict[str, Any]:
        values = kwargs["ExpressionAttributeValues"]
        rows = [item for (k, d), item in sorted(self._table.items.items())
                if k == values[":k"] and values[":a"] <= d <= values[":b"]]
        return {"Items": rows}


def errors(table: MemoryTable, exact: dict[Any, Any]) -> dict[str, Any]:
    table.meta = type("Meta", (), {"client": _QueryClient(table)})()  # type: ignore[attr-defined]
    table.name = "memory"  # type: ignore[attr-defined]
    known = {"trait": frozenset({2001, 2002, 2003, 3001, 3002}),
             "segment": frozenset({5001, 5002, 5003}), "datasource": frozenset({1, 900})}
    reports = Reports(InsightRepository(table), known.__getitem__, lambda: NOW)

    def members(key: tuple[str, int], window: int) -> set[int]:
        return set().union(*(exact[key].get(TODAY - b, set()) for b in range(window)))

    worst: dict[str, float] = {}
    within: list[bool] = []
    for kind in ("trait", "segment"):
        ids = sorted(known[kind])
        answer = reports.populations({"kind": kind, "ids": ",".join(map(str, ids)),
                                      "windows": "1,7,30"})
        for item in answer["items"]:
            for label, figure in item["windows"].items():
                truth = len(members((kind, item["id"]), int(label)))
                error = abs(figure["uniques"] - truth) / max(truth, 1)
                name = f"{kind}:{item['id']}/{label}d (exact {truth})"
                worst[name] = round(error * 100, 2)
                within.append(figure["lower"] <= truth <= figure["upper"])
    overlaps: dict[str, float] = {}
    pairs = [(("trait", 2001), ("trait", 2002)), (("trait", 2002), ("segment", 5001)),
             (("trait", 2003), ("segment", 5002)), (("segment", 5003), ("trait", 3002))]
    for a, b in pairs:
        answer = reports.overlap({"a": f"{a[0]}:{a[1]}", "b": f"{b[0]}:{b[1]}", "window": "30"})
        sa, sb = members(a, 30), members(b, 30)
        smaller = min(len(sa), len(sb))
        error = abs(answer["intersection"]["uniques"] - len(sa & sb)) / smaller
        overlaps[f"{a[0]}:{a[1]} & {b[0]}:{b[1]} (exact {len(sa & sb)}, smaller {smaller})"] = \
            round(error * 100, 2)
    return {
        "population_error_pct": worst,
        "population_max_error_pct": max(worst.values()),
        "population_truth_within_95pct_bounds": f"{sum(within)}/{len(within)}",
        "overlap_error_pct_of_smaller": overlaps,
        "overlap_max_error_pct_of_smaller": max(overlaps.values()),
    }


def _fill(repository: InsightRepository) -> None:
    for sid in range(1, 101):  # 100 traits, 30 days each, 50 to 5,000 UUIDs a day
        size = 50 * sid
        for back in range(30):
            uuids = (f"{sid}-{back}-{i}" for i in range(size))
            repository.merge(SketchKey("trait", sid, TODAY - back), sketches.sketch_of(uuids),
                             size)


def _time_reports(repository: InsightRepository, runs: int) -> dict[str, float]:
    reports = Reports(repository, lambda kind: frozenset(range(1, 101)), lambda: NOW)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        reports.populations({"kind": "trait", "ids": ",".join(map(str, range(1, 101))),
                             "windows": "1,7,30"})
        timings.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(timings), 1),
            "max_ms": round(max(timings), 1)}


def report_latency(runs: int = 3) -> dict[str, Any]:
    """100 ids x windows 1,7,30 (30 days of sketches each, 50 to 5,000 UUIDs a day):
    ``compute`` with the reads in memory (what the function itself spends), ``moto`` through
    an in-process moto (its JSON handling of ~100 MB of sketches dominates)."""
    import boto3
    from moto import mock_aws

    from infra.bootstrap import create_data_stack

    memory = MemoryTable()
    memory.meta = type("Meta", (), {"client": _QueryClient(memory)})()  # type: ignore[attr-defined]
    memory.name = "memory"  # type: ignore[attr-defined]
    _fill(InsightRepository(memory))
    bytes_read = sum(len(item["s"]) for item in memory.items.values())
    result: dict[str, Any] = {"ids": 100, "windows": [1, 7, 30], "days_read_per_id": 30,
                              "sketch_bytes_read": bytes_read,
                              "compute": _time_reports(InsightRepository(memory), runs)}
    with mock_aws():
        created = create_data_stack(boto3.client("cloudformation"), boto3.client("dynamodb"))
        table = boto3.resource("dynamodb").Table(created["insight"])
        for item in memory.items.values():
            table.put_item(Item=item)
        result["moto_in_process"] = _time_reports(InsightRepository(table), runs)
    return result


def sketch_bytes() -> dict[str, int]:
    sizes = {}
    for uniques in (1, 100, 1_000, 8_000, 10_000, 100_000, 1_000_000):
        blob = sketches.merged(None, sketches.sketch_of(f"u{i}" for i in range(uniques)))
        item = {"k": "t#2001", "d": TODAY, "s": blob, "n": uniques, "v": 1,
                "expires_at": (TODAY + 101) * DAY}
        sizes[str(uniques)] = item_size(item)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--visitors", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=BATCH_SIZE,
                        help="stream records per batch (the event source's batch size)")
    parser.add_argument("--aggregator-only", action="store_true",
                        help="only the aggregator figures (compare batch sizes quickly)")
    args = parser.parse_args()
    started = time.perf_counter()
    aggregator, table, exact = aggregate(args.visitors, args.batch)
    if args.aggregator_only:
        print(json.dumps({"aggregator": aggregator,
                          "seconds": round(time.perf_counter() - started, 1)}, indent=1))
        return
    result = {
        "lg_k": sketches.LG_K,
        "aggregator": aggregator,
        "error": errors(table, exact),
        "reports": report_latency(),
        "sketch_item_bytes_by_uniques": sketch_bytes(),
    }
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
