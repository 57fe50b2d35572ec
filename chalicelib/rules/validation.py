"""Save-time validation of trait and segment rules (rules.md 1.2, 1.4, 2.3).

The admin API calls these before storing anything: a rule that fails is never stored, and the
error names the field, the character position (when there is one) and what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from chalicelib.rules.segment_rules import (
    MAX_TRAIT_REFS,
    evaluate_segment,
    frequency_traits,
    parse_segment_rule,
    referenced_traits,
)
from chalicelib.rules.trait_rules import RuleError, parse_trait_rule

RULE_BASED = "RULE_BASED_TRAIT"


@dataclass
class ValidationError(ValueError):
    """``code`` is the admin API's error code (admin-api.md, Errors)."""

    field: str
    message: str
    position: int | None = None
    code: str = "invalid_rule"

    def __str__(self) -> str:
        where = f" at position {self.position}" if self.position is not None else ""
        return f"{self.field}: {self.message}{where}"


def validate_trait_rule(text: str) -> None:
    try:
        parse_trait_rule(text)
    except RuleError as exc:
        raise ValidationError("traitRule", exc.message, exc.position) from exc


def validate_segment_rule(text: str, trait_types: Mapping[int, str]) -> frozenset[int]:
    """Check a segment rule against the existing (not deleted) traits, ``sid -> traitType``.

    Returns the referenced trait ids (the admin API refuses to delete a trait in use).
    """
    try:
        node = parse_segment_rule(text)
    except RuleError as exc:
        raise ValidationError("segmentRule", exc.message, exc.position) from exc
    references = referenced_traits(node)
    if len(references) > MAX_TRAIT_REFS:
        raise ValidationError("segmentRule", f"references more than {MAX_TRAIT_REFS} traits")
    missing = sorted(sid for sid in references if sid not in trait_types)
    if missing:
        raise ValidationError(
            "segmentRule", f"trait {missing[0]}T does not exist", code="invalid_reference"
        )
    not_rule_based = sorted(sid for sid in frequency_traits(node) if trait_types[sid] != RULE_BASED)
    if not_rule_based:
        raise ValidationError(
            "segmentRule",
            f"frequency needs rule-based traits; {not_rule_based[0]}T is not one",
        )
    # rules.md 2.3 rule 4: a rule true for a visitor with no realizations at all is refused.
    if evaluate_segment(node, {}, now=0.0):
        raise ValidationError(
            "segmentRule",
            "the rule is true for a visitor with no realizations (e.g. a bare NOT)",
        )
    return references
