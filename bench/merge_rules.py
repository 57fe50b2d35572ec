"""CPU of merge-rule evaluation per event (identity.md 3): the union of the realizations of the
device profile, the authenticated profile and 10 other device profiles (the largest
``deviceGraph`` case), each with ``LIVE`` live traits (a profile keeps one stamp for a trait no
``frequency`` rule reads: 9 in 10 here; the others up to 10), then the segments of four merge
rules evaluated over their views. No I/O (the extra read is one BatchGetItem,
counted in tests/routes/test_merge_rules.py).

    PYTHONPATH=. .venv/bin/python -m bench.merge_rules

Prints one JSON document with p50/p99 milliseconds against the goal.
"""

from __future__ import annotations

import json
import random
import statistics
import time

from chalicelib.rules.catalog import compile_catalog
from chalicelib.rules.merge_rules import union

GOAL_P99_MS = 25.0  # a tenth of the event's 250 ms provider budget
TRAITS = 1_000
PROFILES = 12  # the device, the authenticated profile, 10 other devices
LIVE = 200
SEGMENTS_PER_RULE = 500
RUNS = 50


def _catalog() -> object:
    rng = random.Random(18)
    traits = [{"sid": sid, "name": f"t{sid}", "traitType": "RULE_BASED_TRAIT",
               "dataSourceId": 1, "traitRule": f'c_k == "{sid}"'} for sid in range(1, TRAITS + 1)]
    rules = [{"mergeRuleId": r, "name": f"r{r}", "authenticatedProfile": auth,
              "deviceProfile": device, "crossDeviceDataSources": [77], "default": r == 1}
             for r, (auth, device) in enumerate(
                 [("current", "current"), ("last", "current"), ("none", "deviceGraph"),
                  ("last", "deviceGraph")], start=1)]
    segments = []
    for rule in rules:
        for _ in range(SEGMENTS_PER_RULE):
            a, b = rng.sample(range(1, TRAITS + 1), 2)
            segments.append({"sid": len(segments) + 10_000, "name": "s",
                             "segmentRule": f"{a}T AND {b}T", "mergeRuleId": rule["mergeRuleId"]})
    return compile_catalog({"trait": traits, "segment": segments, "mergerule": rules}, 1)


def main() -> None:
    rng = random.Random(7)
    catalog = _catalog()
    now = 1_800_000_000.0
    def stamps() -> list[float]:
        count = 1 if rng.random() < 0.9 else rng.randint(2, 10)
        return sorted(float(int(now) - rng.randrange(86_400 * 30)) for _ in range(count))

    profiles = [{sid: stamps() for sid in rng.sample(range(1, TRAITS + 1), LIVE)}
                for _ in range(PROFILES)]
    times: list[float] = []
    for _ in range(RUNS):
        start = time.perf_counter()
        views = {1: union(profiles[:2]), 2: union(profiles[:2]),
                 3: union([profiles[0], *profiles[2:]]), 4: union(profiles)}
        active = catalog.evaluate_by_rule(views, now)  # type: ignore[attr-defined]
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    print(json.dumps({
        "bench": "merge_rules", "profiles": PROFILES, "live_traits_per_profile": LIVE,
        "segments": 4 * SEGMENTS_PER_RULE, "active_segments": len(active),
        "p50_ms": round(statistics.median(times), 2), "p99_ms": round(p99, 2),
        "goal_p99_ms": GOAL_P99_MS, "meets_goal": p99 <= GOAL_P99_MS,
    }))


if __name__ == "__main__":
    main()
