"""Save-time validation of trait and segment rules (rules.md 1.2, 1.4, 2.3).

The admin API calls these before storing anything: a rule that fails is never stored, and the
error names the field, the character position (when there is one) and what is wrong.
"""

from __future__ import annotations

from typing import Mapping

from chalicelib.rules.scanner import RuleError
from chalicelib.rules.segment_rules import (
    MAX_TRAIT_REFS,
    evaluate_segment,
    parse_segment_rule_positions,
    referenced_traits,
)
from chalicelib.rules.trait_rules import parse_trait_rule

RULE_BASED = "RULE_BASED_TRAIT"


class ValidationError(ValueError):
    """``code`` is the admin API's error code (admin-api.md, Errors). A plain class, not a
    dataclass: a dataclass costs 0.2-0.65 ms to create at import (bench/coldstart.py)."""

    def __init__(
        self, field: str, message: str, position: int | None = None, code: str = "invalid_rule"
    ) -> None:
        self.field = field
        self.message = message
        self.position = position
        self.code = code

    def __str__(self) -> str:
        where = f" at position {self.position}" if self.position is not None else ""
        return f"{self.field}: {self.message}{where}"


def validate_trait_rule(text: str) -> None:
    if not isinstance(text, str):
        raise ValidationError("traitRule", "must be a string")
    try:
        parse_trait_rule(text)
    except RuleError as exc:
        raise ValidationError("traitRule", exc.message, exc.position) from exc


def validate_segment_rule(text: str, trait_types: Mapping[int, str]) -> frozenset[int]:
    """Check a segment rule against the existing (not deleted) traits, ``sid -> traitType``.

    Returns the referenced trait ids (the admin API refuses to delete a trait in use).
    """
    if not isinstance(text, str):
        raise ValidationError("segmentRule", "must be a string")
    try:
        parsed = parse_segment_rule_positions(text)
    except RuleError as exc:
        raise ValidationError("segmentRule", exc.message, exc.position) from exc
    node = parsed.node
    references = referenced_traits(node)
    if len(references) > MAX_TRAIT_REFS:
        raise ValidationError(
            "segmentRule", f"a segment references at most {MAX_TRAIT_REFS} distinct traits, "
            f"found {len(references)}")
    missing = [sid for sid in references if sid not in trait_types]
    if missing:
        first = min(missing, key=lambda sid: parsed.positions[sid])
        raise ValidationError(
            "segmentRule", f"trait {first}T does not exist", parsed.positions[first],
            code="invalid_reference",
        )
    not_rule_based = [sid for sid in parsed.frequency_positions if trait_types[sid] != RULE_BASED]
    if not_rule_based:
        first = min(not_rule_based, key=lambda sid: parsed.frequency_positions[sid])
        raise ValidationError(
            "segmentRule",
            f"frequency needs rule-based traits; {first}T is {trait_types[first]}",
            parsed.frequency_positions[first],
        )
    # rules.md 2.3 rule 4: a rule true for a visitor with no realizations at all is refused.
    if evaluate_segment(node, {}, now=0.0):
        raise ValidationError(
            "segmentRule",
            "the rule is true for a visitor with no realizations (e.g. a bare NOT or "
            "frequency(...) <= n alone), so it would qualify users who never realized its traits",
        )
    return references
