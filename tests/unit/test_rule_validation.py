"""rules.md 2.3 validation examples (31, 39, 41, 44, 46) through the save-time validator."""

from __future__ import annotations

import pytest

from chalicelib.rules.validation import ValidationError, validate_segment_rule, validate_trait_rule

TRAITS = {5: "RULE_BASED_TRAIT", 6: "RULE_BASED_TRAIT", 501: "RULE_BASED_TRAIT",
          502: "RULE_BASED_TRAIT", 740: "RULE_BASED_TRAIT", 880: "ON_BOARDED_TRAIT"}


@pytest.mark.parametrize(
    ("rule", "code"),
    [
        ("NOT 502T", "invalid_rule"),
        ("5T OR NOT 6T", "invalid_rule"),
        ("frequency([5T]) <= 2", "invalid_rule"),
        ("frequency([740T]) <= 4", "invalid_rule"),
        ("frequency([880T]) >= 1", "invalid_rule"),
        ("501T AND 999999T", "invalid_reference"),
        ("501T AND", "invalid_rule"),
    ],
)
def test_rejected_segment_rules(rule: str, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_segment_rule(rule, TRAITS)
    assert caught.value.field == "segmentRule" and caught.value.code == code


@pytest.mark.parametrize(
    "rule", ["5T AND NOT 6T", "5T AND frequency([5T]) <= 2", "740T AND frequency([740T]) <= 4",
             "880T"],
)
def test_accepted_segment_rules(rule: str) -> None:
    assert validate_segment_rule(rule, TRAITS)


def test_trait_rule_error_carries_position() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_trait_rule('c_a == "x" AND c_b = "y"')
    assert (caught.value.field, caught.value.position) == ("traitRule", 19)


def test_missing_trait_error_points_at_its_first_mention() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_segment_rule("501T AND (999999T OR 888888T) AND 999999T", TRAITS)
    error = caught.value
    assert (error.code, error.position) == ("invalid_reference", 10)
    assert "999999T" in error.message


def test_frequency_of_an_onboarded_trait_points_inside_the_list() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_segment_rule("880T AND frequency([501T, 880T] <= 7D) >= 1", TRAITS)
    assert caught.value.position == 26 and "880T" in caught.value.message


def test_at_most_5000_distinct_traits() -> None:
    many = {sid: "RULE_BASED_TRAIT" for sid in range(1, 5002)}
    assert len(validate_segment_rule(" OR ".join(f"{s}T" for s in range(1, 5001)), many)) == 5000
    with pytest.raises(ValidationError) as caught:
        validate_segment_rule(" OR ".join(f"{s}T" for s in range(1, 5002)), many)
    assert "5000" in caught.value.message


def test_returns_every_referenced_trait() -> None:
    assert validate_segment_rule("501T AND frequency([5T, 6T]) >= 1", TRAITS) == {501, 5, 6}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('c_a == "x" AND c_b = "y"', "single '='"),
        ('c_x matchesregex "(a+)+"', "repeated group"),
        ("c_x > \"abc\"", "needs a number"),
    ],
)
def test_trait_rule_errors_carry_the_parser_message(rule: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_trait_rule(rule)
    assert message in caught.value.message and caught.value.code == "invalid_rule"


def test_non_string_rules_are_refused() -> None:
    with pytest.raises(ValidationError):
        validate_trait_rule(5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        validate_segment_rule(None, TRAITS)  # type: ignore[arg-type]
