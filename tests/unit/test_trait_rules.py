"""rules.md section 1 and the worked examples 1-29."""

from __future__ import annotations

import pytest

from chalicelib.rules.trait_rules import RuleError, evaluate, parse_trait_rule, rule_keys


def _eval(rule: str, signals: dict[str, list[str]]) -> bool:
    return evaluate(parse_trait_rule(rule), signals)


@pytest.mark.parametrize(
    ("number", "rule", "signals", "expected"),
    [
        (1, 'c_section == "Sports"', {"c_section": ["sports"]}, True),
        (2, 'c_section == "sports"', {"C_section": ["sports"]}, False),
        (3, "c_cart_total >= 250", {"c_cart_total": ["250.00"]}, True),
        (4, "c_cart_total >= 250", {"c_cart_total": ["USD250"]}, False),
        (5, "c_cart_total < 50", {}, False),
        (6, "NOT c_cart_total < 50", {}, True),
        (7, 'c_tag != "promo"', {"c_tag": ["promo", "clearance"]}, True),
        (8, 'NOT c_tag == "promo"', {"c_tag": ["promo", "clearance"]}, False),
        (9, 'c_brand == "acme"', {"c_brand": ["zeta", "ACME"]}, True),
        (10, "c_tier == 2", {"c_tier": ["2.0"]}, True),
        (11, 'c_tier == "2"', {"c_tier": ["2.0"]}, False),
        (12, 'c_q contains "tent"', {"c_q": ["Family Tents"]}, True),
        (13, 'c_path startswith "/outdoor/"', {"c_path": ["/sale/outdoor/"]}, False),
        (14, 'c_domain endswith ".edu"', {"c_domain": ["mail.school.EDU"]}, True),
        (15, 'c_title matcheswords "boots sandals"', {"c_title": ["Trail-boots for 2025"]}, True),
        (16, 'c_title matcheswords "boot"', {"c_title": ["bootstrap guide"]}, False),
        (17, 'c_zip matchesregex "^9[0-4][0-9]{3}$"', {"c_zip": ["94107"]}, True),
        (17, 'c_zip matchesregex "^9[0-4][0-9]{3}$"', {"c_zip": ["95014"]}, False),
        (18, r'c_sku matchesregex "(?i)^ab-\d+$"', {"c_sku": ["Ab-77"]}, True),
        (19, 'c_sku matchesregex "^ab-"', {"c_sku": ["AB-77"]}, False),
        (20, 'c_a == "x" OR c_b == "y" AND c_c == "z"', {"c_a": ["x"], "c_c": ["q"]}, True),
        (21, '(c_a == "x" OR c_b == "y") AND c_c == "z"', {"c_a": ["x"], "c_c": ["q"]}, False),
        (22, 'NOT c_a == "x" AND c_b == "y"', {"c_b": ["y"]}, True),
        (23, 'p_income > 75000 AND d_country == "uk"',
         {"p_income": ["80000"], "d_country": ["UK"]}, True),
        (24, "c_size => 10", {"c_size": ["10"]}, True),
        (25, 'c_color == "navy,red"', {"c_color": ["navy,red"]}, True),
        (25, 'c_color == "navy,red"', {"c_color": ["navy", "red"]}, False),
        (26, 'c_band == "25 to 34"', {"c_band": ["25 to 34"]}, True),
        (27, "c_score <= -0.5", {"c_score": ["-1"]}, True),
    ],
)
def test_worked_examples(
    number: int, rule: str, signals: dict[str, list[str]], expected: bool
) -> None:
    assert _eval(rule, signals) is expected, f"example {number}"


@pytest.mark.parametrize(
    "rule",
    [
        'c_x = "a"',  # single =
        '2024 == "a"',  # key without a letter
        "c_x == blue",  # bare word
        'c_x > "abc"',  # non-numeric relational literal
        r'c_x matchesregex "(\w+\s?)+$"',  # nested quantifier
        r'c_x matchesregex "(?<=id)\d+"',  # lookbehind
        "c_x =< 3",
        "c_x == 'a'",
        'Or == "a"',
        'c_x contains ""',
        '(c_x == "a"',
        'c_x == "a" c_y == "b"',
    ],
)
def test_rejected_rules(rule: str) -> None:
    with pytest.raises(RuleError):
        parse_trait_rule(rule)


def test_error_names_position_and_expectation() -> None:
    with pytest.raises(RuleError) as caught:
        parse_trait_rule('c_a == "x" AND c_b = "y"')
    assert caught.value.position == 19
    assert "==" in caught.value.message


def test_keys_may_start_with_digits_and_contain_dashes() -> None:
    assert _eval("2price > 3 AND price-2 < 1", {"2price": ["4"], "price-2": ["0"]})


def test_numbers_are_exact_decimals() -> None:
    assert _eval("c_p == 1.5", {"c_p": ["1.50"]})
    assert not _eval("c_p > 0.3", {"c_p": ["0.3"]})


def test_escaped_quotes_in_strings() -> None:
    assert _eval(r'c_q == "say \"hi\""', {"c_q": ['say "hi"']})


def test_keywords_are_case_insensitive() -> None:
    assert _eval('c_a == "x" and not c_b CONTAINS "y"', {"c_a": ["x"], "c_b": ["z"]})


def test_rule_keys_lists_every_key() -> None:
    node = parse_trait_rule('c_a == "x" OR NOT (c_b > 1 AND h_referer contains "x")')
    assert rule_keys(node) == {"c_a", "c_b", "h_referer"}
