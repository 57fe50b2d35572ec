"""The regular-expression dialect of ``matchesregex`` (rules.md 1.4).

Patterns are Python ``re`` patterns restricted to a safe subset. ``check_pattern`` is the
save-time (static) guard: a small scanner names every rejected construct with its offset in the
pattern, ``re`` must compile what is left, and the backtracking guard looks at the group tree.
``SafeRegex`` holds two compiled forms: Python ``re`` (the reference semantics) and the
``regex`` package (same semantics with ``VERSION0 | ASCII``, plus a ``timeout=`` argument), which
the event path uses under a per-request time budget (``RegexBudget``).
"""

from __future__ import annotations

import re
import string
import time
import warnings
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import regex

MAX_PATTERN_CHARS = 256
MAX_REPEAT_BOUND = 100
MAX_UNBOUNDED_QUANTIFIERS = 3
MATCH_CHARS = 1024  # each value is matched on its first 1,024 characters (rules.md 1.3 rule 8)

_QUANTIFIER_BRACES = re.compile(r"\{([0-9]*)(,?)([0-9]*)\}")
_JAVA_ESCAPES = {
    "p": r"\p{..}",
    "P": r"\P{..}",
    "Q": r"\Q..\E",
    "E": r"\Q..\E",
    "z": r"\z",
    "G": r"\G",
    "h": r"\h",
    "R": r"\R",
}
# Escapes that stand for one literal character (not listed in rules.md, but literal characters
# are allowed and these are how a pattern writes a tab, a newline or a code point).
_LITERAL_ESCAPES = frozenset("tnrfva0xuUN")
_CLASS_ESCAPES = frozenset("dDwWsS")
_ESCAPE_DIGITS = {"x": (string.hexdigits, 2), "u": (string.hexdigits, 4),
                  "U": (string.hexdigits, 8), "0": (string.octdigits, 2)}
# Group extensions that are rejected by name, longest prefixes first.
_EXTENSIONS = (
    ("<=", "lookaround (?<= is"),
    ("<!", "lookaround (?<! is"),
    ("P=", "a backreference (?P=name) is"),
    ("P<", "a named group (?P<name>...) is"),
    ("=", "lookaround (?= is"),
    ("!", "lookaround (?! is"),
    ("(", "a conditional (?( is"),
    (">", "an atomic group (?> is"),
    ("#", "a comment (?# is"),
)
_ASSERTION_ESCAPES = frozenset("bBAZ")


class RegexRejected(ValueError):
    """A pattern outside the safe subset; ``offset`` indexes the pattern."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at offset {offset} of the pattern)")
        self.message = message
        self.offset = offset


# Not dataclasses: import cost on a cold start (chalicelib/core/records.py).
class _Quant:
    __slots__ = ("low", "high", "text")

    def __init__(self, low: int, high: int | None, text: str) -> None:
        self.low = low
        self.high = high  # None: unbounded
        self.text = text


class _Item:
    __slots__ = ("start", "group", "quant", "end", "literal", "anchor")

    def __init__(
        self,
        start: int,
        group: _Group | None = None,  # None: a single-character atom (literal, class, escape, .)
        quant: _Quant | None = None,
        end: int = 0,
        literal: str | None = None,  # the character, for a plain literal
        anchor: str | None = None,  # "start" for ^ and \A, "other" for $ \Z \b \B
    ) -> None:
        self.start = start
        self.group = group
        self.quant = quant
        self.end = end
        self.literal = literal
        self.anchor = anchor


class _Group:
    __slots__ = ("start", "branches")

    def __init__(self, start: int) -> None:
        self.start = start
        self.branches: list[list[_Item]] = [[]]


class _Scanner:
    """Tokenizes a pattern into a group tree, rejecting named constructs as it meets them."""

    def __init__(self, pattern: str, start: int) -> None:
        self.p = pattern
        self.i = start
        self.root = _Group(start)
        self.stack: list[_Group] = [self.root]
        self.open_items: list[_Item] = []
        self.broken = False  # a syntax error that re will name (unbalanced, dangling, ...)

    def scan(self) -> _Group:
        p = self.p
        while self.i < len(p) and not self.broken:
            char = p[self.i]
            if char == "\\":
                start = self.i
                self._escape(in_class=False)
                self._escape_atom(start)
            elif char == "[":
                start = self.i
                self._char_class()
                self._atom(start)
            elif char == "(":
                self._open_group()
            elif char == ")":
                self._close_group()
            elif char == "|":
                self.stack[-1].branches.append([])
                self.i += 1
            elif char in "*+?":
                self._quantifier(char, char)
            elif char == "{" and self._braces():
                pass
            elif char in "^$":
                self.i += 1  # anchors take no quantifier; re rejects "^*"
                self._atom(self.i - 1, anchor="start" if char == "^" else "other")
            else:
                start = self.i
                self.i += 1
                self._atom(start, literal=char if char != "." else None)
        if len(self.stack) != 1:
            self.broken = True
        return self.root

    # -- atoms ------------------------------------------------------------------------------
    def _atom(self, start: int, literal: str | None = None, anchor: str | None = None) -> None:
        self.stack[-1].branches[-1].append(
            _Item(start=start, end=self.i, literal=literal, anchor=anchor)
        )

    def _escape_atom(self, start: int) -> None:
        """An escape outside a class: a literal (escaped punctuation), an anchor, or other."""
        text = self.p[start:self.i]
        literal = text[1] if len(text) == 2 and not text[1].isalnum() else None
        anchor = {"\\A": "start", "\\Z": "other", "\\b": "other", "\\B": "other"}.get(text)
        self._atom(start, literal=literal, anchor=anchor)

    def _escape(self, in_class: bool) -> None:
        p, at = self.p, self.i
        if at + 1 >= len(p):
            self.broken = True
            self.i = len(p)
            return
        char = p[at + 1]
        if char in "123456789":
            raise RegexRejected(f"backreferences are not allowed (\\{char})", at)
        if char == "k":
            raise RegexRejected("backreferences are not allowed (\\k<name>)", at)
        if char in _JAVA_ESCAPES:
            raise RegexRejected(f"Java-only syntax {_JAVA_ESCAPES[char]} is not allowed", at)
        allowed = (
            not char.isalnum()
            or char in _LITERAL_ESCAPES
            or char in _CLASS_ESCAPES
            or (char in _ASSERTION_ESCAPES and not in_class)
            or (char == "b" and in_class)
        )
        if not allowed:
            self.broken = True  # re names the bad escape
        self.i = at + 2
        if char == "N" and self.i < len(p) and p[self.i] == "{":
            end = p.find("}", self.i)
            self.i = len(p) if end < 0 else end + 1
        elif char in _ESCAPE_DIGITS:  # \xhh \uhhhh \Uhhhhhhhh \0oo: one character
            digits, count = _ESCAPE_DIGITS[char]
            while count and self.i < len(p) and p[self.i] in digits:
                self.i += 1
                count -= 1

    def _char_class(self) -> None:
        p = self.p
        self.i += 1
        if self.i < len(p) and p[self.i] == "^":
            self.i += 1
        first = True
        while self.i < len(p):
            char = p[self.i]
            if char == "]" and not first:
                self.i += 1
                return
            if char == "\\":
                self._escape(in_class=True)
            elif p.startswith("&&", self.i):
                raise RegexRejected("class intersection && (Java-only syntax) is not allowed",
                                    self.i)
            else:
                self.i += 1
            first = False
        self.broken = True  # unterminated character set

    # -- groups -----------------------------------------------------------------------------
    def _open_group(self) -> None:
        p, at = self.p, self.i
        if p.startswith("(?", at):
            self._group_extension(at)
            if self.broken:
                return
        else:
            self.i += 1
        group = _Group(at)
        item = _Item(start=at, group=group)
        self.stack[-1].branches[-1].append(item)
        self.stack.append(group)
        self.open_items.append(item)

    def _group_extension(self, at: int) -> None:
        rest = self.p[at + 2:at + 5]
        for prefix, name in _EXTENSIONS:
            if rest.startswith(prefix):
                raise RegexRejected(f"{name} not allowed", at)
        if rest.startswith("<"):
            raise RegexRejected("a named group (?<name>...) is not allowed", at)
        if rest.startswith(":"):
            self.i = at + 3
            return
        match = re.match(r"\(\?[-a-zA-Z]*[:)]", self.p[at:])
        if match:
            raise RegexRejected(
                f"inline flags other than one leading (?i) are not allowed ({match.group(0)})", at
            )
        self.broken = True  # an extension re does not know: re names it

    def _close_group(self) -> None:
        if len(self.stack) == 1:
            self.broken = True
            return
        self.stack.pop()
        self.i += 1
        self.open_items.pop().end = self.i

    # -- quantifiers ------------------------------------------------------------------------
    def _braces(self) -> bool:
        match = _QUANTIFIER_BRACES.match(self.p, self.i)
        if not match or match.group(0) == "{}":
            return False  # a literal "{", as in Python re
        low, comma, high = match.groups()
        text = match.group(0)
        if not low:
            raise RegexRejected(f"quantifier {text} needs a lower bound (write {{0{text[1:]})",
                                self.i)
        bound_high: int | None = int(low) if not comma else (int(high) if high else None)
        if int(low) > MAX_REPEAT_BOUND or (bound_high or 0) > MAX_REPEAT_BOUND:
            raise RegexRejected(
                f"quantifier {text} has a bound above {MAX_REPEAT_BOUND}", self.i
            )
        self._quantifier(text, text, int(low), bound_high, width=len(text))
        return True

    def _quantifier(
        self, symbol: str, text: str, low: int | None = None, high: int | None = None,
        width: int = 1,
    ) -> None:
        at = self.i
        self.i += width
        if symbol == "*":
            low, high = 0, None
        elif symbol == "+":
            low, high = 1, None
        elif symbol == "?":
            low, high = 0, 1
        if self.i < len(self.p) and self.p[self.i] == "+":
            raise RegexRejected(
                f"possessive quantifiers ({text}+) are not allowed", at
            )
        if self.i < len(self.p) and self.p[self.i] == "?":
            self.i += 1  # the lazy form: same shape for the guard
        branch = self.stack[-1].branches[-1]
        if not branch or branch[-1].quant is not None:
            self.broken = True  # nothing to repeat / multiple repeat: re names it
            return
        assert low is not None
        branch[-1].quant = _Quant(low, high, self.p[at:self.i])
        branch[-1].end = self.i


def _has_quantifier_or_alternation(group: _Group) -> str | None:
    """What makes this group's body unsafe to repeat, if anything."""
    if len(group.branches) > 1:
        return "|"
    for branch in group.branches:
        for item in branch:
            if item.quant is not None and not (item.quant.low == 0 and item.quant.high == 1):
                return f"quantifier {item.quant.text.rstrip('?') or item.quant.text}"
            if item.group is not None:
                inner = _has_quantifier_or_alternation(item.group)
                if inner:
                    return inner
    return None


def _repeats(quant: _Quant) -> bool:
    # *, +, {m,} and {m,n} with n > 1 (and {m} with m > 1, which is {m,m}).
    return quant.high is None or quant.high > 1


def _walk(group: _Group) -> list[_Item]:
    items: list[_Item] = []
    for branch in group.branches:
        for item in branch:
            items.append(item)
            if item.group is not None:
                items.extend(_walk(item.group))
    return items


def _backtracking_guard(pattern: str, root: _Group) -> None:
    items = _walk(root)
    for item in items:
        if item.group is not None and item.quant is not None and _repeats(item.quant):
            reason = _has_quantifier_or_alternation(item.group)
            if reason:
                snippet = pattern[item.start:item.end]
                raise RegexRejected(
                    f"a repeated group must not contain a {reason} "
                    f"(nested repetition backtracks): {snippet}",
                    item.start,
                )
    unbounded = [item for item in items if item.quant is not None and item.quant.high is None]
    if len(unbounded) > MAX_UNBOUNDED_QUANTIFIERS:
        extra = unbounded[MAX_UNBOUNDED_QUANTIFIERS]
        raise RegexRejected(
            f"more than {MAX_UNBOUNDED_QUANTIFIERS} unbounded quantifiers (*, +, {{m,}})",
            extra.end - len(extra.quant.text) if extra.quant else extra.start,
        )


def _required_literals(root: _Group) -> tuple[str, list[str]]:
    """(prefix, runs): text every match must start with (after ^ or \\A), and literal runs
    every match contains. Used only to index rules (a necessary condition), never to match."""
    if len(root.branches) != 1:
        return "", []
    items = root.branches[0]
    anchored = bool(items) and items[0].anchor == "start"
    prefix_open, prefix = anchored, ""
    runs: list[str] = []
    current: list[str] = []
    for item in items[1 if anchored else 0:]:
        if item.literal is not None and (item.quant is None or item.quant.low >= 1):
            current.append(item.literal)
            if item.quant is None:
                continue  # the run goes on; a repeated literal appears once, then ends it
        if prefix_open:
            prefix, prefix_open = "".join(current), False
        if current:
            runs.append("".join(current))
            current = []
    if prefix_open:
        prefix = "".join(current)
    if current:
        runs.append("".join(current))
    return prefix, runs


class SafeRegex:
    """A checked pattern, compiled for the reference (``re``) and the timed (``regex``) matcher."""

    __slots__ = ("pattern", "reference", "timed", "prefix", "literals")

    def __init__(
        self,
        pattern: str,
        reference: re.Pattern[str],
        timed: regex.Pattern[str],
        prefix: str = "",  # every match starts with it (case-insensitively under (?i))
        literals: tuple[str, ...] = (),  # every match contains each of them (same caveat)
    ) -> None:
        self.pattern = pattern
        self.reference = reference
        self.timed = timed
        self.prefix = prefix
        self.literals = literals

    def search(self, value: str) -> bool:
        """Reference semantics, no time limit (tests and save-time evaluation)."""
        return self.reference.search(value[:MATCH_CHARS]) is not None

    def search_timed(self, value: str, budget: RegexBudget) -> bool:
        """Matches under the request's budget; raises ``RegexBudgetExceeded`` when it runs out."""
        return budget.search(self.timed, value[:MATCH_CHARS])


def check_pattern(pattern: str) -> SafeRegex:
    """The static guard of rules.md 1.4; raises ``RegexRejected`` naming the construct."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexRejected(f"a pattern is at most {MAX_PATTERN_CHARS} characters",
                            MAX_PATTERN_CHARS)
    start = 4 if pattern.startswith("(?i)") else 0
    scanner = _Scanner(pattern, start)
    root = scanner.scan()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            reference = re.compile(pattern, re.ASCII)
    except re.error as exc:
        raise RegexRejected(f"the pattern does not compile: {exc.msg}", exc.pos or 0) from exc
    except (FutureWarning, DeprecationWarning) as exc:
        # Nested sets "[[", set operators "--", "||", "~~": their meaning differs in other
        # engines (Java) and may change in Python, so they are refused like "&&".
        raise RegexRejected(f"ambiguous character-class syntax: {exc}", 0) from exc
    if scanner.broken:  # re compiled what the scanner could not follow: be safe
        raise RegexRejected("the pattern uses syntax outside the allowed subset", 0)
    _backtracking_guard(pattern, root)
    import regex  # here, not at module level: most catalogs have no matchesregex (~6 ms import)

    try:
        timed = regex.compile(pattern, regex.ASCII | regex.VERSION0)
    except regex.error as exc:  # pragma: no cover - the subset compiles in both
        raise RegexRejected(f"the pattern does not compile: {exc}", 0) from exc
    prefix, runs = _required_literals(root)
    return SafeRegex(pattern, reference, timed, prefix, tuple(runs))


class RegexBudgetExceeded(Exception):
    """The request's regex time budget ran out (error 10)."""


class RegexBudget:
    """Total regex time allowed in one request (rules.md 1.4, ``rules.regex_budget_ms``).

    Each search gets the time left as its ``timeout``; the time it took is deducted. Once the
    budget is spent, every later search raises at once.
    """

    def __init__(self, budget_ms: float, clock: Callable[[], float] = time.perf_counter) -> None:
        self.remaining = max(0.0, budget_ms / 1000.0)
        self.exhausted = False
        self._clock = clock

    def search(self, pattern: regex.Pattern[str], value: str) -> bool:
        if self.exhausted or self.remaining <= 0.0:
            self.exhausted = True
            raise RegexBudgetExceeded()
        started = self._clock()
        try:
            found = pattern.search(value, timeout=self.remaining) is not None
        except TimeoutError as exc:
            self.remaining = 0.0
            self.exhausted = True
            raise RegexBudgetExceeded() from exc
        self.remaining -= self._clock() - started
        return found
