"""rules.md 1.1 and 1.2, rule by rule: what parses, and where and why what does not."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.rules.trait_rules import (
    And,
    Not,
    Or,
    Predicate,
    RuleError,
    evaluate,
    parse_trait_rule,
)


def _error(rule: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        parse_trait_rule(rule)
    return caught.value


def _pred(rule: str) -> Predicate:
    node = parse_trait_rule(rule)
    assert isinstance(node, Predicate)
    return node


# -- whitespace and keywords ------------------------------------------------------------------
def test_whitespace_is_not_needed_around_parentheses_and_symbol_operators() -> None:
    node = parse_trait_rule('(c_a=="x")AND(c_b>=-2)OR NOT(c_c!=1)')
    assert isinstance(node, Or) and isinstance(node.operands[0], And)
    assert isinstance(node.operands[1], Not)


def test_space_tab_and_newlines_separate_tokens() -> None:
    assert isinstance(parse_trait_rule('c_a == "x"\n\tAND\r\n c_b == "y"'), And)


@pytest.mark.parametrize("word", ["AND", "and", "And", "aNd"])
def test_keywords_are_case_insensitive(word: str) -> None:
    assert isinstance(parse_trait_rule(f'c_a == "x" {word} c_b CONTAINS "y"'), And)


def test_a_keyword_needs_a_separator_from_a_key() -> None:
    error = _error('c_a == "x" ANDc_b == "y"')
    assert error.position == 11 and "AND, OR or the end" in error.message
    assert _pred('NOTc_a == "x"').key == "NOTc_a"  # a key that starts with NOT


# -- keys -------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["c_price2", "2price", "price-2", "h_user-agent", "-x", "A" * 100])
def test_valid_keys(key: str) -> None:
    assert _pred(f'{key} == "1"').key == key


@pytest.mark.parametrize(
    ("rule", "position", "says"),
    [
        ('2024 == "a"', 0, "at least one letter"),
        ('2-4 == "a"', 0, "at least one letter"),
        ('price$ == "a"', 5, "expected an operator"),
        ('Or == "a"', 0, "keyword 'Or'"),
        ('matchesRegex == "a"', 0, "keyword"),
        ("a" * 101 + ' == "a"', 0, "at most 100 characters"),
        ('c_é == "a"', 2, "expected an operator"),
        ('"c_a" == "a"', 0, "found a string"),
        ("", 0, "expected a signal key, NOT or '('"),
        ('NOT NOT c_a == "a"', 4, "keyword 'NOT'"),
    ],
)
def test_invalid_keys(rule: str, position: int, says: str) -> None:
    error = _error(rule)
    assert (error.position, says in error.message) == (position, True), error.message


def test_keys_are_case_sensitive() -> None:
    node = parse_trait_rule('c_section == "sports"')
    assert not evaluate(node, {"C_section": ["sports"]})
    assert evaluate(node, {"c_section": ["sports"]})


# -- strings ----------------------------------------------------------------------------------
def test_string_escapes() -> None:
    assert _pred(r'c_q == "say \"hi\" \\ ok"').literal == 'say "hi" \\ ok'
    assert _pred(r'c_q matchesregex "^\d{5}$"').literal == r"^\d{5}$"  # other pairs are kept
    assert _pred(r'c_q == "a\nb"').literal == r"a\nb"


def test_a_string_holds_at_most_1024_characters() -> None:
    assert len(_pred('c_q == "' + "x" * 1024 + '"').literal) == 1024
    error = _error('c_q == "' + "x" * 1025 + '"')
    assert error.position == 7 and "1024" in error.message
    # Counted after escapes: 1,024 quotes written as \" are 1,024 characters.
    assert len(_pred('c_q == "' + '\\"' * 1024 + '"').literal) == 1024


@pytest.mark.parametrize(
    ("rule", "position", "says"),
    [
        ('c_q == "abc', 7, "unterminated"),
        ('c_q == "ab\nc"', 7, "unterminated"),
        ('c_q == "ab\\"', 7, "unterminated"),
        ("c_q == 'abc'", 7, "single quotes"),
        ("c_q == abc", 7, "bare word 'abc'"),
        ('c_q contains abc', 13, "double-quoted string after contains"),
        ('c_q contains 12', 13, "double-quoted string after contains"),
    ],
)
def test_string_errors(rule: str, position: int, says: str) -> None:
    error = _error(rule)
    assert (error.position, says in error.message) == (position, True), error.message


# -- numbers ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("literal", "value"), [("0", "0"), ("-2", "-2"), ("1.50", "1.50"),
                                                ("007", "7"), ("-0.5", "-0.5")])
def test_numbers(literal: str, value: str) -> None:
    pred = _pred(f"c_n > {literal}")
    assert pred.numeric == Decimal(value) and pred.literal == literal


@pytest.mark.parametrize("literal", ["+1", ".5", "1.", "1e5", "1E5", "1.2.3", "0x10", "1_000",
                                     "--1", "1-2"])
def test_malformed_numbers(literal: str) -> None:
    error = _error(f"c_n > {literal}")
    assert error.position == 6 and "is not a number" in error.message


def test_thousands_separator_ends_the_number() -> None:
    error = _error("c_n > 1,000")
    assert error.position == 7 and "found ','" in error.message


def test_position_decides_key_or_literal() -> None:
    pred = _pred("2price > -2")
    assert (pred.key, pred.numeric) == ("2price", Decimal("-2"))


# -- operators --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("symbol", "canonical"),
    [("<", "<"), ("<=", "<="), (">", ">"), (">=", ">="), ("=>", ">="), ("==", "=="), ("!=", "!=")],
)
def test_symbol_operators(symbol: str, canonical: str) -> None:
    assert _pred(f"c_n {symbol} 3").op == canonical


@pytest.mark.parametrize(
    ("rule", "position", "says"),
    [
        ("c_n =< 3", 4, "'=<' is not an operator"),
        ('c_n = "a"', 4, "single '='"),
        ('c_n === "a"', 6, "found '='"),
        ('c_n <> "a"', 5, "found '>'"),
        ('c_n ~ "a"', 4, "expected an operator"),
        ('c_n like "a"', 4, "found 'like'"),
        ("c_n", 3, "found the end of the rule"),
        ('c_n > "abc"', 6, "needs a number"),
        ('c_n > " 5"', 6, "needs a number"),
        ('c_n > "+5"', 6, "needs a number"),
    ],
)
def test_operator_errors(rule: str, position: int, says: str) -> None:
    error = _error(rule)
    assert (error.position, says in error.message) == (position, True), error.message


def test_a_relational_string_literal_holding_a_number_is_a_number() -> None:
    pred = _pred('c_n >= "250"')
    assert pred.numeric == Decimal("250") and pred.is_string is False


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ('c_t contains ""', "non-empty"),
        ('c_t startswith ""', "non-empty"),
        ('c_t endswith ""', "non-empty"),
        ('c_t matcheswords ""', "1 to 20 words"),
        ('c_t matcheswords "   "', "1 to 20 words"),
        ('c_t matcheswords "' + " ".join(["w"] * 21) + '"', "1 to 20 words"),
        ('c_t matcheswords "a-b"', "'a-b' is not a word"),
    ],
)
def test_word_operator_literals(rule: str, says: str) -> None:
    assert says in _error(rule).message
    assert _pred('c_t matcheswords "' + " ".join(["w"] * 20) + '"').op == "matcheswords"


# -- grammar ----------------------------------------------------------------------------------
def test_precedence_not_and_or() -> None:
    node = parse_trait_rule('NOT c_a == "x" OR c_b == "y" AND NOT (c_c == "z" OR c_d == "w")')
    assert isinstance(node, Or)
    first, second = node.operands
    assert isinstance(first, Not) and isinstance(first.operand, Predicate)
    assert isinstance(second, And) and isinstance(second.operands[1], Not)
    assert isinstance(second.operands[1].operand, Or)


@pytest.mark.parametrize(
    ("rule", "position", "says"),
    [
        ('(c_a == "x"', 11, "')' to close the '(' at position 0"),
        ('c_a == "x")', 10, "unbalanced ')'"),
        ('c_a == "x" c_b == "y"', 11, "expected AND, OR or the end of the rule"),
        ('c_a == "x" AND', 14, "expected a signal key, NOT or '('"),
        ('c_a == "x" AND OR c_b == "y"', 15, "keyword 'OR'"),
        ("()", 1, "expected a signal key, NOT or '('"),
        ('NOT', 3, "expected a signal key or '('"),
    ],
)
def test_grammar_errors(rule: str, position: int, says: str) -> None:
    error = _error(rule)
    assert (error.position, says in error.message) == (position, True), error.message


# -- limits -----------------------------------------------------------------------------------
def test_rule_length_limit() -> None:
    rule = 'c_a == "' + "x" * 1000 + '"'
    long_rule = " OR ".join([rule] * 8)  # 8 x 1009 + 7 x 4 = 8,100 characters
    assert len(long_rule) <= 8192
    parse_trait_rule(long_rule)
    padded = long_rule + " " * (8193 - len(long_rule))
    error = _error(padded)
    assert error.position == 8192 and "8192" in error.message


def test_predicate_limit() -> None:
    parse_trait_rule(" OR ".join(["c_a == 1"] * 100))
    error = _error(" OR ".join(["c_a == 1"] * 101))
    assert error.position == 100 * 12 and "100 predicates" in error.message


def test_nesting_limit() -> None:
    parse_trait_rule("(" * 32 + "c_a == 1" + ")" * 32)
    error = _error("(" * 33 + "c_a == 1" + ")" * 33)
    assert error.position == 32 and "32 deep" in error.message


def test_regex_predicate_limit() -> None:
    parse_trait_rule(" OR ".join(['c_a matchesregex "a"'] * 10))
    error = _error(" OR ".join(['c_a matchesregex "a"'] * 11))
    assert error.position == 10 * 24 + 17 and "10 matchesregex" in error.message
