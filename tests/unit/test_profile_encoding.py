"""The packed trait and guard encodings (round trips, bounds) and DynamoDB's item size rules."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.store.item_size import (
    expression_sizes,
    item_size,
    number_size,
    value_size,
    write_units,
)
from chalicelib.store.packed import (
    CorruptBlob,
    Guard,
    Realizations,
    decode_guard,
    decode_traits,
    encode_guard,
    encode_traits,
)

NOW = 1_800_000_000

_records = st.dictionaries(
    st.integers(min_value=1, max_value=10**9),
    st.builds(
        lambda stamps, extra: Realizations(sorted(stamps), len(stamps) + extra),
        st.lists(st.integers(min_value=0, max_value=NOW), min_size=1, max_size=100),
        st.integers(min_value=0, max_value=10**6),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(_records)
def test_traits_round_trip(traits: dict[int, Realizations]) -> None:
    assert decode_traits(encode_traits(traits)) == traits


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=NOW),
                          st.one_of(st.text(max_size=40),
                                    st.binary(min_size=8, max_size=8).map(
                                        lambda b: __import__("base64").b64encode(b).decode()))),
                max_size=70),
       st.integers(min_value=0, max_value=NOW))
def test_guard_round_trips_in_applied_order(entries: list[tuple[int, str]], since: int) -> None:
    decoded = decode_guard(encode_guard(Guard(entries, since)))
    assert decoded.entries == entries and decoded.since == since


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1, 63, 64, 65, 8191, 8192, 8193, 70_000, -1, -64,
                                           -5000]),
                          st.one_of(st.text(max_size=12),
                                    st.sampled_from(["AAAAAAAAAAA=", "AAAAAAAAAAB=",
                                                     "AAAAAAAAAA==", "AAAAAAAAAAAA",
                                                     "AAAAAAAAAA8=", "/+/+/+/+/+w="]),
                                    st.binary(min_size=8, max_size=8).map(
                                        lambda b: __import__("base64").b64encode(b).decode()))),
                max_size=70))
def test_guard_round_trips_with_close_times_and_near_raw_ids(
        steps: list[tuple[int, str]]) -> None:
    # Events seconds to hours apart (1-3 byte deltas, the inline decode path) and ids that
    # look like, but are not, canonical 8-byte base64 (stored as text, read back unchanged).
    when, entries = NOW, []
    for step, event_id in steps:
        when -= step
        entries.append((when, event_id))
    blob = encode_guard(Guard(entries, 5))
    decoded = decode_guard(blob)
    assert decoded.entries == entries and decoded.since == 5
    for cut in range(1, len(blob)):  # every truncation is refused, none misread
        try:
            decode_guard(blob[:cut])
        except CorruptBlob:
            continue
        raise AssertionError(f"truncated at {cut} decoded")


def test_a_trait_realized_once_costs_a_few_bytes_and_ten_thousand_with_three_fit() -> None:
    one = {sid: Realizations([NOW - sid], 1) for sid in range(1000, 11_000)}
    assert len(encode_traits(one)) < 10_000 * 6
    # Three stamps each, spread over a day (a heavy visitor's working set).
    three = {sid: Realizations([NOW - 86_400 + sid, NOW - 40_000 + sid, NOW - sid], 3)
             for sid in range(1000, 11_000)}
    assert len(encode_traits(three)) < 110 * 1024


def test_corrupt_blobs_are_refused_not_misread() -> None:
    blob = encode_traits({7: Realizations([NOW], 2)})
    for bad in (blob[:-1], blob + b"\x00", b"\x09" + blob[1:], b""):
        try:
            decode_traits(bad)
        except (CorruptBlob, IndexError):
            continue
        raise AssertionError(f"decoded {bad!r}")


def test_guard_since_advances_with_what_is_dropped() -> None:
    guard = Guard()
    for i in range(100):
        guard.record(f"e{i}", NOW + i, keep=64, window_s=86_400, now=NOW + i)
    assert len(guard.entries) == 64 and guard.entries[0] == (NOW + 99, "e99")
    assert guard.since == NOW + 35  # e35 was the last dropped
    assert guard.proves(NOW + 36) and not guard.proves(NOW + 35)
    guard.record("late", NOW + 200_000, keep=64, window_s=86_400, now=NOW + 200_000)
    assert [e for _, e in guard.entries] == ["late"]  # the others fell out of the 24 h window
    assert not guard.proves(NOW + 99)


# ---- DynamoDB's size rules ("DynamoDB item sizes and formats", developer guide) ----------------


def test_strings_and_binaries_count_utf8_and_raw_bytes_plus_the_name() -> None:
    assert item_size({"name": "Ann"}) == 4 + 3
    assert item_size({"n": "é"}) == 1 + 2  # UTF-8
    assert item_size({"b": b"\x00" * 10}) == 1 + 10  # raw bytes, not base64
    assert item_size({"ok": True, "none": None}) == (2 + 1) + (4 + 1)


def test_numbers_count_pairs_of_significant_digits_plus_one() -> None:
    assert number_size(Decimal(0)) == 1
    assert number_size(Decimal(7)) == 2 and number_size(Decimal(12)) == 2
    assert number_size(Decimal(123)) == 3 and number_size(Decimal(12345)) == 4
    assert number_size(Decimal(1000)) == 2  # trailing zeros are trimmed
    assert number_size(Decimal("0.001")) == 2  # so are leading ones
    assert number_size(Decimal(10**37)) == 2
    assert number_size(Decimal("1800000000.123")) == 8  # 10 + 3 digits, aligned on the point
    assert number_size(Decimal(-12345)) == 4


def test_lists_maps_and_sets() -> None:
    assert value_size([]) == 3 and value_size({}) == 3
    assert value_size(["ab", "c"]) == 3 + (2 + 1) + (1 + 1)  # 1 byte per element
    assert value_size({"k": "vv"}) == 3 + 1 + 2 + 1  # key name, value, element byte
    assert value_size({"a", "bc"}) == 3  # a set is the sum of its elements
    assert value_size({Decimal(12), Decimal(3)}) == 2 + 2


def test_capacity_units_and_expression_sizes() -> None:
    assert write_units(0, 1024) == 1 and write_units(1025, 10) == 2  # the larger item counts
    sizes = expression_sizes({"ConditionExpression": "#v = :v", "Item": {}})
    assert sizes == {"ConditionExpression": 7}


def test_integer_sizes_match_the_decimal_rule() -> None:
    """The int fast path of number_size agrees with the Decimal computation everywhere."""
    import random
    from decimal import Decimal as D

    from chalicelib.store.item_size import number_size

    rng = random.Random(17)
    # Up to 28 digits: beyond, Decimal.normalize() rounds to its context precision.
    values = [0, 1, -1, 10, 100, 1000, 120, 1200, 99, 101, 10**28 - 1, -(10**20)]
    values += [rng.randrange(-10**18, 10**18) * 10 ** rng.randrange(0, 6) for _ in range(3000)]
    for value in values:
        assert number_size(value) == number_size(D(value)), value
