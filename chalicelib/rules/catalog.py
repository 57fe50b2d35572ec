"""The compiled catalog: what the event path evaluates, built once per catalog version.

Pure: takes the raw objects (admin-API field names) and returns immutable, ready-to-use
definitions. An object that does not compile is left out and named in ``problems`` (the
admin API refuses such objects at save time; this guards against hand-edited tables).
"""

from __future__ import annotations

import gc
from typing import Any, Mapping, NamedTuple, Sequence

from chalicelib.core.records import slots_repr
from chalicelib.destinations.cookie_defs import CookieDestination, compile_cookie_destination
from chalicelib.providers.definition import ProviderDef, compile_provider
from chalicelib.rules.merge_rules import EMPTY_SETUP, MergeRule, MergeSetup, merge_setup
from chalicelib.rules.safe_regex import RegexBudget
from chalicelib.rules.scanner import RuleError
from chalicelib.rules.segment_index import SegmentIndex
from chalicelib.rules.segment_rules import (
    SNode,
    evaluate_segment,
    parse_segment_rule,
    referenced_traits,
)
from chalicelib.rules.trait_index import TraitIndex
from chalicelib.rules.trait_rules import Node, parse_trait_rule, rule_keys

DAY = 86400
DEFAULT_TRAIT_TTL_DAYS = 120
MAX_TRAIT_TTL_DAYS = 3650


# Not dataclasses: import cost on a cold start (chalicelib/core/records.py). TraitDef and
# SegmentDef keep __slots__ and a plain __init__ (a 100,000-trait catalog: bench/rules.py).
class TraitDef:
    __slots__ = ("sid", "name", "trait_type", "data_source_id", "ttl_days", "rule", "keys",
                 "provider_segment_id")

    def __init__(
        self,
        sid: int,
        name: str,
        trait_type: str,  # RULE_BASED_TRAIT | ON_BOARDED_TRAIT
        data_source_id: int,
        ttl_days: int,
        rule: Node | None = None,
        keys: frozenset[str] = frozenset(),
        provider_segment_id: str | None = None,
    ) -> None:
        self.sid = sid
        self.name = name
        self.trait_type = trait_type
        self.data_source_id = data_source_id
        self.ttl_days = ttl_days
        self.rule = rule
        self.keys = keys
        self.provider_segment_id = provider_segment_id

    __repr__ = slots_repr

    @property
    def rule_based(self) -> bool:
        return self.trait_type == "RULE_BASED_TRAIT"

    def expiry(self, latest: float) -> float | None:
        """When a trait realized last at ``latest`` stops being live (rules.md 1.5)."""
        if self.ttl_days == 0:
            return None
        if self.ttl_days == 1:
            # 00:00 UTC on the second calendar day after the UTC date of ``latest``: 48 - h
            # hours from the hour h (AAM's 24 + (24 - hour)). Unix time has no leap seconds,
            # so UTC days are whole multiples of 86,400 s.
            return (latest // DAY + 2) * DAY
        return latest + self.ttl_days * DAY

    def is_live(self, latest: float, now: float) -> bool:
        """``now`` is before ``expiry(latest)``; inlined, as it runs for every stored trait of
        every returning visitor's event (issue 17)."""
        ttl = self.ttl_days
        if ttl == 0:
            return True
        if ttl == 1:
            return now < (latest // DAY + 2) * DAY
        return now < latest + ttl * DAY


class SegmentDef:
    __slots__ = ("sid", "name", "rule", "status", "merge_rule_id")

    def __init__(self, sid: int, name: str, rule: SNode, status: str,
                 merge_rule_id: int | None = None) -> None:
        self.sid = sid
        self.name = name
        self.rule = rule
        self.status = status
        self.merge_rule_id = merge_rule_id  # None: the default merge rule (identity.md 3)

    __repr__ = slots_repr


class CompiledCatalog:
    __slots__ = ("version", "traits", "rule_traits", "onboarded_by_segment", "segments",
                 "providers", "cookie_destinations", "raw", "problems", "trait_index",
                 "segment_index", "paused_segment_ids", "merge", "rule_indexes")

    def __init__(
        self,
        version: int,
        traits: Mapping[int, TraitDef],
        rule_traits: tuple[TraitDef, ...],
        onboarded_by_segment: Mapping[tuple[int, str], int],  # (dataSourceId, providerSegmentId)
        segments: tuple[SegmentDef, ...],
        providers: tuple[ProviderDef, ...],
        cookie_destinations: tuple[CookieDestination, ...],
        raw: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        problems: tuple[str, ...] = (),
        # Built from the fields above when not given (compile_catalog builds them).
        trait_index: TraitIndex | None = None,
        segment_index: SegmentIndex | None = None,
        merge: MergeSetup = EMPTY_SETUP,
    ) -> None:
        self.version = version
        self.traits = traits
        self.rule_traits = rule_traits
        self.onboarded_by_segment = onboarded_by_segment
        self.segments = segments
        self.providers = providers
        self.cookie_destinations = cookie_destinations
        self.raw: Mapping[str, Sequence[Mapping[str, Any]]] = {} if raw is None else raw
        self.problems = problems
        self.trait_index = trait_index if trait_index is not None else TraitIndex(
            (t.sid, t.data_source_id, t.rule) for t in rule_traits if t.rule is not None
        )
        self.merge = merge
        # Segments evaluated over the default merge rule's profiles share ``segment_index``;
        # each other merge rule in use has its own (identity.md 3).
        grouped: dict[int, list[SegmentDef]] = {}
        for segment in segments:
            if segment.status == "active":
                rule = merge.rule_for(segment.merge_rule_id)
                key = -1 if rule is merge.default else rule.rule_id
                grouped.setdefault(key, []).append(segment)
        self.segment_index = segment_index if segment_index is not None else SegmentIndex.build(
            (s.sid, s.rule) for s in grouped.pop(-1, [])
        )
        self.rule_indexes: dict[int, SegmentIndex] = {
            rule_id: SegmentIndex.build((s.sid, s.rule) for s in group)
            for rule_id, group in grouped.items()
        }
        self.paused_segment_ids = frozenset(s.sid for s in segments if s.status == "paused")

    def provider_name(self, data_source_id: int) -> str | None:
        return next((p.name for p in self.providers if p.data_source_id == data_source_id), None)

    def realize_rule_traits(
        self,
        signals: Mapping[str, Sequence[str]],
        data_source: int | None | bool = None,
        regex_budget_ms: float = 25.0,
    ) -> "RuleRealization":
        """The rule-based traits this request's signals realize (rules.md 1.3, 1.4).

        ``data_source``: None = all traits; an int = only that data source's traits (d_tdpid);
        False = none (an unknown d_tdpid). ``failed`` (error 10) is set when the regex budget
        ran out (the trait being evaluated and every later ``matchesregex`` trait are then not
        realized) or a rule failed at run time.
        """
        if data_source is False:
            return RuleRealization(frozenset(), False)
        source = None if data_source is None else int(data_source)
        realized, failed = self.trait_index.realize(signals, source, RegexBudget(regex_budget_ms))
        return RuleRealization(frozenset(realized), failed)

    def evaluate_segments(self, live: Mapping[int, Sequence[float]], now: float) -> set[int]:
        """Active segments true for these live realizations (sid -> stamps in seconds): the
        segments of the default merge rule (every segment when there is no merge rule)."""
        return self.segment_index.evaluate(live, now)

    def merge_rules_in_use(self) -> list[MergeRule]:
        """The default merge rule, then every other rule some active segment names."""
        return [self.merge.default, *(self.merge.rules[r] for r in sorted(self.rule_indexes))]

    def evaluate_by_rule(self, views: Mapping[int, Mapping[int, Sequence[float]]],
                         now: float) -> set[int]:
        """Active segments, each evaluated over its merge rule's view (rule id -> live
        realizations; the default rule's view under its own id)."""
        active = self.segment_index.evaluate(views.get(self.merge.default.rule_id, {}), now)
        for rule_id, index in self.rule_indexes.items():
            active |= index.evaluate(views.get(rule_id, {}), now)
        return active


class RuleRealization(NamedTuple):
    sids: frozenset[int]
    failed: bool  # some rule failed at run time (or ran out of regex budget): error 10


def in_data_source(trait: TraitDef, data_source: int | None | bool) -> bool:
    return data_source is None or (data_source is not False and trait.data_source_id == data_source)


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


_KEY_SETS: dict[frozenset[str], frozenset[str]] = {}
_MAX_KEY_SETS = 100_000


def _shared_keys(keys: frozenset[str]) -> frozenset[str]:
    """One frozenset per distinct key set: most traits read the same one or two keys, and a
    frozenset costs about 200 bytes (bench/rules.py measures the catalog's memory)."""
    shared = _KEY_SETS.get(keys)
    if shared is None:
        if len(_KEY_SETS) >= _MAX_KEY_SETS:
            _KEY_SETS.clear()
        shared = _KEY_SETS[keys] = keys
    return shared


def _compile_trait(obj: Mapping[str, Any]) -> TraitDef:
    trait_type = obj["traitType"]
    ttl = obj.get("ttl")
    ttl_days = DEFAULT_TRAIT_TTL_DAYS if ttl is None else int(ttl)
    if not 0 <= ttl_days <= MAX_TRAIT_TTL_DAYS:
        raise ValueError(f"ttl must be 0 to {MAX_TRAIT_TTL_DAYS} days, found {ttl_days}")
    common = dict(
        sid=int(obj["sid"]),
        name=str(obj.get("name", "")),
        trait_type=trait_type,
        data_source_id=int(obj["dataSourceId"]),
        ttl_days=ttl_days,
    )
    if trait_type == "RULE_BASED_TRAIT":
        rule = parse_trait_rule(str(obj["traitRule"]))
        return TraitDef(**common, rule=rule, keys=_shared_keys(rule_keys(rule)))  # type: ignore[arg-type]
    if trait_type == "ON_BOARDED_TRAIT":
        segment = obj.get("providerSegmentId")
        return TraitDef(
            **common,  # type: ignore[arg-type]
            provider_segment_id=None if segment is None else str(segment),
        )
    raise ValueError(f"unsupported traitType {trait_type!r}")


def _segment_warnings(segment: SegmentDef, traits: Mapping[int, TraitDef]) -> list[str]:
    """Kept but named: rules the admin API would refuse (a hand-edited catalog)."""
    found = []
    missing = sorted(sid for sid in referenced_traits(segment.rule) if sid not in traits)
    if missing:
        found.append(f"segment {segment.sid}: unknown trait {missing[0]}T (never live)")
    if evaluate_segment(segment.rule, {}, 0.0):
        found.append(f"segment {segment.sid}: true with no realizations (evaluated for everyone)")
    return found


def compile_catalog(
    raw: Mapping[str, Sequence[Mapping[str, Any]]], version: int, pause_gc: bool = True
) -> CompiledCatalog:
    """Compiles a catalog version. The cyclic garbage collector is paused meanwhile: building
    millions of small, acyclic objects would otherwise trigger it over and over (about 40 % of
    the compile time at 100,000 traits). It is resumed only if it was running before.
    ``pause_gc=False``: leave the collector alone (a compile beside live events, which need it;
    the catalog cache then holds off only full collections)."""
    if not pause_gc:
        return _compile_catalog(raw, version)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _compile_catalog(raw, version)
    finally:
        if was_enabled:
            gc.enable()


def _compile_catalog(
    raw: Mapping[str, Sequence[Mapping[str, Any]]], version: int
) -> CompiledCatalog:
    problems: list[str] = []
    traits: dict[int, TraitDef] = {}
    for obj in raw.get("trait", ()):
        try:
            trait = _compile_trait(obj)
        except (KeyError, ValueError, TypeError, RuleError) as exc:
            problems.append(f"trait {obj.get('sid')}: {exc}")
            continue
        traits[trait.sid] = trait
    segments: list[SegmentDef] = []
    for obj in raw.get("segment", ()):
        try:
            segment = SegmentDef(
                sid=int(obj["sid"]),
                name=str(obj.get("name", "")),
                rule=parse_segment_rule(str(obj["segmentRule"])),
                status=str(obj.get("status", "active")),
                merge_rule_id=_int_or_none(obj.get("mergeRuleId")),
            )
        except (KeyError, ValueError, TypeError, RuleError) as exc:
            problems.append(f"segment {obj.get('sid')}: {exc}")
            continue
        segments.append(segment)
        problems.extend(_segment_warnings(segment, traits))
    providers: list[ProviderDef] = []
    for obj in raw.get("provider", ()):
        try:
            providers.append(compile_provider(obj))
        except (KeyError, ValueError, TypeError) as exc:
            problems.append(f"provider {obj.get('pid')}: {exc}")
    destinations: list[CookieDestination] = []
    mappings = raw.get("mapping", ())
    for obj in raw.get("destination", ()):
        if obj.get("destinationType") != "ADS":
            continue
        try:
            destinations.append(compile_cookie_destination(obj, mappings))
        except (KeyError, ValueError, TypeError) as exc:
            problems.append(f"destination {obj.get('destinationId')}: {exc}")
    merge, merge_problems = merge_setup(raw.get("mergerule", ()))
    problems.extend(merge_problems)
    onboarded = {
        (t.data_source_id, t.provider_segment_id): t.sid
        for t in traits.values()
        if not t.rule_based and t.provider_segment_id is not None
    }
    return CompiledCatalog(
        version=version,
        traits=traits,
        rule_traits=tuple(sorted((t for t in traits.values() if t.rule_based),
                                 key=lambda t: t.sid)),
        onboarded_by_segment=onboarded,  # type: ignore[arg-type]
        segments=tuple(sorted(segments, key=lambda s: s.sid)),
        providers=tuple(sorted(providers, key=lambda p: p.pid)),
        cookie_destinations=tuple(destinations),
        raw=raw,
        problems=tuple(problems),
        merge=merge,
    )


EMPTY_CATALOG = compile_catalog({}, version=0)
