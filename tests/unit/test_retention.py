"""What the profile keeps for the catalog's rules (chalicelib/rules/retention.py), and that
segments stay right after the store trims to it (rules.md section 3 examples 34-45)."""

from __future__ import annotations

from typing import Any

from chalicelib.rules.catalog import DAY, compile_catalog
from chalicelib.rules.retention import CatalogRetention, stamps_needed
from chalicelib.store.profiles import Profile, ProfileChanges, apply_changes

NOW = 1_800_000_000.0


def _catalog(segments: dict[int, str], ttl: int = 120) -> Any:
    traits = [{"sid": sid, "name": f"t{sid}", "traitType": "RULE_BASED_TRAIT", "dataSourceId": 1,
               "traitRule": f'c_x == "{sid}"', "ttl": ttl} for sid in (710, 711, 720, 820, 900)]
    return compile_catalog({
        "trait": traits,
        "segment": [{"sid": sid, "name": f"s{sid}", "segmentRule": rule, "status": "active"}
                    for sid, rule in segments.items()],
    }, 1)


def test_stamps_needed_follow_the_frequency_expressions() -> None:
    catalog = _catalog({
        1: "frequency([710T] <= 3D) >= 2",  # newest 2 decide; 3 kept
        2: "frequency([710T, 711T]) == 4",  # 5 tell "more than 4"
        3: "FREQUENCY([720T] >= 14D) >= 1",  # old ones count: the spec's 100
        4: "900T",  # no frequency: 1
    })
    assert stamps_needed(catalog) == {710: 5, 711: 5, 720: 100}
    retention = CatalogRetention(catalog)
    assert retention.stamps_kept(900) == 1 and retention.stamps_kept(710) == 5
    assert retention.stamps_kept(123456) == 100  # unknown here: left as it is


def test_expiry_follows_the_trait_ttl_and_unknown_traits_never_expire() -> None:
    retention = CatalogRetention(_catalog({}, ttl=30))
    assert retention.expired(710, NOW - 31 * DAY, NOW)
    assert not retention.expired(710, NOW - 29 * DAY, NOW)
    assert not retention.expired(5555, 0, NOW)


def _after(catalog: Any, stamps: dict[int, list[float]]) -> set[int]:
    """Realize ``stamps`` through the store, trimmed by the catalog, then evaluate."""
    profile = Profile("u")
    for sid, times in stamps.items():
        for t in sorted(times):
            profile = apply_changes(profile, ProfileChanges(now=t, add_stamps={sid: int(t)}),
                                    CatalogRetention(catalog))
    live = {sid: [float(s) for s in r.stamps] for sid, r in profile.traits.items()}
    return catalog.evaluate_segments(live, NOW)


def test_segments_stay_right_after_trimming_to_what_rules_read() -> None:
    catalog = _catalog({
        34: "frequency([710T] <= 3D) >= 2",
        38: "710T AND frequency([710T]) == 2",
        45: "frequency([820T] <= 7D) >= 1 AND frequency([820T] >= 30D) >= 1",
    })
    many_recent = [NOW - i * 3600 for i in range(50)]  # 50 realizations in two days
    # 45: a user who returned after 30+ days keeps the old stamp although newer ones pile up
    assert 45 in _after(catalog, {820: [NOW - 40 * DAY, *many_recent]})
    assert 34 in _after(catalog, {710: [NOW - DAY, NOW - 2.5 * DAY]})
    assert 34 not in _after(catalog, {710: [NOW - DAY, NOW - 4 * DAY]})
    assert 38 in _after(catalog, {710: [NOW - 2, NOW - 1]})
    assert 38 not in _after(catalog, {710: [NOW - 3, NOW - 2, NOW - 1]})  # 3 kept, not 2
