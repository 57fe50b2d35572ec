"""Profile merge rules (identity.md 3), compiled, and the union of realizations a segment is
evaluated over. Pure.

A merge rule picks the profiles its segments see: ``authenticatedProfile`` ``current`` (the
authenticated profile of an ID declared with state 1 on this event) | ``last`` (also the last
one this device authenticated with, whatever this event's state) | ``none``, and
``deviceProfile`` ``current`` | ``deviceGraph`` (also the device profiles of the other UUIDs
linked to that ID, at most 10 by recency) | ``none``; only IDs of its
``crossDeviceDataSources`` count. Without a merge rule in the catalog every segment sees the
device profile alone (the built-in default): no extra read.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

MAX_MERGE_RULES = 10
AUTH_CHOICES = ("current", "last", "none")
DEVICE_CHOICES = ("current", "deviceGraph", "none")
BUILT_IN_DEFAULT_ID = 0


class MergeRule(NamedTuple):
    rule_id: int
    authenticated: str  # current | last | none
    device: str  # current | deviceGraph | none
    sources: tuple[int, ...]  # crossDeviceDataSources, in the order given
    name: str = ""

    @property
    def device_only(self) -> bool:
        return self.authenticated == "none" and self.device == "current"

    @property
    def needs_other_profiles(self) -> bool:
        """Whether the rule can ever need a profile other than the device's own."""
        return not self.device_only


DEVICE_ONLY = MergeRule(BUILT_IN_DEFAULT_ID, "none", "current", (), "device profile only")


def compile_merge_rule(obj: Mapping[str, Any]) -> MergeRule:
    authenticated = str(obj.get("authenticatedProfile", "current"))
    device = str(obj.get("deviceProfile", "current"))
    if authenticated not in AUTH_CHOICES or device not in DEVICE_CHOICES:
        raise ValueError(f"unknown choice {authenticated!r}/{device!r}")
    sources = tuple(int(s) for s in obj.get("crossDeviceDataSources") or ())
    return MergeRule(int(obj["mergeRuleId"]), authenticated, device, sources,
                     str(obj.get("name", "")))


class MergeSetup(NamedTuple):
    """The catalog's merge rules: the default one, each rule, and the data sources whose
    authenticated IDs get an authenticated profile (those of any rule)."""

    default: MergeRule
    rules: Mapping[int, MergeRule]
    auth_sources: frozenset[int]

    @property
    def any_merge(self) -> bool:
        return any(rule.needs_other_profiles for rule in self.rules.values()) or \
            self.default.needs_other_profiles

    def rule_for(self, merge_rule_id: int | None) -> MergeRule:
        if merge_rule_id is None:
            return self.default
        return self.rules.get(merge_rule_id, self.default)


def merge_setup(objs: Iterable[Mapping[str, Any]]) -> tuple[MergeSetup, list[str]]:
    rules: dict[int, MergeRule] = {}
    default: MergeRule | None = None
    problems: list[str] = []
    for obj in objs:
        try:
            rule = compile_merge_rule(obj)
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"mergerule {obj.get('mergeRuleId')}: {exc}")
            continue
        rules[rule.rule_id] = rule
        if obj.get("default") and (default is None or rule.rule_id < default.rule_id):
            default = rule
    sources = frozenset(s for r in rules.values() if r.authenticated != "none" or
                        r.device == "deviceGraph" for s in r.sources)
    return MergeSetup(default or DEVICE_ONLY, rules, sources), problems


EMPTY_SETUP = MergeSetup(DEVICE_ONLY, {}, frozenset())


def union(views: Sequence[Mapping[int, Sequence[float]]]) -> dict[int, list[float]]:
    """The realizations of several profiles as one: stamps merged, so frequency counts add up
    across devices; a realization stored in both a device profile and the authenticated
    profile (the same event wrote both, with the same stamp) counts once."""
    if len(views) == 1:
        return {sid: list(stamps) for sid, stamps in views[0].items()}
    by_trait: dict[int, list[Sequence[float]]] = {}
    for view in views:
        for sid, stamps in view.items():
            if stamps:
                by_trait.setdefault(sid, []).append(stamps)
    merged: dict[int, list[float]] = {}
    for sid, lists in by_trait.items():
        if len(lists) == 1:
            merged[sid] = list(lists[0])
            continue
        sets = [set(stamps) for stamps in lists]
        if all(len(each) == len(stamps) for each, stamps in zip(sets, lists, strict=True)):
            merged[sid] = sorted(set().union(*sets))  # no stamp repeats within a profile
            continue
        counts: Counter[float] = Counter()
        for stamps in lists:
            counts |= Counter(stamps)  # the larger multiplicity of each stamp
        merged[sid] = sorted(counts.elements())
    return merged
