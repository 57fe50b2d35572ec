"""Trait rule language (rules.md section 1): parse, validate, and the reference evaluator.

A hand-written recursive-descent parser: the grammar is tiny, tokenizing depends on the position
(a key where a predicate starts, a literal after an operator), and every error must give the
0-based character position and what was expected there. A parsing library would buy little and
make those messages harder. ``evaluate`` is the plain, evaluate-everything reading of 1.3; the
event path uses the indexed form in ``trait_index.py``, which the tests hold equal to it.
"""

from __future__ import annotations

import re
import sys
from decimal import Decimal
from typing import Mapping, Sequence, Union

from chalicelib.core.records import SlotRecord, slots_repr
from chalicelib.rules.safe_regex import RegexRejected, SafeRegex, check_pattern
from chalicelib.rules.scanner import RuleError, Scanner

MAX_RULE_CHARS = 8192
MAX_PREDICATES = 100
MAX_DEPTH = 32
MAX_REGEX_PREDICATES = 10
MAX_STRING_CHARS = 1024
MAX_KEY_CHARS = 100
MAX_WORDS = 20

KEYWORDS = frozenset(
    {"and", "or", "not", "contains", "startswith", "endswith", "matcheswords", "matchesregex"}
)
WORD_OPS = frozenset({"contains", "startswith", "endswith", "matcheswords", "matchesregex"})
REL_OPS = frozenset({"<", "<=", ">", ">="})
EQ_OPS = frozenset({"==", "!="})
OPERATOR_LIST = "== != < <= > >= => contains startswith endswith matcheswords matchesregex"

_KEY_RUN = re.compile(r"[A-Za-z0-9_-]+")
_LITERAL_RUN = re.compile(r"[A-Za-z0-9_.+-]+")
_HAS_LETTER = re.compile(r"[A-Za-z]")
_NUMBER_LITERAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_STRING = re.compile(r'"((?:[^"\\\n\r]|\\[^\n\r])*)"')
_STRING_ESCAPE = re.compile(r'\\(["\\])')
_NUMERIC_VALUE = re.compile(r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*$")
_WORD = re.compile(r"\w+")


# The AST nodes are slotted records (chalicelib/core/records.py): equality and hashing include
# the type (And(x, y) != Or(x, y)); TraitIndex keys its atoms on Predicate.
class Predicate:
    # op is one of: < <= > >= == != contains startswith endswith matcheswords matchesregex
    __slots__ = ("key", "op", "literal", "numeric", "is_string", "folded", "words", "regex")

    def __init__(
        self,
        key: str,
        op: str,  # canonical (see above)
        literal: str,  # as written, escapes resolved
        numeric: Decimal | None,  # the literal as a number (number literals, relational strings)
        is_string: bool,  # the literal was a quoted string
        folded: str = "",  # literal.casefold()
        words: frozenset[str] = frozenset(),  # matcheswords, folded
        regex: SafeRegex | None = None,
    ) -> None:
        # A 100,000-trait catalog holds the same few keys and operators many times over: one
        # shared string each, and the literal itself when folding does not change it.
        self.key = sys.intern(key)
        self.op = sys.intern(op)
        self.literal = sys.intern(literal)  # values repeat across traits ("sports", "1")
        self.numeric = numeric
        self.is_string = is_string
        self.folded = self.literal if folded == literal else sys.intern(folded)
        self.words = words
        self.regex = regex

    def __eq__(self, other: object) -> bool:  # folded, words and regex follow from the rest
        if type(other) is not Predicate:
            return NotImplemented
        return (self.key, self.op, self.literal, self.numeric, self.is_string) == (
            other.key, other.op, other.literal, other.numeric, other.is_string)

    def __hash__(self) -> int:
        return hash((Predicate, self.key, self.op, self.literal, self.numeric, self.is_string))

    __repr__ = slots_repr


class Not(SlotRecord):
    __slots__ = ("operand",)

    def __init__(self, operand: Node) -> None:
        self.operand = operand


class And(SlotRecord):
    __slots__ = ("operands",)

    def __init__(self, operands: tuple[Node, ...]) -> None:
        self.operands = operands


class Or(SlotRecord):
    __slots__ = ("operands",)

    def __init__(self, operands: tuple[Node, ...]) -> None:
        self.operands = operands


Node = Union[Predicate, Not, And, Or]


def as_decimal(value: str) -> Decimal | None:
    """A signal value as an exact number, or None when it is not numeric (rules.md 1.3 rule 3)."""
    if not _NUMERIC_VALUE.match(value):
        return None
    return Decimal(value.strip())


def value_words(value: str) -> list[str]:
    """The words of a value for ``matcheswords``: maximal runs of ``\\w``, casefolded."""
    return [word.casefold() for word in _WORD.findall(value)]


class _Parser(Scanner):
    keyword_run = _KEY_RUN
    found_run = _LITERAL_RUN
    keywords = KEYWORDS

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.predicates = 0
        self.regexes = 0

    # -- grammar --------------------------------------------------------------------------
    def parse(self) -> Node:
        if len(self.text) > MAX_RULE_CHARS:
            raise RuleError(f"a rule is at most {MAX_RULE_CHARS} characters", MAX_RULE_CHARS)
        node = self._or(0)
        pos = self._ws()
        if pos < len(self.text):
            if self.text[pos] == ")":
                raise RuleError("unbalanced ')': no '(' is open", pos)
            raise self._error("AND, OR or the end of the rule", pos)
        return node

    def _or(self, depth: int) -> Node:
        operands = [self._and(depth)]
        while self._keyword("or"):
            operands.append(self._and(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self, depth: int) -> Node:
        operands = [self._unary(depth)]
        while self._keyword("and"):
            operands.append(self._unary(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _unary(self, depth: int) -> Node:
        if self._keyword("not"):
            return Not(self._primary(depth, after_not=True))
        return self._primary(depth, after_not=False)

    def _primary(self, depth: int, after_not: bool) -> Node:
        pos = self._ws()
        if pos < len(self.text) and self.text[pos] == "(":
            if depth + 1 > MAX_DEPTH:
                raise RuleError(f"parentheses are nested at most {MAX_DEPTH} deep", pos)
            self.pos = pos + 1
            node = self._or(depth + 1)
            close = self._ws()
            if close >= len(self.text) or self.text[close] != ")":
                raise self._error(f"AND, OR or ')' to close the '(' at position {pos}", close)
            self.pos = close + 1
            return node
        return self._predicate(after_not)

    def _predicate(self, after_not: bool) -> Predicate:
        start = self.pos
        run = _KEY_RUN.match(self.text, start)
        if not run:
            raise self._error("a signal key or '('" if after_not else "a signal key, NOT or '('",
                              start)
        key = run.group(0)
        if key.lower() in KEYWORDS:
            raise RuleError(
                f"expected a signal key, found the keyword '{key}' (a keyword in any case "
                "cannot be a key)", start)
        if len(key) > MAX_KEY_CHARS:
            raise RuleError(f"a key is at most {MAX_KEY_CHARS} characters", start)
        if not _HAS_LETTER.search(key):
            raise RuleError(f"a key needs at least one letter, found '{key}'", start)
        self.predicates += 1
        if self.predicates > MAX_PREDICATES:
            raise RuleError(f"a rule has at most {MAX_PREDICATES} predicates", start)
        self.pos = run.end()
        op = self._operator()
        return self._literal(key, op)

    def _operator(self) -> str:
        pos = self._ws()
        text = self.text
        two = text[pos:pos + 2]
        if two in ("==", "!=", "<=", ">=", "=>"):
            self.pos = pos + 2
            return ">=" if two == "=>" else two
        if two == "=<":
            raise RuleError("'=<' is not an operator (write '<=')", pos)
        one = text[pos:pos + 1]
        if one in ("<", ">"):
            self.pos = pos + 1
            return one
        if one == "=":
            raise RuleError("a single '=' is not an operator (write '==')", pos)
        run = _KEY_RUN.match(text, pos)
        if run and run.group(0).lower() in WORD_OPS:
            self.pos = run.end()
            return run.group(0).lower()
        raise self._error(f"an operator ({OPERATOR_LIST})", pos)

    def _literal(self, key: str, op: str) -> Predicate:
        pos = self._ws()
        text = self.text
        char = text[pos:pos + 1]
        if char == "'":
            raise RuleError("single quotes are not accepted (write a double-quoted string)", pos)
        if char == '"':
            value = self._string(pos)
            if op in WORD_OPS:
                return self._word_predicate(key, op, value, pos)
            if op in REL_OPS:
                if not _NUMBER_LITERAL.fullmatch(value):
                    raise RuleError(f"operator {op} needs a number, and \"{value}\" is not one",
                                    pos)
                return Predicate(key, op, value, Decimal(value), False, value.casefold())
            return Predicate(key, op, value, None, True, value.casefold())
        if op in WORD_OPS:
            raise self._error(f"a double-quoted string after {op}", pos)
        run = _LITERAL_RUN.match(text, pos)
        if not run:
            what = "a number" if op in REL_OPS else "a double-quoted string or a number"
            raise self._error(what, pos)
        word = run.group(0)
        if not _NUMBER_LITERAL.fullmatch(word):
            if word[0] in "0123456789-+.":
                raise RuleError(
                    f"'{word}' is not a number (numbers are written -?[0-9]+(.[0-9]+)?, with no "
                    "exponent, leading '+' or '.', or separators)", pos)
            raise RuleError(
                f"expected a double-quoted string or a number, found the bare word '{word}' "
                "(strings need double quotes)", pos)
        self.pos = run.end()
        return Predicate(key, op, word, Decimal(word), False, word.casefold())

    def _string(self, start: int) -> str:
        match = _STRING.match(self.text, start)
        if not match:
            raise RuleError("unterminated string (a string ends with '\"' on the same line)",
                            start)
        self.pos = match.end()
        value = match.group(1)
        if "\\" in value:
            value = _STRING_ESCAPE.sub(r"\1", value)
        if len(value) > MAX_STRING_CHARS:
            raise RuleError(f"a string is at most {MAX_STRING_CHARS} characters", start)
        return value

    def _word_predicate(self, key: str, op: str, value: str, pos: int) -> Predicate:
        if op in ("contains", "startswith", "endswith"):
            if not value:
                raise RuleError(f"{op} needs a non-empty string", pos)
            return Predicate(key, op, value, None, True, value.casefold())
        if op == "matcheswords":
            words = value.split()
            if not 1 <= len(words) <= MAX_WORDS:
                raise RuleError(f"matcheswords needs 1 to {MAX_WORDS} words, found {len(words)}",
                                pos)
            for word in words:
                if not _WORD.fullmatch(word):
                    raise RuleError(
                        f"matcheswords: '{word}' is not a word (letters, digits and _ only)", pos)
            return Predicate(key, op, value, None, True, value.casefold(),
                             words=frozenset(w.casefold() for w in words))
        self.regexes += 1
        if self.regexes > MAX_REGEX_PREDICATES:
            raise RuleError(f"a rule has at most {MAX_REGEX_PREDICATES} matchesregex predicates",
                            pos)
        try:
            compiled = check_pattern(value)
        except RegexRejected as exc:
            raise RuleError(f"matchesregex: {exc.message}",
                            _pattern_position(self.text, pos, exc.offset)) from exc
        return Predicate(key, op, value, None, True, value.casefold(), regex=compiled)


def _pattern_position(text: str, quote: int, offset: int) -> int:
    """The rule position of character ``offset`` of the string literal opening at ``quote``."""
    pos, seen = quote + 1, 0
    while seen < offset and pos < len(text) and text[pos] != '"':
        pos += 2 if text[pos] == "\\" and text[pos + 1:pos + 2] in ('"', "\\") else 1
        seen += 1
    return pos


def parse_trait_rule(text: str) -> Node:
    """Parses and validates a rule; raises ``RuleError`` with the position and what was expected."""
    return _Parser(text).parse()


# -- the reference evaluator (rules.md 1.3) -------------------------------------------------
def _compare_numbers(op: str, left: Decimal, right: Decimal) -> bool:
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    if op == ">=":
        return left >= right
    if op == "==":
        return left == right
    return left != right


def value_matches(pred: Predicate, value: str) -> bool:
    """One value against one predicate (regexes without a time budget)."""
    op = pred.op
    if op in REL_OPS:
        number = as_decimal(value)
        return number is not None and _compare_numbers(op, number, pred.numeric)  # type: ignore[arg-type]
    if op in EQ_OPS:
        if not pred.is_string:
            number = as_decimal(value)
            if number is not None:
                return _compare_numbers(op, number, pred.numeric)  # type: ignore[arg-type]
        same = value.casefold() == pred.folded
        return same if op == "==" else not same
    if op == "contains":
        return pred.folded in value.casefold()
    if op == "startswith":
        return value.casefold().startswith(pred.folded)
    if op == "endswith":
        return value.casefold().endswith(pred.folded)
    if op == "matcheswords":
        return not pred.words.isdisjoint(value_words(value))
    assert pred.regex is not None
    return pred.regex.search(value)


def evaluate(node: Node, signals: Mapping[str, Sequence[str]]) -> bool:
    """Evaluates every predicate from the signals: the definition the indexed form must equal."""
    if isinstance(node, Predicate):
        values = signals.get(node.key)
        return bool(values) and any(value_matches(node, v) for v in values or ())
    if isinstance(node, Not):
        return not evaluate(node.operand, signals)
    if isinstance(node, And):
        return all(evaluate(op, signals) for op in node.operands)
    return any(evaluate(op, signals) for op in node.operands)


def predicates(node: Node) -> list[Predicate]:
    if isinstance(node, Predicate):
        return [node]
    if isinstance(node, Not):
        return predicates(node.operand)
    found: list[Predicate] = []
    for operand in node.operands:
        found.extend(predicates(operand))
    return found


def rule_keys(node: Node) -> frozenset[str]:
    """The signal keys a rule reads."""
    return frozenset(p.key for p in predicates(node))


def uses_regex(node: Node) -> bool:
    return any(p.op == "matchesregex" for p in predicates(node))
