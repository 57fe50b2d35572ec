"""Trait rule language (rules.md section 1): parse, validate, evaluate.

A small hand-written recursive-descent parser: the grammar is tiny, tokenizing depends on the
position (a key where a predicate starts, a literal after an operator), and errors must name
the character position and what was expected. A parsing library would buy little here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable, Mapping, Sequence, Union

MAX_RULE_CHARS = 8192
MAX_PREDICATES = 100
MAX_DEPTH = 32
MAX_REGEX_PREDICATES = 10
MAX_STRING_CHARS = 1024
MAX_REGEX_CHARS = 256

KEYWORDS = frozenset(
    {"and", "or", "not", "contains", "startswith", "endswith", "matcheswords", "matchesregex"}
)
WORD_OPS = ("contains", "startswith", "endswith", "matcheswords", "matchesregex")
REL_OPS = ("<=", ">=", "=>", "<", ">")
EQ_OPS = ("==", "!=")

_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,100}(?![A-Za-z0-9_-])")
_NUMBER_LITERAL_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?![0-9A-Za-z_.])")
_NUMERIC_VALUE_RE = re.compile(r"^\s*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\s*$")
_WORD_RE = re.compile(r"\w+")
_LITERAL_WORD_RE = re.compile(r"^\w+$")
_REGEX_MATCH_CHARS = 1024


class RuleError(ValueError):
    """A rule that does not parse or validate; ``position`` is a 0-based character index."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Predicate:
    key: str
    op: str  # canonical: < <= > >= == != contains startswith endswith matcheswords matchesregex
    literal: str
    numeric: Decimal | None  # the literal as a number, when it is a number literal
    is_string: bool
    matcher: Callable[[str], bool] | None = None


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class And:
    operands: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    operands: tuple["Node", ...]


Node = Union[Predicate, Not, And, Or]


def _as_decimal(value: str) -> Decimal | None:
    if not _NUMERIC_VALUE_RE.match(value):
        return None
    try:
        return Decimal(value.strip())
    except InvalidOperation:
        return None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.predicates = 0
        self.regexes = 0

    # -- scanning -------------------------------------------------------------------------
    def _skip_ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
            self.pos += 1

    def _at_end(self) -> bool:
        self._skip_ws()
        return self.pos >= len(self.text)

    def _peek_keyword(self) -> str | None:
        self._skip_ws()
        match = _KEY_RE.match(self.text, self.pos)
        if match and match.group(0).lower() in KEYWORDS:
            return match.group(0).lower()
        return None

    def _take_keyword(self, word: str) -> bool:
        if self._peek_keyword() == word:
            match = _KEY_RE.match(self.text, self.pos)
            assert match is not None
            self.pos = match.end()
            return True
        return False

    def _take_char(self, char: str) -> bool:
        self._skip_ws()
        if self.text.startswith(char, self.pos):
            self.pos += len(char)
            return True
        return False

    # -- grammar --------------------------------------------------------------------------
    def parse(self) -> Node:
        if len(self.text) > MAX_RULE_CHARS:
            raise RuleError(f"rule longer than {MAX_RULE_CHARS} characters", MAX_RULE_CHARS)
        node = self._or(0)
        if not self._at_end():
            raise RuleError("expected AND, OR or the end of the rule", self.pos)
        return node

    def _or(self, depth: int) -> Node:
        operands = [self._and(depth)]
        while self._take_keyword("or"):
            operands.append(self._and(depth))
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self, depth: int) -> Node:
        operands = [self._unary(depth)]
        while self._take_keyword("and"):
            operands.append(self._unary(depth))
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _unary(self, depth: int) -> Node:
        if self._take_keyword("not"):
            return Not(self._primary(depth))
        return self._primary(depth)

    def _primary(self, depth: int) -> Node:
        self._skip_ws()
        if self._take_char("("):
            if depth + 1 > MAX_DEPTH:
                raise RuleError(f"parentheses nested deeper than {MAX_DEPTH}", self.pos - 1)
            node = self._or(depth + 1)
            if not self._take_char(")"):
                raise RuleError("expected ')'", self.pos)
            return node
        return self._predicate()

    def _predicate(self) -> Predicate:
        self._skip_ws()
        start = self.pos
        match = _KEY_RE.match(self.text, self.pos)
        if not match:
            raise RuleError("expected a signal key or '('", start)
        key = match.group(0)
        if key.lower() in KEYWORDS:
            raise RuleError(f"expected a signal key, found keyword {key!r}", start)
        if not re.search(r"[A-Za-z]", key):
            raise RuleError(f"key {key!r} needs at least one letter", start)
        self.pos = match.end()
        self.predicates += 1
        if self.predicates > MAX_PREDICATES:
            raise RuleError(f"more than {MAX_PREDICATES} predicates", start)
        op = self._operator()
        literal_pos = self._op_position()
        if op in WORD_OPS:
            text = self._string()
            return self._word_predicate(key, op, text, literal_pos)
        if self.pos < len(self.text) and self.text[self.pos] == '"':
            text = self._string()
            if op in REL_OPS:
                number = _as_decimal(text)
                if number is None or not _NUMBER_LITERAL_RE.fullmatch(text.strip()):
                    raise RuleError(f"operator {op} needs a number, found {text!r}", literal_pos)
                return Predicate(key, op, text, number, is_string=False)
            return Predicate(key, op, text, None, is_string=True)
        number_match = _NUMBER_LITERAL_RE.match(self.text, self.pos)
        if not number_match:
            what = "a number" if op in REL_OPS else "a quoted string or a number"
            raise RuleError(f"expected {what} after {op}", literal_pos)
        self.pos = number_match.end()
        literal = number_match.group(0)
        return Predicate(key, op, literal, Decimal(literal), is_string=False)

    def _op_position(self) -> int:
        self._skip_ws()
        return self.pos

    def _operator(self) -> str:
        self._skip_ws()
        for symbol in ("==", "!=", "<=", ">=", "=>", "<", ">"):
            if self.text.startswith(symbol, self.pos):
                self.pos += len(symbol)
                return ">=" if symbol == "=>" else symbol
        if self.text.startswith("=<", self.pos):
            raise RuleError("'=<' is not an operator (use '<=')", self.pos)
        if self.text.startswith("=", self.pos):
            raise RuleError("a single '=' is not an operator (use '==')", self.pos)
        word = self._peek_keyword()
        if word in WORD_OPS:
            self._take_keyword(word)
            return word
        raise RuleError(
            "expected an operator (== != < <= > >= contains startswith endswith "
            "matcheswords matchesregex)",
            self.pos,
        )

    def _string(self) -> str:
        self._skip_ws()
        start = self.pos
        if not self.text.startswith('"', self.pos):
            raise RuleError("expected a double-quoted string", start)
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text) or self.text[self.pos] == "\n":
                raise RuleError("unterminated string", start)
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                following = self.text[self.pos + 1]
                if following in ('"', "\\"):
                    out.append(following)
                else:
                    out.append(char + following)
                self.pos += 2
                continue
            if char == '"':
                self.pos += 1
                break
            out.append(char)
            self.pos += 1
        text = "".join(out)
        if len(text) > MAX_STRING_CHARS:
            raise RuleError(f"string longer than {MAX_STRING_CHARS} characters", start)
        return text

    def _word_predicate(self, key: str, op: str, text: str, position: int) -> Predicate:
        if op in ("contains", "startswith", "endswith") and not text:
            raise RuleError(f"{op} needs a non-empty string", position)
        if op == "matcheswords":
            words = text.split()
            if not 1 <= len(words) <= 20 or not all(_LITERAL_WORD_RE.match(w) for w in words):
                raise RuleError("matcheswords needs 1 to 20 words of letters/digits/_", position)
            wanted = frozenset(w.casefold() for w in words)
            return Predicate(
                key, op, text, None, True,
                matcher=lambda v: any(w.casefold() in wanted for w in _WORD_RE.findall(v)),
            )
        if op == "matchesregex":
            self.regexes += 1
            if self.regexes > MAX_REGEX_PREDICATES:
                raise RuleError(f"more than {MAX_REGEX_PREDICATES} matchesregex", position)
            compiled = compile_safe_regex(text, position)
            return Predicate(
                key, op, text, None, True,
                matcher=lambda v: compiled.search(v[:_REGEX_MATCH_CHARS]) is not None,
            )
        return Predicate(key, op, text, None, is_string=True)


_FORBIDDEN_REGEX = (
    (re.compile(r"\\[1-9]|\(\?P="), "backreference"),
    (re.compile(r"\(\?<?[=!]"), "lookaround"),
    (re.compile(r"\(\?P?<"), "named group"),
    (re.compile(r"\(\?\("), "conditional"),
    (re.compile(r"\(\?>|[*+?}]\+"), "atomic group or possessive quantifier"),
    (re.compile(r"\(\?#"), "comment"),
    (re.compile(r"\\[pPQEzGhR]|&&"), "Java-only syntax"),
)
# A group whose body has a quantifier or "|", itself repeated: (a+)+, (\w+\s?)*, (x|xy)+.
_NESTED_QUANTIFIER_RE = re.compile(
    r"\((?:\?:)?[^()]*(?:[*+]|\{\d+,\d*\}|\|)[^()]*\)(?:[*+]|\{\d+,(?:\d*)\})"
)


def compile_safe_regex(pattern: str, position: int = 0) -> re.Pattern[str]:
    """The safe regex subset of rules.md 1.4 (static checks; see issue 5 for the full guard)."""
    if len(pattern) > MAX_REGEX_CHARS:
        raise RuleError(f"regex longer than {MAX_REGEX_CHARS} characters", position)
    body = pattern[4:] if pattern.startswith("(?i)") else pattern
    if re.search(r"\(\?[a-zA-Z]", body):
        raise RuleError("inline flags other than one leading (?i) are not allowed", position)
    for forbidden, name in _FORBIDDEN_REGEX:
        if forbidden.search(body):
            raise RuleError(f"regex uses a {name}, which is not allowed", position)
    if _NESTED_QUANTIFIER_RE.search(body):
        raise RuleError("regex repeats a group that is itself repeated (backtracking)", position)
    if len(re.findall(r"(?<!\\)(?:[*+]|\{\d+,\})", body)) > 3:
        raise RuleError("regex has more than 3 unbounded quantifiers", position)
    try:
        return re.compile(pattern, re.ASCII)
    except re.error as exc:
        raise RuleError(f"regex does not compile: {exc}", position) from exc


def parse_trait_rule(text: str) -> Node:
    return _Parser(text).parse()


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


def _value_matches(pred: Predicate, value: str) -> bool:
    op = pred.op
    if op in REL_OPS:
        number = _as_decimal(value)
        return number is not None and pred.numeric is not None and _compare_numbers(
            op, number, pred.numeric
        )
    if op in EQ_OPS:
        if not pred.is_string and pred.numeric is not None:
            number = _as_decimal(value)
            if number is not None:
                return _compare_numbers(op, number, pred.numeric)
        same = value.casefold() == pred.literal.casefold()
        return same if op == "==" else not same
    if pred.matcher is not None:
        return pred.matcher(value)
    folded, literal = value.casefold(), pred.literal.casefold()
    if op == "contains":
        return literal in folded
    if op == "startswith":
        return folded.startswith(literal)
    return folded.endswith(literal)


def evaluate(node: Node, signals: Mapping[str, Sequence[str]]) -> bool:
    if isinstance(node, Predicate):
        values = signals.get(node.key)
        return bool(values) and any(_value_matches(node, v) for v in values or ())
    if isinstance(node, Not):
        return not evaluate(node.operand, signals)
    if isinstance(node, And):
        return all(evaluate(op, signals) for op in node.operands)
    return any(evaluate(op, signals) for op in node.operands)


def rule_keys(node: Node) -> frozenset[str]:
    """The signal keys a rule reads (for indexing traits by key)."""
    if isinstance(node, Predicate):
        return frozenset({node.key})
    if isinstance(node, Not):
        return rule_keys(node.operand)
    keys: frozenset[str] = frozenset()
    for operand in node.operands:
        keys |= rule_keys(operand)
    return keys
