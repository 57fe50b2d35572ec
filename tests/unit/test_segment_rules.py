"""rules.md section 2 and the worked examples 30-47 (validation ones live with the catalog)."""

from __future__ import annotations

import datetime as dt

import pytest

from chalicelib.rules.catalog import TraitDef
from chalicelib.rules.segment_rules import evaluate_segment, parse_segment_rule, referenced_traits
from chalicelib.rules.trait_rules import RuleError

NOW = 1_800_000_000.0
DAY = 86400.0


def _live(**days_ago: list[float]) -> dict[int, list[float]]:
    return {int(k[1:]): [NOW - d * DAY for d in v] for k, v in days_ago.items()}


@pytest.mark.parametrize(
    ("rule", "live", "expected"),
    [
        ("501T AND NOT 502T", _live(t501=[1]), True),
        ("501T AND NOT 502T", _live(t501=[1], t502=[3]), False),
        ("601T OR 602T AND 603T", _live(t601=[0]), True),
        ("(601T OR 602T) AND 603T", _live(t601=[0]), False),
        ("frequency([710T] <= 3D) >= 2", _live(t710=[1, 2.5]), True),
        ("frequency([710T] <= 3D) >= 2", _live(t710=[1, 4]), False),
        ("frequency([710T, 711T] <= 7D) >= 3", _live(t710=[1, 5], t711=[6]), True),
        ("FREQUENCY([720T] >= 14D) >= 1", _live(t720=[20]), True),
        ("FREQUENCY([720T] >= 14D) >= 1", _live(t720=[3]), False),
        ("frequency([730T]) == 2", _live(t730=[1, 2]), True),
        ("frequency([730T]) == 2", _live(t730=[1, 2, 3]), False),
        ("740T AND frequency([740T]) <= 4", _live(t740=[1, 2, 3, 4]), True),
        ("740T AND frequency([740T]) <= 4", _live(t740=[1, 2, 3, 4, 5]), False),
        ("frequency([820T] <= 7D) >= 1 AND frequency([820T] >= 30D) >= 1",
         _live(t820=[40, 2]), True),
        ("frequency([710T, 710T]) == 1", _live(t710=[1]), True),  # listed twice counts once
    ],
)
def test_worked_examples(rule: str, live: dict[int, list[float]], expected: bool) -> None:
    assert evaluate_segment(parse_segment_rule(rule), live, NOW) is expected


@pytest.mark.parametrize(
    "rule",
    ["frequency([750T] <= 0D) >= 1", "frequency([730T]) > 2", "501 T", "501T AND", "(501T",
     "frequency([730T]) >= 101"],
)
def test_rejected(rule: str) -> None:
    with pytest.raises(RuleError):
        parse_segment_rule(rule)


def test_referenced_traits() -> None:
    node = parse_segment_rule("1T AND (2T OR NOT frequency([3T, 4T] <= 2D) >= 1)")
    assert referenced_traits(node) == {1, 2, 3, 4}


def _utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()


def test_one_day_ttl_rule_example_42() -> None:
    trait = TraitDef(760, "t", "RULE_BASED_TRAIT", 1, ttl_days=1)
    realized = _utc("2025-03-10T22:30:00")
    assert trait.is_live(realized, _utc("2025-03-11T23:59:00"))
    assert not trait.is_live(realized, _utc("2025-03-12T00:00:00"))


def test_ttl_counts_from_latest_realization_example_43() -> None:
    trait = TraitDef(770, "t", "RULE_BASED_TRAIT", 1, ttl_days=30)
    latest = 25 * DAY
    assert trait.is_live(latest, 50 * DAY)
    assert not trait.is_live(latest, 56 * DAY)


def test_ttl_zero_never_expires() -> None:
    assert TraitDef(1, "t", "RULE_BASED_TRAIT", 1, ttl_days=0).is_live(0, 10**10)
