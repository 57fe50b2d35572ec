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


# -- the grammar of 2.1, error by error --------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "position", "says"),
    [
        ("501 T", 0, "no space is allowed before T"),
        ("501", 0, "expected a trait reference"),
        ("T501", 0, "expected a trait reference"),
        ("501T AND5T", 5, "expected AND, OR or the end"),
        ("501TAND 5T", 0, "expected a trait reference"),
        ("501T AND", 8, "expected a trait reference such as 1234T, frequency or '(', NOT"),
        ("NOT NOT 5T", 4, "keyword 'NOT'"),
        ("(501T", 5, "')' to close the '(' at position 0"),
        ("501T)", 4, "unbalanced ')'"),
        ("frequency[5T] >= 1", 9, "'(' after frequency"),
        ("frequency(5T) >= 1", 10, "'[' to open"),
        ("frequency([]) >= 1", 11, "expected a trait reference"),
        ("frequency([5T,]) >= 1", 14, "expected a trait reference"),
        ("frequency([5T 6T]) >= 1", 14, "',' or ']'"),
        ("frequency([5T] <= 7 D) >= 1", 18, "no space is allowed before D"),
        ("frequency([5T] <= 7) >= 1", 18, "number of days such as 7D"),
        ("frequency([5T] <= 0D) >= 1", 18, "1 to 365"),
        ("frequency([5T] <= 366D) >= 1", 18, "1 to 365"),
        ("frequency([5T] < 3D) >= 1", 15, "recency operators are <=, >= and =>"),
        ("frequency([5T] =< 3D) >= 1", 15, "recency operators"),
        ("frequency([5T] == 3D) >= 1", 15, "recency operators"),
        ("frequency([5T]) > 2", 16, "'>' is not a frequency operator"),
        ("frequency([5T]) < 2", 16, "'<' is not a frequency operator"),
        ("frequency([5T]) != 2", 16, "'!=' is not a frequency operator"),
        ("frequency([5T]) = 2", 16, "'=' is not a frequency operator"),
        ("frequency([5T]) >= 101", 19, "0 to 100"),
        ("frequency([5T]) >= x", 19, "a whole number"),
        ("", 0, "expected a trait reference"),
    ],
)
def test_errors_give_position_and_expectation(rule: str, position: int, says: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_segment_rule(rule)
    assert (caught.value.position, says in caught.value.message) == (position, True), (
        caught.value.message)


def test_keywords_t_and_d_are_case_insensitive() -> None:
    node = parse_segment_rule(
        "5t and NOT 6T Or FREQUENCY([7t] <= 3d) => 1 AND Frequency([8T]) == 0"
    )
    assert referenced_traits(node) == {5, 6, 7, 8}
    assert evaluate_segment(node, _live(t7=[1]), NOW)
    assert evaluate_segment(node, _live(t5=[1]), NOW)
    assert not evaluate_segment(node, _live(t5=[1], t6=[1]), NOW)


def test_limits() -> None:
    parse_segment_rule("(" * 32 + "5T" + ")" * 32)
    with pytest.raises(RuleError) as caught:
        parse_segment_rule("(" * 33 + "5T" + ")" * 33)
    assert caught.value.position == 32
    fifty = " OR ".join(["frequency([5T]) >= 1"] * 50)
    parse_segment_rule(fifty)
    with pytest.raises(RuleError) as caught:
        parse_segment_rule(fifty + " OR frequency([5T]) >= 1")
    assert "50 frequency" in caught.value.message and caught.value.position == len(fifty) + 4
    long_rule = " OR ".join(["5T"] * 10923)
    assert len(long_rule) == 65534
    parse_segment_rule(long_rule)
    with pytest.raises(RuleError) as caught:
        parse_segment_rule(long_rule + "   ")
    assert caught.value.position == 65536


def test_recency_windows_are_rolling_days_with_inclusive_edges() -> None:
    recent = parse_segment_rule("frequency([5T] <= 2D) >= 1")
    old = parse_segment_rule("frequency([5T] >= 2D) >= 1")
    edge = {5: [NOW - 2 * DAY]}
    assert evaluate_segment(recent, edge, NOW) and evaluate_segment(old, edge, NOW)
    assert not evaluate_segment(recent, {5: [NOW - 2 * DAY - 1]}, NOW)
    assert not evaluate_segment(old, {5: [NOW - 2 * DAY + 1]}, NOW)


@pytest.mark.parametrize("ttl", [1])
def test_one_day_ttl_matches_the_48_minus_hour_rule(ttl: int) -> None:
    trait = TraitDef(1, "t", "RULE_BASED_TRAIT", 1, ttl_days=ttl)
    start = _utc("2025-03-10T00:00:00")
    for minutes in range(0, 24 * 60, 17):
        realized = start + minutes * 60
        hour = minutes // 60
        expected = start + hour * 3600 + (48 - hour) * 3600
        assert trait.expiry(realized) == expected
        assert trait.is_live(realized, expected - 1) and not trait.is_live(realized, expected)
