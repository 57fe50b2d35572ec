"""Segment rule language (rules.md section 2): parse, validate, evaluate over a profile."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, Union

from chalicelib.rules.trait_rules import RuleError

MAX_SEGMENT_RULE_CHARS = 65536
MAX_DEPTH = 32
MAX_FREQUENCY = 50
MAX_TRAIT_REFS = 5000
DAY_SECONDS = 86400

_TRAIT_REF_RE = re.compile(r"([0-9]+)[Tt](?![A-Za-z0-9_])")
_WORD_RE = re.compile(r"[A-Za-z]+")
_INT_RE = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class TraitRef:
    sid: int


@dataclass(frozen=True)
class Frequency:
    sids: tuple[int, ...]
    recency_op: str | None  # "<=" (recent) or ">=" (old), or None (no window)
    recency_days: int
    op: str  # ">=", "<=", "=="
    count: int


@dataclass(frozen=True)
class SNot:
    operand: "SNode"


@dataclass(frozen=True)
class SAnd:
    operands: tuple["SNode", ...]


@dataclass(frozen=True)
class SOr:
    operands: tuple["SNode", ...]


SNode = Union[TraitRef, Frequency, SNot, SAnd, SOr]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.frequencies = 0

    def _skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def _take(self, symbol: str) -> bool:
        self._skip_ws()
        if self.text.startswith(symbol, self.pos):
            self.pos += len(symbol)
            return True
        return False

    def _expect(self, symbol: str) -> None:
        if not self._take(symbol):
            raise RuleError(f"expected '{symbol}'", self.pos)

    def _peek_word(self) -> str | None:
        self._skip_ws()
        match = _WORD_RE.match(self.text, self.pos)
        return match.group(0).lower() if match else None

    def _take_word(self, word: str) -> bool:
        if self._peek_word() == word:
            self.pos += len(word)
            return True
        return False

    def parse(self) -> SNode:
        if len(self.text) > MAX_SEGMENT_RULE_CHARS:
            raise RuleError("segment rule too long", MAX_SEGMENT_RULE_CHARS)
        node = self._or(0)
        self._skip_ws()
        if self.pos < len(self.text):
            raise RuleError("expected AND, OR or the end of the rule", self.pos)
        return node

    def _or(self, depth: int) -> SNode:
        operands = [self._and(depth)]
        while self._take_word("or"):
            operands.append(self._and(depth))
        return operands[0] if len(operands) == 1 else SOr(tuple(operands))

    def _and(self, depth: int) -> SNode:
        operands = [self._unary(depth)]
        while self._take_word("and"):
            operands.append(self._unary(depth))
        return operands[0] if len(operands) == 1 else SAnd(tuple(operands))

    def _unary(self, depth: int) -> SNode:
        if self._take_word("not"):
            return SNot(self._primary(depth))
        return self._primary(depth)

    def _primary(self, depth: int) -> SNode:
        self._skip_ws()
        if self._take("("):
            if depth + 1 > MAX_DEPTH:
                raise RuleError(f"parentheses nested deeper than {MAX_DEPTH}", self.pos - 1)
            node = self._or(depth + 1)
            self._expect(")")
            return node
        if self._take_word("frequency"):
            return self._frequency()
        return TraitRef(self._trait_ref())

    def _trait_ref(self) -> int:
        self._skip_ws()
        match = _TRAIT_REF_RE.match(self.text, self.pos)
        if not match:
            raise RuleError("expected a trait reference such as 1234T", self.pos)
        self.pos = match.end()
        return int(match.group(1))

    def _int(self) -> int:
        self._skip_ws()
        match = _INT_RE.match(self.text, self.pos)
        if not match:
            raise RuleError("expected a whole number", self.pos)
        self.pos = match.end()
        return int(match.group(0))

    def _frequency(self) -> Frequency:
        start = self.pos
        self.frequencies += 1
        if self.frequencies > MAX_FREQUENCY:
            raise RuleError(f"more than {MAX_FREQUENCY} frequency expressions", start)
        self._expect("(")
        self._expect("[")
        sids = [self._trait_ref()]
        while self._take(","):
            sids.append(self._trait_ref())
        self._expect("]")
        recency_op: str | None = None
        days = 0
        for symbol in ("<=", ">=", "=>"):
            if self._take(symbol):
                recency_op = ">=" if symbol == "=>" else symbol
                days_pos = self.pos
                days = self._int()
                if not self._take("D") and not self._take("d"):
                    raise RuleError("expected 'D' after the number of days", self.pos)
                if not 1 <= days <= 365:
                    raise RuleError("recency must be 1 to 365 days", days_pos)
                break
        self._expect(")")
        self._skip_ws()
        op_pos = self.pos
        op = next((s for s in (">=", "=>", "<=", "==") if self._take(s)), None)
        if op is None:
            raise RuleError("expected a frequency operator (>=, <=, ==)", op_pos)
        count_pos = self.pos
        count = self._int()
        if not 0 <= count <= 100:
            raise RuleError("frequency count must be 0 to 100", count_pos)
        return Frequency(tuple(dict.fromkeys(sids)), recency_op, days, ">=" if op == "=>" else op,
                         count)


def parse_segment_rule(text: str) -> SNode:
    return _Parser(text).parse()


def referenced_traits(node: SNode) -> frozenset[int]:
    if isinstance(node, TraitRef):
        return frozenset({node.sid})
    if isinstance(node, Frequency):
        return frozenset(node.sids)
    if isinstance(node, SNot):
        return referenced_traits(node.operand)
    refs: frozenset[int] = frozenset()
    for operand in node.operands:
        refs |= referenced_traits(operand)
    return refs


def frequency_traits(node: SNode) -> frozenset[int]:
    if isinstance(node, Frequency):
        return frozenset(node.sids)
    if isinstance(node, TraitRef):
        return frozenset()
    if isinstance(node, SNot):
        return frequency_traits(node.operand)
    refs: frozenset[int] = frozenset()
    for operand in node.operands:
        refs |= frequency_traits(operand)
    return refs


# Live realizations per trait: sid -> timestamps (seconds). Only live traits appear.
LiveRealizations = Mapping[int, Sequence[float]]


def evaluate_segment(node: SNode, live: LiveRealizations, now: float) -> bool:
    if isinstance(node, TraitRef):
        return bool(live.get(node.sid))
    if isinstance(node, Frequency):
        return _compare(node.op, _count(node, live, now), node.count)
    if isinstance(node, SNot):
        return not evaluate_segment(node.operand, live, now)
    combine: Callable[..., bool] = all if isinstance(node, SAnd) else any
    return combine(evaluate_segment(op, live, now) for op in node.operands)


def _count(node: Frequency, live: LiveRealizations, now: float) -> int:
    edge = now - node.recency_days * DAY_SECONDS
    total = 0
    for sid in node.sids:
        for stamp in live.get(sid, ()):
            if node.recency_op is None:
                total += 1
            elif node.recency_op == "<=" and stamp >= edge:
                total += 1
            elif node.recency_op == ">=" and stamp <= edge:
                total += 1
    return total


def _compare(op: str, left: int, right: int) -> bool:
    if op == ">=":
        return left >= right
    if op == "<=":
        return left <= right
    return left == right
