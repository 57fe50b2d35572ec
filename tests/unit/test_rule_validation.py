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
