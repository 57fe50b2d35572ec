"""Segment rule language (rules.md section 2): parse, validate, and the reference evaluator.

Same shape as the trait parser (hand-written, positions in every error). ``evaluate_segment`` is
the plain reading of 2.2; the event path uses the indexed form in ``segment_index.py``.
"""

from __future__ import annotations

import re
from typing import Mapping, NamedTuple, Sequence, Union

from chalicelib.core.records import SlotRecord
from chalicelib.rules.scanner import WHITESPACE, RuleError, Scanner

MAX_SEGMENT_RULE_CHARS = 65536
MAX_DEPTH = 32
MAX_FREQUENCY = 50
MAX_TRAIT_REFS = 5000
MAX_RECENCY_DAYS = 365
MAX_FREQUENCY_COUNT = 100
DAY_SECONDS = 86400

_RUN = re.compile(r"[A-Za-z0-9_]+")
_TRAIT_REF = re.compile(r"([0-9]+)[Tt]")
_DAYS = re.compile(r"([0-9]+)[Dd]")
_INT = re.compile(r"[0-9]+")
_KEYWORDS = frozenset({"and", "or", "not", "frequency"})


# The AST nodes are slotted records (chalicelib/core/records.py): equality and hashing include
# the type (SAnd(x, y) != SOr(x, y)).
class TraitRef(SlotRecord):
    __slots__ = ("sid",)

    def __init__(self, sid: int) -> None:
        self.sid = sid


class Frequency(SlotRecord):
    __slots__ = ("sids", "recency_op", "recency_days", "op", "count")

    def __init__(
        self,
        sids: tuple[int, ...],  # distinct, in order of first mention
        recency_op: str | None,  # "<=" (recent), ">=" (old), or None (no window)
        recency_days: int,
        op: str,  # ">=", "<=", "=="
        count: int,
    ) -> None:
        self.sids = sids
        self.recency_op = recency_op
        self.recency_days = recency_days
        self.op = op
        self.count = count


class SNot(SlotRecord):
    __slots__ = ("operand",)

    def __init__(self, operand: SNode) -> None:
        self.operand = operand


class SAnd(SlotRecord):
    __slots__ = ("operands",)

    def __init__(self, operands: tuple[SNode, ...]) -> None:
        self.operands = operands


class SOr(SlotRecord):
    __slots__ = ("operands",)

    def __init__(self, operands: tuple[SNode, ...]) -> None:
        self.operands = operands


SNode = Union[TraitRef, Frequency, SNot, SAnd, SOr]


class ParsedSegmentRule(NamedTuple):
    node: SNode
    positions: Mapping[int, int]  # sid -> position of its first mention
    frequency_positions: Mapping[int, int]  # sid -> its first mention inside frequency([...])


class _Parser(Scanner):
    keyword_run = _RUN
    found_run = _RUN
    keywords = _KEYWORDS

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.frequencies = 0
        self.positions: dict[int, int] = {}
        self.frequency_positions: dict[int, int] = {}

    def _symbol(self, symbol: str) -> bool:
        pos = self._ws()
        if self.text.startswith(symbol, pos):
            self.pos = pos + len(symbol)
            return True
        return False

    def _expect(self, symbol: str, expected: str) -> None:
        if not self._symbol(symbol):
            raise self._error(expected, self.pos)

    def parse(self) -> ParsedSegmentRule:
        if len(self.text) > MAX_SEGMENT_RULE_CHARS:
            raise RuleError(f"a segment rule is at most {MAX_SEGMENT_RULE_CHARS} characters",
                            MAX_SEGMENT_RULE_CHARS)
        node = self._or(0)
        pos = self._ws()
        if pos < len(self.text):
            if self.text[pos] == ")":
                raise RuleError("unbalanced ')': no '(' is open", pos)
            raise self._error("AND, OR or the end of the rule", pos)
        return ParsedSegmentRule(node, self.positions, self.frequency_positions)

    def _or(self, depth: int) -> SNode:
        operands = [self._and(depth)]
        while self._keyword("or"):
            operands.append(self._and(depth))
        return operands[0] if len(operands) == 1 else SOr(tuple(operands))

    def _and(self, depth: int) -> SNode:
        operands = [self._unary(depth)]
        while self._keyword("and"):
            operands.append(self._unary(depth))
        return operands[0] if len(operands) == 1 else SAnd(tuple(operands))

    def _unary(self, depth: int) -> SNode:
        if self._keyword("not"):
            return SNot(self._primary(depth, after_not=True))
        return self._primary(depth, after_not=False)

    def _primary(self, depth: int, after_not: bool) -> SNode:
        pos = self._ws()
        if self.text.startswith("(", pos):
            if depth + 1 > MAX_DEPTH:
                raise RuleError(f"parentheses are nested at most {MAX_DEPTH} deep", pos)
            self.pos = pos + 1
            node = self._or(depth + 1)
            close = self._ws()
            if not self.text.startswith(")", close):
                raise self._error(f"AND, OR or ')' to close the '(' at position {pos}", close)
            self.pos = close + 1
            return node
        if self._keyword("frequency"):
            return self._frequency(pos)
        expected = "a trait reference such as 1234T, frequency or '('"
        return TraitRef(self._trait_ref(expected if after_not else f"{expected}, NOT"))

    def _trait_ref(self, expected: str) -> int:
        pos = self._ws()
        run = _RUN.match(self.text, pos)
        match = _TRAIT_REF.fullmatch(run.group(0)) if run else None
        if not match:
            if run and _INT.fullmatch(run.group(0)) and self._next_word_is(run.end(), "t"):
                raise RuleError("no space is allowed before T in a trait reference "
                                "(write 1234T)", pos)
            raise self._error(expected, pos)
        assert run is not None
        self.pos = run.end()
        sid = int(match.group(1))
        self.positions.setdefault(sid, pos)
        return sid

    def _next_word_is(self, pos: int, word: str) -> bool:
        while pos < len(self.text) and self.text[pos] in WHITESPACE:
            pos += 1
        run = _RUN.match(self.text, pos)
        return bool(run) and run.group(0).lower() == word  # type: ignore[union-attr]

    def _int(self, low: int, high: int, what: str) -> int:
        pos = self._ws()
        run = _RUN.match(self.text, pos)
        if not run or not _INT.fullmatch(run.group(0)):
            raise self._error(f"a whole number ({what})", pos)
        self.pos = run.end()
        value = int(run.group(0))
        if not low <= value <= high:
            raise RuleError(f"{what} must be {low} to {high}, found {value}", pos)
        return value

    def _frequency(self, start: int) -> Frequency:
        self.frequencies += 1
        if self.frequencies > MAX_FREQUENCY:
            raise RuleError(f"a segment rule has at most {MAX_FREQUENCY} frequency expressions",
                            start)
        self._expect("(", "'(' after frequency")
        self._expect("[", "'[' to open the list of traits")
        sids: list[int] = []
        while True:
            before = self._ws()
            sid = self._trait_ref("a trait reference such as 1234T")
            sids.append(sid)
            self.frequency_positions.setdefault(sid, before)
            if self._symbol("]"):
                break
            self._expect(",", "',' or ']'")
        recency_op, days = self._recency()
        self._expect(")", "a recency window (<= nD or >= nD) or ')'")
        op_pos = self._ws()
        op = self._frequency_operator(op_pos)
        count = self._int(0, MAX_FREQUENCY_COUNT, "a frequency count")
        return Frequency(tuple(dict.fromkeys(sids)), recency_op, days, op, count)

    def _recency(self) -> tuple[str | None, int]:
        pos = self._ws()
        two = self.text[pos:pos + 2]
        if two in ("<=", ">=", "=>"):
            self.pos = pos + 2
            days_pos = self._ws()
            run = _RUN.match(self.text, days_pos)
            match = _DAYS.fullmatch(run.group(0)) if run else None
            if not match:
                if run and _INT.fullmatch(run.group(0)) and self._next_word_is(run.end(), "d"):
                    raise RuleError("no space is allowed before D in a recency window "
                                    "(write 7D)", days_pos)
                raise self._error("a number of days such as 7D", days_pos)
            assert run is not None
            days = int(match.group(1))
            if not 1 <= days <= MAX_RECENCY_DAYS:
                raise RuleError(f"recency must be 1 to {MAX_RECENCY_DAYS} days, found {days}",
                                days_pos)
            self.pos = run.end()
            return (">=" if two == "=>" else two), days
        if two in ("=<", "==", "!=") or self.text[pos:pos + 1] in ("<", ">"):
            raise RuleError("the recency operators are <=, >= and =>", pos)
        return None, 0

    def _frequency_operator(self, pos: int) -> str:
        two = self.text[pos:pos + 2]
        if two in (">=", "=>", "<=", "=="):
            self.pos = pos + 2
            return ">=" if two == "=>" else two
        one = self.text[pos:pos + 1]
        if two in ("!=", "=<") or one in ("<", ">", "="):
            shown = two if two in ("!=", "=<") else one
            raise RuleError(f"'{shown}' is not a frequency operator (use >=, =>, <= or ==)", pos)
        raise self._error("a frequency operator (>=, =>, <= or ==)", pos)


def parse_segment_rule_positions(text: str) -> ParsedSegmentRule:
    return _Parser(text).parse()


def parse_segment_rule(text: str) -> SNode:
    """Parses a segment rule; raises ``RuleError`` with the position and what was expected."""
    return _Parser(text).parse().node


def referenced_traits(node: SNode) -> frozenset[int]:
    if isinstance(node, TraitRef):
        return frozenset({node.sid})
    if isinstance(node, Frequency):
        return frozenset(node.sids)
    if isinstance(node, SNot):
        return referenced_traits(node.operand)
    refs: set[int] = set()
    for operand in node.operands:
        refs |= referenced_traits(operand)
    return frozenset(refs)


def frequency_traits(node: SNode) -> frozenset[int]:
    if isinstance(node, Frequency):
        return frozenset(node.sids)
    if isinstance(node, TraitRef):
        return frozenset()
    if isinstance(node, SNot):
        return frequency_traits(node.operand)
    refs: set[int] = set()
    for operand in node.operands:
        refs |= frequency_traits(operand)
    return frozenset(refs)


# Live realizations per trait: sid -> timestamps (seconds). Only live traits appear.
LiveRealizations = Mapping[int, Sequence[float]]


def frequency_count(node: Frequency, live: LiveRealizations, now: float) -> int:
    """Live realizations of the listed traits inside the window (rules.md 2.2)."""
    total = 0
    if node.recency_op is None:
        for sid in node.sids:
            total += len(live.get(sid, ()))
        return total
    edge = now - node.recency_days * DAY_SECONDS
    recent = node.recency_op == "<="
    for sid in node.sids:
        for stamp in live.get(sid, ()):
            if (stamp >= edge) if recent else (stamp <= edge):
                total += 1
    return total


def compare_count(op: str, left: int, right: int) -> bool:
    if op == ">=":
        return left >= right
    if op == "<=":
        return left <= right
    return left == right


def evaluate_segment(node: SNode, live: LiveRealizations, now: float) -> bool:
    """Evaluates a segment rule over live realizations: the definition the index must equal."""
    if isinstance(node, TraitRef):
        return bool(live.get(node.sid))
    if isinstance(node, Frequency):
        return compare_count(node.op, frequency_count(node, live, now), node.count)
    if isinstance(node, SNot):
        return not evaluate_segment(node.operand, live, now)
    if isinstance(node, SAnd):
        return all(evaluate_segment(op, live, now) for op in node.operands)
    return any(evaluate_segment(op, live, now) for op in node.operands)
