"""matchesregex (rules.md 1.4): the safe subset, the static guard, the per-request time budget."""

from __future__ import annotations

import re
import string
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalicelib.rules.catalog import compile_catalog
from chalicelib.rules.safe_regex import (
    RegexBudget,
    RegexBudgetExceeded,
    RegexRejected,
    check_pattern,
)
from chalicelib.rules.trait_rules import RuleError, parse_trait_rule


@pytest.mark.parametrize(
    "pattern",
    [
        r"(ab)+", r"(?:\d{3}-)?\d{4}", r"^9[0-4][0-9]{3}$", r"(?i)^ab-\d+$", r"\bfoo\B",
        r"\A\w\W\s\S\d\D\Z", r"[^a-z0-9_]", r"a{2}b{2,}c{0,100}", r"x*?y+?z??", r"a|b|c",
        r"((ab)?c)+", r"(a|b){0,1}", r"\.\*\+\?\(\)\[\]\{\}\|\\\^\$", r"a*b*c*", r"\t\x41",
        r"[]a]", r"a{", r"a}+",
    ],
)
def test_accepted_patterns(pattern: str) -> None:
    compiled = check_pattern(pattern)
    assert compiled.reference.pattern == pattern and compiled.timed.pattern == pattern


@pytest.mark.parametrize(
    ("pattern", "named", "offset"),
    [
        (r"\1", "backreference", 0),
        (r"(a)\1", "backreference", 3),
        (r"(?P<n>a)(?P=n)", "named group", 0),
        (r"a(?P=n)", "backreference", 1),
        (r"(?=a)", "lookaround (?=", 0),
        (r"(?!a)", "lookaround (?!", 0),
        (r"x(?<=a)", "lookaround (?<=", 1),
        (r"(?<!a)", "lookaround (?<!", 0),
        (r"(?<n>a)", "named group", 0),
        (r"(?(1)a|b)", "conditional", 0),
        (r"(?>a)", "atomic group", 0),
        (r"a*+", "possessive", 1),
        (r"a++", "possessive", 1),
        (r"a?+", "possessive", 1),
        (r"a{2,3}+", "possessive", 1),
        (r"(?s)a", "inline flags", 0),
        (r"(?i)(?i)a", "inline flags", 4),
        (r"a(?i)", "inline flags", 1),
        (r"(?i:a)", "inline flags", 0),
        (r"(?#note)a", "comment", 0),
        (r"\p{L}", r"\p{..}", 0),
        (r"\P{L}", r"\P{..}", 0),
        (r"\Qa.b\E", r"\Q..\E", 0),
        (r"a\z", r"\z", 1),
        (r"\Ga", r"\G", 0),
        (r"\h", r"\h", 0),
        (r"\R", r"\R", 0),
        (r"[a-z&&[^q]]", "&&", 4),
        (r"(a+)+", "repeated group", 0),
        (r"x(\w+\s?)*", "repeated group", 1),
        (r"(x|xy)+", "repeated group", 0),
        (r"(?:a(b|c))+", "repeated group", 0),
        (r"(a{2}){2,5}", "repeated group", 0),
        (r"a*b+c{2,}d*", "more than 3 unbounded", 10),
        (r"a{101}", "bound above 100", 1),
        (r"a{1,200}", "bound above 100", 1),
        (r"a{,5}", "lower bound", 1),
        (r"a[", "does not compile", 1),
        (r"(a", "does not compile", 0),
        (r"*a", "does not compile", 0),
        (r"a{3,2}", "does not compile", 2),
        ("a" * 257, "at most 256", 256),
    ],
)
def test_rejected_patterns_name_the_construct(pattern: str, named: str, offset: int) -> None:
    with pytest.raises(RegexRejected) as caught:
        check_pattern(pattern)
    assert named in caught.value.message
    assert caught.value.offset == offset


def test_rule_error_points_into_the_pattern() -> None:
    with pytest.raises(RuleError) as caught:
        parse_trait_rule(r'c_id matchesregex "ab\"c(?<=x)"')
    assert caught.value.position == 24  # the "(" of "(?<=", after the escaped quote
    assert "lookaround" in caught.value.message


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (r"^9[0-4][0-9]{3}$", "94107", True),
        (r"^9[0-4][0-9]{3}$", "95014", False),
        (r"(?i)^ab-\d+$", "Ab-77", True),
        (r"^ab-", "AB-77", False),
        (r"\w+", "é", False),  # re.ASCII: \w is [A-Za-z0-9_]
        (r"\d", "٣", False),
        (r"(?i)k", "\u212a", False),  # the Kelvin sign folds to k only outside ASCII mode
        (r"b$", "ab\n", True),  # $ also matches before a final newline, as in Python re
        (r"x", "a" * 1024 + "x", False),  # only the first 1,024 characters are matched
    ],
)
def test_semantics_match_python_re_ascii(pattern: str, value: str, expected: bool) -> None:
    catalog = compile_catalog({"trait": [{"sid": 1, "traitType": "RULE_BASED_TRAIT",
                                          "dataSourceId": 1,
                                          "traitRule": f'c_v matchesregex "{pattern}"'}]}, 1)
    assert (1 in catalog.realize_rule_traits({"c_v": [value]}).sids) is expected


# -- the dynamic guard ------------------------------------------------------------------------
def _catalog(*rules: str) -> Any:
    return compile_catalog({"trait": [
        {"sid": sid, "traitType": "RULE_BASED_TRAIT", "dataSourceId": 1, "traitRule": rule}
        for sid, rule in enumerate(rules, start=1)
    ]}, 1)


# Each passes the static guard (3 unbounded quantifiers, no repeated group) yet backtracks for
# seconds on 1,024 "a"s: the time budget is what stops them.
SLOW = ["a*a*a*(?:b|c)", "a*a*a*(?:b|d)"]


def test_a_slow_pattern_is_cut_by_the_budget_and_reported() -> None:
    catalog = _catalog(f'c_s matchesregex "{SLOW[0]}"', f'NOT c_s matchesregex "{SLOW[1]}"',
                       'c_s contains "aaa"')
    result = catalog.realize_rule_traits({"c_s": ["a" * 1024]}, regex_budget_ms=25.0)
    assert result.failed is True
    # Whichever slow trait runs first uses up the budget and is not realized; the other is
    # then skipped, even under NOT (its regex would be false, so NOT ... would be true).
    # The trait without a regex is still realized.
    assert result.sids == {3}


def test_an_exhausted_budget_skips_every_regex_trait_whatever_its_nots() -> None:
    catalog = _catalog('NOT c_s matchesregex "^zzz"', 'c_s matchesregex "^a"',
                       'c_s == "abc"', 'c_s == "abc" OR c_s matchesregex "x"')
    result = catalog.realize_rule_traits({"c_s": ["abc"]}, regex_budget_ms=0.0)
    assert result.failed is True
    assert result.sids == {3}


def test_a_regex_trait_the_event_cannot_realize_spends_no_budget() -> None:
    catalog = _catalog('c_s matchesregex "^a"', 'c_s == "abc"')
    result = catalog.realize_rule_traits({"c_other": ["abc"], "c_s": []}, regex_budget_ms=0.0)
    assert result == result.__class__(frozenset(), False)


def test_fast_patterns_within_the_budget_do_not_fail() -> None:
    catalog = _catalog('c_s matchesregex "^a"', 'NOT c_s matchesregex "^b"')
    result = catalog.realize_rule_traits({"c_s": ["abc"]}, regex_budget_ms=25.0)
    assert result.sids == {1, 2} and result.failed is False


class _StepClock:
    """Advances 2 ms at every reading: each search 'takes' 2 ms (two readings)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.002
        return self.now


def test_the_budget_is_the_total_regex_time_of_the_request() -> None:
    budget = RegexBudget(9.0, clock=_StepClock())
    pattern = check_pattern("^a").timed
    assert budget.search(pattern, "abc") is True  # 2 ms spent (between two readings)
    assert budget.search(pattern, "abc") is True
    assert budget.search(pattern, "xbc") is False
    assert budget.search(pattern, "abc") is True
    assert budget.search(pattern, "abc") is True  # 10 ms spent: more than 9
    with pytest.raises(RegexBudgetExceeded):
        budget.search(pattern, "abc")
    assert budget.exhausted


# -- re and regex agree on the subset ---------------------------------------------------------
ATOMS = ["a", "b", "1", " ", "-", ".", r"\d", r"\w", r"\s", r"\W", r"\b", "[a-c]", "[^a]",
         "^", "$", r"\A", r"\Z", r"\.", "é"]
QUANTS = ["", "", "?", "*", "+", "{2}", "{1,3}", "{0,}", "*?", "+?"]


@st.composite
def patterns(draw: Any) -> str:
    pieces = []
    for _ in range(draw(st.integers(1, 5))):
        atom = draw(st.sampled_from(ATOMS))
        if draw(st.integers(0, 4)) == 0:
            inner = "|".join(draw(st.lists(st.sampled_from(ATOMS[:8]), min_size=1, max_size=2)))
            atom = f"({inner})" if draw(st.booleans()) else f"(?:{inner})"
        quant = "" if atom in ("^", "$", r"\A", r"\Z", r"\b") else draw(st.sampled_from(QUANTS))
        pieces.append(atom + quant)
    prefix = "(?i)" if draw(st.booleans()) else ""
    return prefix + "".join(pieces)


@settings(max_examples=300, deadline=None)
@given(pattern=patterns(), values=st.lists(
    st.text(alphabet=string.ascii_letters[:4] + "AB19 -.\né\u212aß", max_size=12), max_size=5))
def test_the_timed_matcher_agrees_with_python_re(pattern: str, values: list[str]) -> None:
    try:
        compiled = check_pattern(pattern)
    except RegexRejected:
        assume(False)
        return
    budget = RegexBudget(10_000.0)
    for value in values:
        expected = re.search(pattern, value, re.ASCII) is not None
        assert compiled.search(value) is expected
        assert compiled.search_timed(value, budget) is expected
