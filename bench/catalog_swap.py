"""What a catalog change costs the events of a container with a large catalog. Prints JSON.

    .venv/bin/python -m bench.catalog_swap [--traits 100000] [--segments 20000]

A generated catalog (bench/rules.py's generator) is served by ``CatalogCache``. Then its
version moves, and events keep coming, one after another as on a Lambda container: each
``cache.get()`` plus the rules work of one event. Two ways to take the change:

* ``inline``: the event that notices the change recompiles before it goes on (what every
  change did before; forced here with ``inline_compile_s`` = infinity);
* ``background``: the default for a catalog whose last compile took over 0.1 s: events keep
  the old catalog while a thread compiles the new one, sharing the CPU (and the GIL) with
  them until it takes over.

Reported for each: the slowest event, events over 250 ms (the default budget), event
p50/p99 while the change was being taken, and how long until the new version was served.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.rules import Vocabulary, make_event, make_raw  # noqa: E402
from chalicelib.runtime.catalog_cache import CatalogCache  # noqa: E402

BUDGET_MS = 250.0
NOW = 1_800_000_000.0


class _Source:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.current = 1

    def version(self) -> int:
        return self.current

    def load_all(self) -> dict[str, Any]:
        return self.raw


def _event_ms(cache: CatalogCache, signals: dict[str, list[str]]) -> tuple[float, int]:
    started = time.perf_counter()
    catalog = cache.get()
    realized = catalog.realize_rule_traits(signals).sids
    catalog.evaluate_segments({sid: [NOW] for sid in realized}, NOW)
    return (time.perf_counter() - started) * 1000, catalog.version


def _take_change(raw: dict[str, Any], events: list[dict[str, list[str]]],
                 inline: bool, limit_s: float) -> dict[str, Any]:
    source = _Source(raw)
    # refresh_seconds=0: every event checks the version (the worst case for the events).
    cache = CatalogCache(source, refresh_seconds=0.0,
                         inline_compile_s=float("inf") if inline else 0.1)
    cache.get()  # cold: compiled inline either way
    for signals in events[:50]:  # warm
        _event_ms(cache, signals)
    source.current = 2
    started = time.perf_counter()
    times: list[float] = []
    index = 0
    served_after_s = None
    while time.perf_counter() - started < limit_s:
        ms, version = _event_ms(cache, events[index % len(events)])
        times.append(ms)
        index += 1
        if version == 2:
            served_after_s = time.perf_counter() - started
            break
    ordered = sorted(times)
    return {
        "events_until_new_version": len(times),
        "new_version_served_after_s": None if served_after_s is None
        else round(served_after_s, 2),
        "slowest_event_ms": round(ordered[-1], 1),
        "events_over_budget": sum(t > BUDGET_MS for t in times),
        "event_ms_p50": round(statistics.median(ordered), 2),
        "event_ms_p99": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--traits", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    vocab = Vocabulary(random.Random(args.seed), scale=args.traits / 10_000)
    raw = make_raw(args.traits, args.segments, rng, vocab)
    events = [make_event(rng, vocab) for _ in range(500)]
    report = {
        "traits": args.traits,
        "segments": args.segments,
        "budget_ms": BUDGET_MS,
        "inline": _take_change(raw, events, inline=True, limit_s=60),
        "background": _take_change(raw, events, inline=False, limit_s=60),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
