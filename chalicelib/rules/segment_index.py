"""Indexed segment evaluation: a visitor's live traits select the segments worth evaluating.

Each active segment gets a trigger set of trait ids, one of which must be live for the rule to be
true (``NT`` needs N; a ``frequency`` that is false at a count of 0 needs one of its traits;
``OR`` unions, ``AND`` keeps its smallest operand's set, ``NOT`` swaps the two). A segment
without one is true for a visitor with no realizations: the admin API refuses those rules
(rules.md 2.3 rule 4), but a hand-edited catalog may hold one, so such segments are evaluated for
every visitor. A segment that is one trait, an ``OR`` of traits or ``frequency([..]) >= 1``
without a window is true exactly when a trigger is live and needs no evaluation; an ``AND`` of
traits is a subset test; anything else runs a compiled closure.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence, Union

from chalicelib.rules.segment_rules import (
    Frequency,
    SAnd,
    SNode,
    SNot,
    SOr,
    TraitRef,
    compare_count,
    evaluate_segment,
    frequency_count,
)

Live = Mapping[int, Sequence[float]]
Evaluator = Callable[[Live, float], bool]
Form = Union[frozenset, Evaluator]


def triggers(node: SNode, positive: bool = True) -> frozenset[int] | None:
    """Trait ids one of which is live whenever ``node`` is ``positive``; None: none needed."""
    if isinstance(node, TraitRef):
        return frozenset({node.sid}) if positive else None
    if isinstance(node, Frequency):
        true_at_zero = compare_count(node.op, 0, node.count)
        # true at 0 realizations: the positive needs nothing; false at 0: the negation doesn't
        return frozenset(node.sids) if true_at_zero != positive else None
    if isinstance(node, SNot):
        return triggers(node.operand, not positive)
    parts = [triggers(op, positive) for op in node.operands]
    if isinstance(node, SAnd) == positive:  # every operand holds: the smallest set suffices
        known = [p for p in parts if p is not None]
        return min(known, key=len) if known else None
    if any(p is None for p in parts):
        return None
    return frozenset().union(*parts)  # type: ignore[arg-type]


def _direct(node: SNode) -> bool:
    """True when the rule is true exactly when one of its triggers is live."""
    if isinstance(node, TraitRef):
        return True
    if isinstance(node, Frequency):
        return node.recency_op is None and node.op == ">=" and node.count == 1
    if isinstance(node, SOr):
        return all(_direct(op) for op in node.operands)
    return False


def _compile(node: SNode) -> Evaluator:
    if isinstance(node, TraitRef):
        sid = node.sid
        return lambda live, now: bool(live.get(sid))
    if isinstance(node, Frequency):
        freq, op, count = node, node.op, node.count
        return lambda live, now: compare_count(op, frequency_count(freq, live, now), count)
    if isinstance(node, SNot):
        inner = _compile(node.operand)
        return lambda live, now: not inner(live, now)
    parts = tuple(_compile(op) for op in node.operands)
    if isinstance(node, SAnd):
        return lambda live, now: all(part(live, now) for part in parts)
    return lambda live, now: any(part(live, now) for part in parts)


class SegmentIndex:
    """The active segments of one catalog version, indexed by trait (a slotted class, not a
    dataclass: a dataclass costs 0.2-0.65 ms to create at import, on a cold Lambda start,
    bench/coldstart.py)."""

    __slots__ = ("direct_by_trait", "check_by_trait", "always", "forms")

    def __init__(
        self,
        direct_by_trait: Mapping[int, tuple[int, ...]],
        check_by_trait: Mapping[int, tuple[int, ...]],
        always: tuple[int, ...],
        forms: Mapping[int, Form],
    ) -> None:
        self.direct_by_trait = direct_by_trait
        self.check_by_trait = check_by_trait
        self.always = always
        self.forms = forms

    @classmethod
    def build(cls, segments: Iterable[tuple[int, SNode]]) -> "SegmentIndex":
        """``segments``: (sid, rule) of every active segment."""
        direct: dict[int, list[int]] = {}
        check: dict[int, list[int]] = {}
        always: list[int] = []
        forms: dict[int, Form] = {}
        for sid, rule in segments:
            found = triggers(rule)
            if found is None or evaluate_segment(rule, {}, 0.0):
                always.append(sid)
                forms[sid] = _compile(rule)
                continue
            if _direct(rule):
                for trait in found:
                    direct.setdefault(trait, []).append(sid)
                continue
            if isinstance(rule, SAnd) and all(isinstance(op, TraitRef) for op in rule.operands):
                forms[sid] = frozenset(op.sid for op in rule.operands)  # type: ignore[union-attr]
            else:
                forms[sid] = _compile(rule)
            for trait in found:
                check.setdefault(trait, []).append(sid)
        return cls(
            direct_by_trait={t: tuple(s) for t, s in direct.items()},
            check_by_trait={t: tuple(s) for t, s in check.items()},
            always=tuple(always),
            forms=forms,
        )

    def evaluate(self, live: Live, now: float) -> set[int]:
        """The segments true for these live realizations (sid -> stamps in seconds)."""
        present = {sid for sid, stamps in live.items() if stamps}
        result: set[int] = set()
        check: set[int] = set(self.always)
        direct_by_trait, check_by_trait = self.direct_by_trait, self.check_by_trait
        for trait in present:
            found = direct_by_trait.get(trait)
            if found:
                result.update(found)
            found = check_by_trait.get(trait)
            if found:
                check.update(found)
        forms = self.forms
        for sid in check:
            if sid in result:
                continue
            form = forms[sid]
            if form <= present if isinstance(form, frozenset) else form(live, now):
                result.add(sid)
        return result
