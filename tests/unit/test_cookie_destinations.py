"""destinations.md, cookie destinations -> stuff."""

from __future__ import annotations

from chalicelib.destinations.cookie_defs import CookieDestination, CookieMapping
from chalicelib.destinations.cookies import encoded_size, stuff_items

NOW = 1_800_000_000.0


def _dest(**overrides) -> CookieDestination:  # type: ignore[no-untyped-def]
    fields = dict(
        destination_id=52, cookie_name="segs", format_type="single_key", single_key="seg",
        key_separator="=", value_separator=",", serialization_enabled=True,
        serialization_separator=";", max_size=2048, ttl_days=30, domain=".shop.example",
        mappings=(CookieMapping(1, "a", None, None), CookieMapping(2, "b", None, None),
                  CookieMapping(3, "c", None, None)),
    )
    fields.update(overrides)
    return CookieDestination(**fields)  # type: ignore[arg-type]


def test_single_key_joins_mapped_segments_in_mapping_order() -> None:
    assert stuff_items((_dest(),), {3, 1}, NOW) == [
        {"cn": "segs", "cv": "seg=a,c", "ttl": 30, "dmn": ".shop.example"}]


def test_no_item_without_a_mapped_segment() -> None:
    assert stuff_items((_dest(),), {99}, NOW) == []


def test_key_value_format_and_serialization() -> None:
    mappings = (CookieMapping(1, "k1=v1", None, None), CookieMapping(2, "k2=v2", None, None))
    serialized = _dest(format_type="key_value", mappings=mappings)
    single = _dest(format_type="key_value", mappings=mappings, serialization_enabled=False)
    assert stuff_items((serialized,), {1, 2}, NOW)[0]["cv"] == "k1=v1;k2=v2"
    assert stuff_items((single,), {1, 2}, NOW)[0]["cv"] == "k1=v1"


def test_max_size_drops_whole_values_from_the_end() -> None:
    limit = encoded_size("seg=a,b")
    assert stuff_items((_dest(max_size=limit),), {1, 2, 3}, NOW)[0]["cv"] == "seg=a,b"
    assert stuff_items((_dest(max_size=3),), {1}, NOW) == []


def test_mapping_dates_bound_output() -> None:
    ms = int(NOW * 1000)
    mappings = (CookieMapping(1, "past", None, ms - 1), CookieMapping(2, "future", ms + 1, None),
                CookieMapping(3, "live", ms - 1, ms + 1))
    assert stuff_items((_dest(mappings=mappings),), {1, 2, 3}, NOW)[0]["cv"] == "seg=live"
