"""Rules engine at AAM scale: compile time, per-event evaluation time, catalog memory. Prints JSON.

    .venv/bin/python -m bench.rules [--quick] [--events 2000] [--seed 7] [--fixed-vocabulary]

Synthetic accounts of 100, 1,000, 10,000 and 100,000 rule-based traits (``--quick``: up to
10,000, with 5,000 segments and 500 events), each with 20,000 segments over its traits.
Everything is generated from a seed:

* 300 signal keys of seven kinds: device/country-like (10 %, 2..250 values, three of them in
  every event), categories (40 %), products/articles (20 %), numbers (15 %), free text (7 %),
  URL paths (5 %) and codes (3 %). Events draw values with a Zipf-like skew; rules draw their
  literals uniformly (each rule is about its own thing). A bigger account writes rules about more
  distinct things, so the category, product, URL and code keys have values in proportion to the
  number of traits (``--fixed-vocabulary``: a stress variant where every size keeps the
  10,000-trait vocabulary, so bigger accounts pile more rules onto the same values).
* Trait rules of 1 (40 %), 2 (30 %), 3 (20 %) or 4 (10 %) predicates: one *primary* predicate
  (``==`` mostly, some ``startswith``/``matcheswords``/``contains``/``endswith``/
  ``matchesregex``) and *qualifiers* (a device or country ``==``/``!=``, a relational test, a
  ``contains``); shaped as AND (70 %), OR of primaries (15 %), ``p AND (q OR r)`` (10 %) or
  ``p AND q AND NOT r`` (5 %). One rule in 10,000 is true on an empty event
  (``NOT d_x == "v"``), so it is evaluated for, and realized by, nearly every request.
* Segments: one trait, ``a AND b``, ``a OR b OR c``, ``a AND NOT b``, ``(a OR b) AND c``,
  ``frequency([a] <= 7D) >= 2`` and ``a AND frequency([a, b] >= 30D) >= 1``, over traits drawn
  with a skew (popular traits are in many segments).
* Visitors: 200, each with a history of 5..40 earlier events over the last 60 days run through
  the catalog itself, so a profile holds the traits such events really realize (TTLs applied).

Per event (``--events`` of them, spread over the visitors): the rule-based traits the event
realizes (``realize_rule_traits``), the merge into the visitor's live realizations, and the
segments (``evaluate_segments``) -- what the pipeline does between the profile read and the
write. Reported per size: median and p99 of that total and of its two parts; the traits
realized, live traits and true segments per event; the compile time (without tracemalloc); the
compiled catalog's memory (tracemalloc: retained after ``compile_catalog`` returns, and peak);
the time of one full garbage collection with the catalog loaded, and after ``gc.freeze()``.
Across sizes: ``t(largest) / t(1,000)`` on medians, for the total and for the traits alone.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.rules.catalog import CompiledCatalog, compile_catalog  # noqa: E402

DAY = 86400.0
NOW = 1_800_000_000.0
KEY_COUNT = 300
SEGMENTS = 20_000
VISITORS = 200
TARGET_MEDIAN_MS = 1.0
TARGET_RATIO = 3.0
TARGET_MEMORY_MB = 500.0
SYLLABLES = ["ka", "lo", "mi", "re", "tu", "sa", "ne", "po", "vi", "da", "go", "shi", "ben",
             "tor", "lin"]
WORDS = [a + b + c for a in SYLLABLES for b in SYLLABLES for c in SYLLABLES]  # 3,375 words
# kind: (share of keys, smallest and largest number of values)
KINDS = {
    "low": (10, 2, 250),  # device, country, browser ... (several in every event)
    "cat": (40, 20, 2000),  # section, category, brand ...
    "high": (20, 10_000, 200_000),  # product, article, search term ...
    "num": (15, 1000, 1000),
    "text": (7, 0, 0),
    "url": (5, 5000, 5000),
    "code": (3, 10_000, 10_000),
}


SCALED = ("cat", "high", "url", "code")


def _zipf_weights(count: int, skew: float) -> list[float]:
    return [1.0 / (rank ** skew) for rank in range(1, count + 1)]


class Vocabulary:
    """The account's signal keys and how their values are drawn.

    Events draw values with a Zipf skew (popular pages and products are seen often). Rules draw
    their literals uniformly: each rule is about its own thing. A bigger account writes rules
    about more distinct things, not more rules about the same ones, so the number of values of
    the category-like keys grows with the account (``scale``, 1.0 at 10,000 traits); device- or
    country-like keys and numbers keep theirs.
    """

    def __init__(self, rng: random.Random, scale: float = 1.0) -> None:
        self.keys: list[tuple[str, str, int]] = []  # (key, kind, number of values)
        kinds = [kind for kind, (share, _, _) in KINDS.items() for _ in range(share)]
        for index in range(KEY_COUNT):
            kind = rng.choice(kinds)
            _, low, high = KINDS[kind]
            size = int(round(10 ** rng.uniform(math.log10(low), math.log10(high)))) if low else 0
            if kind in SCALED:
                size = max(2, int(size * scale))
            prefix = "d_" if kind == "low" else ("h_" if index % 33 == 0 else "c_")
            self.keys.append((f"{prefix}{kind}{index:03d}", kind, size))
        self.by_kind = {kind: [k for k in self.keys if k[1] == kind] for kind in KINDS}
        self.always = self.by_kind["low"][:3]  # in every event, like d_country or d_device
        self._weights = {kind: list(itertools.accumulate(_zipf_weights(len(keys), 0.8)))
                         for kind, keys in self.by_kind.items() if keys}
        self._all = list(itertools.accumulate(_zipf_weights(KEY_COUNT, 0.8)))

    def key(self, rng: random.Random, kinds: tuple[str, ...] | None = None) -> tuple[str, str, int]:
        if kinds is None:
            return rng.choices(self.keys, cum_weights=self._all)[0]
        kind = rng.choice(kinds)
        return rng.choices(self.by_kind[kind], cum_weights=self._weights[kind])[0]

    @staticmethod
    def rank(rng: random.Random, size: int, popular: bool) -> int:
        """Uniform, or Zipf-like (P(rank < k) = log k / log size, the continuous s = 1 law)."""
        if not popular:
            return rng.randrange(size)
        return min(size - 1, int(size ** rng.random()) - 1)

    def value(self, rng: random.Random, key: tuple[str, str, int], popular: bool = True) -> str:
        name, kind, size = key
        if kind == "text":
            count = rng.randint(2, 6)
            return " ".join(WORDS[self.rank(rng, len(WORDS), popular)] for _ in range(count))
        rank = self.rank(rng, size, popular)
        if kind == "low":
            return f"l{rank}"
        if kind == "cat":
            return f"{name[-3:]}v{rank:05d}"
        if kind == "high":
            return f"p{rank:07d}"
        if kind == "num":
            return str(rank) if rank % 3 else f"{rank}.{rank % 100:02d}"
        if kind == "url":
            return f"/sec{rank % 12}/sub{rank % 97}/item-{rank}.html"
        return f"AB-{1000 + rank % 9000}" if rank % 2 else f"9{rank % 5}{rank % 1000:03d}"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _primary(rng: random.Random, vocab: Vocabulary) -> str:
    """What a trait is about: mostly one value of a category or product key."""
    key = vocab.key(rng, rng.choices(("cat", "high", "text", "url", "code"), [50, 30, 8, 7, 5]))
    name, kind, _ = key
    value = vocab.value(rng, key, popular=False)
    roll = rng.random()
    if kind in ("cat", "high"):
        if roll < 0.9:
            return f"{name} == {_quote(value)}"
        if roll < 0.95:
            return f"{name} startswith {_quote(value[:-1])}"  # ten values
        return f"{name} matcheswords {_quote(value)}"
    if kind == "text":
        words = value.split()
        if roll < 0.5:
            return f"{name} contains {_quote(words[0])}"
        return f"{name} matcheswords {_quote(' '.join(words[:2]))}"
    if kind == "url":
        if roll < 0.5:
            return f"{name} startswith {_quote(value.rsplit('/', 1)[0] + '/')}"
        if roll < 0.7:
            return f"{name} endswith {_quote(value[value.index('/item'):])}"
        if roll < 0.9:
            return f"{name} contains {_quote(value.split('/')[2] + '/')}"
        pattern = "^/sec" + value[4:value.index("/", 1)] + r"/sub\d+/item-" + value[-8] + r"\d*"
        return f"{name} matchesregex {_quote(pattern)}"
    if roll < 0.6:
        pattern = r"^AB-" + value[3:5] + r"\d{2}$" if value.startswith("AB") else (
            "^9" + value[1:3] + "[0-9]{2}$")
        return f"{name} matchesregex {_quote(pattern)}"
    return f"{name} == {_quote(value)}"


def _qualifier(rng: random.Random, vocab: Vocabulary) -> str:
    """A narrowing condition: a device or country, an amount, another category."""
    roll = rng.random()
    if roll < 0.40:
        key = vocab.key(rng, ("low",))
        return f"{key[0]} == {_quote(vocab.value(rng, key, popular=False))}"
    if roll < 0.45:
        key = vocab.key(rng, ("low",))
        return f"{key[0]} != {_quote(vocab.value(rng, key, popular=False))}"
    if roll < 0.75:
        key = vocab.key(rng, ("num",))
        op = rng.choice(["<", "<=", ">", ">=", "=>"])
        return f"{key[0]} {op} {rng.randrange(key[2])}"
    if roll < 0.80:
        key = vocab.key(rng, ("text",))
        return f"{key[0]} contains {_quote(vocab.value(rng, key, popular=False).split()[0][:4])}"
    return _primary(rng, vocab)


def trait_rule(rng: random.Random, vocab: Vocabulary) -> str:
    if rng.random() < 0.0001:  # a few catch-all rules, realized by nearly every event
        key = vocab.key(rng, ("low",))
        return f"NOT {key[0]} == {_quote(vocab.value(rng, key, popular=False))}"
    count = rng.choices([1, 2, 3, 4], [40, 30, 20, 10])[0]
    primary = _primary(rng, vocab)
    qualifiers = [_qualifier(rng, vocab) for _ in range(count - 1)]
    if count == 1:
        return primary
    shape = rng.random()
    if shape < 0.70:
        parts = [primary, *qualifiers]
        rng.shuffle(parts)
        return " AND ".join(parts)
    if shape < 0.85:
        return " OR ".join([primary] + [_primary(rng, vocab) for _ in range(count - 1)])
    if shape < 0.95:
        return f"{primary} AND ({' OR '.join(qualifiers)})" if count > 2 else (
            f"{qualifiers[0]} AND {primary}")
    return f"{' AND '.join([primary, *qualifiers[:-1]])} AND NOT {qualifiers[-1]}"


def segment_rule(rng: random.Random, pick: Callable[[], int]) -> str:
    a, b, c = pick(), pick(), pick()
    shape = rng.choices(range(7), [35, 20, 15, 10, 10, 5, 5])[0]
    if shape == 0:
        return f"{a}T"
    if shape == 1:
        return f"{a}T AND {b}T"
    if shape == 2:
        return f"{a}T OR {b}T OR {c}T"
    if shape == 3:
        return f"{a}T AND NOT {b}T" if a != b else f"{a}T"
    if shape == 4:
        return f"({a}T OR {b}T) AND {c}T"
    if shape == 5:
        return f"frequency([{a}T] <= 7D) >= 2"
    return f"{a}T AND frequency([{a}T, {b}T] >= 30D) >= 1"


def make_raw(traits: int, segments: int, rng: random.Random, vocab: Vocabulary) -> dict[str, Any]:
    ttl_choices = [120] * 6 + [30, 7, 1, 0]
    trait_objs = [
        {"sid": sid, "name": f"t{sid}", "traitType": "RULE_BASED_TRAIT",
         "dataSourceId": 1 + sid % 3, "ttl": rng.choice(ttl_choices),
         "traitRule": trait_rule(rng, vocab)}
        for sid in range(1, traits + 1)
    ]
    cum_weights = list(itertools.accumulate(_zipf_weights(traits, 0.9)))
    sids = list(range(1, traits + 1))
    rng.shuffle(sids)  # popularity is not sid order

    def pick() -> int:
        return rng.choices(sids, cum_weights=cum_weights)[0]

    segment_objs = [
        {"sid": 1_000_000 + i, "name": f"s{i}", "status": "active",
         "segmentRule": segment_rule(rng, pick)}
        for i in range(segments)
    ]
    return {"trait": trait_objs, "segment": segment_objs}


def make_event(rng: random.Random, vocab: Vocabulary) -> dict[str, list[str]]:
    signals = {key[0]: [vocab.value(rng, key)] for key in vocab.always}
    while len(signals) < 10:
        key = vocab.key(rng)
        count = 2 if rng.random() < 0.2 else 1
        signals[key[0]] = [vocab.value(rng, key) for _ in range(count)]
    return signals


def make_profiles(
    catalog: CompiledCatalog, rng: random.Random, vocab: Vocabulary
) -> list[dict[int, list[float]]]:
    profiles = []
    for _ in range(VISITORS):
        stamps: dict[int, list[float]] = {}
        for _ in range(rng.randint(5, 40)):
            when = NOW - rng.uniform(0, 60) * DAY
            for sid in catalog.realize_rule_traits(make_event(rng, vocab)).sids:
                stamps.setdefault(sid, []).append(when)
        live = {}
        for sid, times in stamps.items():
            times.sort()
            if catalog.traits[sid].is_live(times[-1], NOW):
                live[sid] = times[-100:]
        profiles.append(live)
    return profiles


def _ms(seconds: list[float], q: float) -> float:
    ordered = sorted(seconds)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 4)


def _timed_ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return round((time.perf_counter() - started) * 1000, 2)


def measure(
    traits: int, segments: int, events: int, seed: int, fixed_vocabulary: bool = False
) -> dict[str, Any]:
    phases: dict[str, float] = {}
    mark = time.perf_counter()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = round(now - mark, 2)
        mark = now

    rng = random.Random(seed * 1_000_003 + traits)
    vocab = Vocabulary(random.Random(seed), scale=1.0 if fixed_vocabulary else traits / 10_000)
    raw = make_raw(traits, segments, rng, vocab)
    phase("generate_s")
    catalog = compile_catalog(raw, 1)
    phase("compile_s")
    compile_s = phases["compile_s"]
    assert not catalog.problems, catalog.problems[:3]
    del catalog
    tracemalloc.start()
    catalog = compile_catalog(raw, 1)
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    phase("memory_s")
    profiles = make_profiles(catalog, rng, vocab)
    batch = [(make_event(rng, vocab), profiles[i % VISITORS]) for i in range(events)]
    phase("profiles_s")
    for signals, live in batch[:50]:  # warm-up
        catalog.evaluate_segments(live, NOW)
        catalog.realize_rule_traits(signals)
    totals, trait_times, segment_times = [], [], []
    realized_counts, live_counts, segment_counts = [], [], []
    clock = time.perf_counter
    for signals, live in batch:
        t0 = clock()
        realized = catalog.realize_rule_traits(signals).sids
        t1 = clock()
        merged = dict(live)
        for sid in realized:
            merged[sid] = [*live.get(sid, ()), NOW]
        active = catalog.evaluate_segments(merged, NOW)
        t2 = clock()
        totals.append(t2 - t0)
        trait_times.append(t1 - t0)
        segment_times.append(t2 - t1)
        realized_counts.append(len(realized))
        live_counts.append(len(merged))
        segment_counts.append(len(active))
    phase("events_s")
    del raw, batch
    gc_full_ms = _timed_ms(gc.collect)
    gc.freeze()  # what the catalog cache should do after installing a catalog
    gc_frozen_ms = _timed_ms(gc.collect)
    gc.unfreeze()
    phase("gc_s")
    print(f"{traits} traits: {phases}", file=sys.stderr)
    index = catalog.trait_index
    return {
        "traits": traits,
        "segments": segments,
        "atoms": len(index.atoms),
        "always_evaluated_traits": len(index.always),
        "compile_s": round(compile_s, 2),
        "memory_mb": round(retained / 2**20, 1),
        "memory_peak_mb": round(peak / 2**20, 1),
        "gc_full_collection_ms": {"catalog_tracked": gc_full_ms, "after_gc_freeze": gc_frozen_ms},
        "events": events,
        "event_ms": {"median": _ms(totals, 0.5), "p99": _ms(totals, 0.99),
                     "max": _ms(totals, 1.0)},
        "traits_ms": {"median": _ms(trait_times, 0.5), "p99": _ms(trait_times, 0.99)},
        "segments_ms": {"median": _ms(segment_times, 0.5), "p99": _ms(segment_times, 0.99)},
        "per_event_median": {
            "traits_realized": statistics.median(realized_counts),
            "live_traits": statistics.median(live_counts),
            "segments_true": statistics.median(segment_counts),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100..10,000 traits, 5,000 segments")
    parser.add_argument("--events", type=int, default=None, help="timed events per size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fixed-vocabulary", action="store_true",
                        help="a stress variant: every size uses the 10,000-trait vocabulary, so "
                        "bigger accounts write more rules about the same values")
    args = parser.parse_args(argv)
    sizes = [100, 1000, 10_000] if args.quick else [100, 1000, 10_000, 100_000]
    segments = 5000 if args.quick else SEGMENTS
    events = args.events or (500 if args.quick else 2000)
    started = time.perf_counter()
    results = [measure(size, segments, events, args.seed, args.fixed_vocabulary)
               for size in sizes]
    by_size = {r["traits"]: r for r in results}
    largest = by_size[sizes[-1]]
    ratio = round(largest["event_ms"]["median"] / by_size[1000]["event_ms"]["median"], 2)
    traits_ratio = round(largest["traits_ms"]["median"] / by_size[1000]["traits_ms"]["median"], 2)
    report = {
        "benchmark": "rules",
        "command": "python -m bench.rules" + (" --quick" if args.quick else "")
        + (f" --events {args.events}" if args.events else "")
        + (f" --seed {args.seed}" if args.seed != 7 else "")
        + (" --fixed-vocabulary" if args.fixed_vocabulary else ""),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "sizes": results,
        f"ratio_median_{sizes[-1]}_over_1000": ratio,
        f"ratio_traits_only_median_{sizes[-1]}_over_1000": traits_ratio,
        "targets": {
            "median_ms_at_largest": TARGET_MEDIAN_MS,
            "ratio": TARGET_RATIO,
            "memory_mb": TARGET_MEMORY_MB,
        },
        "meets_targets": {
            "median": largest["event_ms"]["median"] <= TARGET_MEDIAN_MS,
            "ratio": ratio <= TARGET_RATIO,
            "memory": largest["memory_mb"] <= TARGET_MEMORY_MB,
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
