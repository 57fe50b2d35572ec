"""Profile growth: item size and write cost as a visitor's events pile up. Prints JSON.

    .venv/bin/python -m bench.profile_growth [--events 10000] [--seed 7]

Two visitors, each through the real profile repository (``ProfileRepository.write`` over the
state ``load`` read, the catalog's retention applied) against an in-memory table that sizes
items by DynamoDB's rules and refuses what DynamoDB would (``devtools/memory_profiles.py``):

* heavy: 60 rule-based traits per page view, drawn from a catalog of 20,000 traits (70 % from
  500 popular ones with a skew, 30 % from the whole long tail), a page view every 2 minutes
  (10,000 events = about 2 weeks);
* typical: 3 traits per page view, a page view every 6 hours, 80 % from the visitor's own 40
  interests and 20 % from the popular 500 (a reader who comes back to the same sections);
* broad: 3 traits per page view every 6 hours, drawn like the heavy visitor (long tail
  included): the most distinct traits 3 per view can gather within the 120-day trait TTL.

The catalog has 20,000 segments over its traits; 10 % of the traits are inside ``frequency``
rules that read 3 stamps (``frequency([...] <= 7D) >= 2``), 1 % inside ``>= 30D`` rules (100).

Reported for each after 1, 100, 1,000 and 10,000 events (``--events`` caps it): the item's bytes by
DynamoDB's rules, traits and stamps kept, the largest write request so far, and write units
(the larger of the item before and after, per started KB): the last event's and the mean and
max over the events so far. Targets (issue 11): always within 128 KiB; a typical repeat event
at most 2 write units.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from typing import Any

for _name, _value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                      ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_EC2_METADATA_DISABLED", "true")):
    os.environ.setdefault(_name, _value)

from chalicelib.rules.catalog import compile_catalog  # noqa: E402
from chalicelib.rules.retention import CatalogRetention  # noqa: E402
from chalicelib.store.compaction import PROFILE_BUDGET_BYTES  # noqa: E402
from chalicelib.store.item_size import item_size  # noqa: E402
from chalicelib.store.profiles import ProfileChanges, ProfileRepository  # noqa: E402
from devtools.memory_profiles import MemoryProfileTable  # noqa: E402

TRAITS = 20_000
T0 = 1_800_000_000.0
CHECKPOINTS = (1, 100, 1_000, 10_000)


def _catalog(rng: random.Random) -> Any:
    traits = [{"sid": sid, "name": f"t{sid}", "traitType": "RULE_BASED_TRAIT",
               "dataSourceId": 1, "traitRule": f'c_k == "{sid}"', "ttl": 120}
              for sid in range(1, TRAITS + 1)]
    segments = []
    for sid in range(1, 20_001):
        a, b = rng.randint(1, TRAITS), rng.randint(1, TRAITS)
        if a % 10 == 0:
            rule = f"frequency([{a}T] <= 7D) >= 2"
        elif a % 100 == 1:
            rule = f"{a}T AND frequency([{a}T] >= 30D) >= 1"
        else:
            rule = f"{a}T AND {b}T"
        segments.append({"sid": 100_000 + sid, "name": f"s{sid}", "segmentRule": rule,
                         "status": "active"})
    return compile_catalog({"trait": traits, "segment": segments}, 1)


def _popular(rng: random.Random) -> int:
    return int(rng.paretovariate(1.2)) % 500 + 1


def _draw(rng: random.Random, n: int, interests: list[int] | None) -> set[int]:
    """``n`` distinct traits: from ``interests`` (80 %) and the popular ones, or (no interests)
    from the popular ones (70 %) and the whole long tail."""
    chosen: set[int] = set()
    while len(chosen) < n:
        if interests is not None:
            chosen.add(rng.choice(interests) if rng.random() < 0.8 else _popular(rng))
        elif rng.random() < 0.7:
            chosen.add(_popular(rng))
        else:
            chosen.add(rng.randint(1, TRAITS))
    return chosen


def run_visitor(kind: str, per_view: int, gap_s: float, events: int, catalog: Any,
                rng: random.Random, interests: list[int] | None = None) -> dict[str, Any]:
    table = MemoryProfileTable()
    repo = ProfileRepository(table)
    retention = CatalogRetention(catalog)
    uuid = f"{kind:0>38}"[-38:]
    checkpoints: list[dict[str, Any]] = []
    started = time.perf_counter()
    for i in range(1, events + 1):
        now = T0 + i * gap_s
        stored = repo.load(uuid, now)
        stamp = int(now)
        changes = ProfileChanges(now=now, event_id=f"{kind}{i}",
                                 add_stamps={sid: stamp
                                             for sid in _draw(rng, per_view, interests)},
                                 segments=frozenset(range(100_001, 100_011)))
        outcome = repo.write(uuid, changes, stored, retention)
        if outcome != "written":
            raise RuntimeError(f"{kind} event {i}: {outcome}")
        if i in CHECKPOINTS:
            item = table.items[uuid]
            profile = repo.load(uuid, now)
            units = table.write_units
            checkpoints.append({
                "events": i,
                "item_bytes": item_size(item),
                "traits_kept": len(profile.traits),
                "stamps_kept": sum(len(r.stamps) for r in profile.traits.values()),
                "largest_request_bytes": table.largest_request,
                "write_units_last_event": units[-1],
                "write_units_mean": round(sum(units) / len(units), 2),
                "write_units_max": max(units),
                "within_budget": item_size(item) <= PROFILE_BUDGET_BYTES,
            })
    elapsed = time.perf_counter() - started
    return {"traits_per_view": per_view, "minutes_between_views": gap_s / 60,
            "checkpoints": checkpoints, "largest_item_bytes": table.largest_item,
            "ms_per_event_in_process": round(elapsed * 1000 / events, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    catalog = _catalog(rng)
    heavy = run_visitor("1", 60, 120.0, args.events, catalog, rng)
    typical = run_visitor("2", 3, 6 * 3600.0, args.events, catalog, rng,
                          interests=rng.sample(range(1, TRAITS + 1), 40))
    broad = run_visitor("3", 3, 6 * 3600.0, args.events, catalog, rng)
    repeat_units = [c["write_units_last_event"] for c in typical["checkpoints"]
                    if c["events"] > 1]
    result = {
        "bench": "profile_growth",
        "budget_bytes": PROFILE_BUDGET_BYTES,
        "heavy": heavy,
        "typical": typical,
        "broad": broad,
        "targets": {
            "always_within_budget": all(c["within_budget"] for v in (heavy, typical, broad)
                                        for c in v["checkpoints"]),
            "typical_repeat_event_write_units_max": max(repeat_units, default=0),
            "typical_repeat_event_le_2_units": max(repeat_units, default=0) <= 2,
        },
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
