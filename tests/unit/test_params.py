"""dcs-protocol.md section 3: parsing, decoding, splitting, limits."""

from __future__ import annotations

import pytest

from chalicelib.dcs.params import (
    MAX_GET_BYTES,
    DecodeError,
    ParsedRequest,
    derive_header_signals,
    parse_request,
    percent_decode,
)


def _codes(parsed) -> list[int]:  # type: ignore[no-untyped-def]
    return [e.code for e in parsed.errors]


def test_body_values_split_on_raw_comma_before_decoding() -> None:
    parsed = parse_request("/event", None, b"c_cat=shoes,bags&c_one=shoes%2Cbags")
    assert parsed.signals == {"c_cat": ["shoes", "bags"], "c_one": ["shoes,bags"]}


def test_repeated_keys_append_in_order() -> None:
    parsed = parse_request("/event", None, b"k=a&k=b,c")
    assert parsed.signals["k"] == ["a", "b", "c"]


def test_surrounding_quotes_removed_and_empty_values_dropped() -> None:
    parsed = parse_request("/event", None, b"c_age=%2225%20to%2034%22&c_e=&c_f=,,")
    assert parsed.signals == {"c_age": ["25 to 34"]}


def test_plus_is_space_and_pairs_without_equals_ignored() -> None:
    parsed = parse_request("/event", None, b"c_q=a+b&novalue&=x")
    assert parsed.signals == {"c_q": ["a b"]}


def test_control_keys_first_wins_and_are_not_signals() -> None:
    parsed = parse_request("/event", None, b"d_rtbd=json&d_rtbd=gif&d_cb=cb&d_nsid=3")
    assert parsed.control("d_rtbd") == "json"
    assert "d_rtbd" not in parsed.signals and "d_cb" not in parsed.signals
    assert parsed.signals["d_nsid"] == ["3"]  # control and signal


def test_unlisted_d_keys_are_signals_and_bad_keys_ignored() -> None:
    parsed = parse_request("/event", None, b"d_dil_ver=1&bad%24key=1&2024=x")
    assert parsed.signals == {"d_dil_ver": ["1"]}


@pytest.mark.parametrize("body", [b"d_site=%esid!", b"c_x=%zz", b"c_x=%2", b"c_x=%ff", b"c_x=a%00"])
def test_bad_encoding_discards_request_with_311(body: bytes) -> None:
    parsed = parse_request("/event", None, body + b"&d_rtbd=json&c_ok=1")
    assert parsed.discard and _codes(parsed) == [311]
    assert parsed.signals == {}
    assert parsed.control("d_rtbd") == "json"  # still shapes the reply


def test_escaped_percent_passes() -> None:
    parsed = parse_request("/event", None, b"d_site=%25esid!&c_x=%25esid!")
    assert not parsed.discard and parsed.signals["c_x"] == ["%esid!"]


def test_get_values_checked_after_platform_decoding() -> None:
    bad = parse_request("/event", {"c_x": ["%zz"], "d_rtbd": ["json"]})
    assert bad.discard and _codes(bad) == [311]
    replaced = parse_request("/event", {"c_x": ["\ufffd"]})
    assert replaced.discard
    ok = parse_request("/event", {"c_x": ["a,b"], "d_cb": ["x"]})
    assert ok.signals["c_x"] == ["a", "b"]


def test_oversized_get_is_902() -> None:
    parsed = parse_request("/event", {"c_x": ["a" * MAX_GET_BYTES], "d_rtbd": ["json"]})
    assert parsed.discard and _codes(parsed) == [902]
    assert parsed.control("d_rtbd") == "json"


def test_oversized_post_body_is_902() -> None:
    parsed = parse_request("/event", None, b"c_x=" + b"a" * 40000)
    assert parsed.discard and _codes(parsed) == [902]


def test_limits_raise_904_and_drop_excess() -> None:
    values = ",".join(str(i) for i in range(150)).encode()
    parsed = parse_request("/event", None, b"c_many=" + values + b"&c_long=" + b"x" * 3000)
    assert _codes(parsed) == [904]
    assert len(parsed.signals["c_many"]) == 100
    assert "c_long" not in parsed.signals


def test_sid_values_split_and_capped() -> None:
    ids = ",".join(str(i) for i in range(120)).encode()
    parsed = parse_request("/event", None, b"d_sid=" + ids)
    assert len(parsed.sid_values) == 100 and _codes(parsed) == [904]


def test_percent_decode_strictness() -> None:
    assert percent_decode(b"a%2Cb+c%C3%A9") == "a,b cé"
    with pytest.raises(DecodeError):
        percent_decode(b"%C3")


def test_derived_header_signals_caller_wins() -> None:
    parsed = parse_request("/event", None, b"h_referer=https://caller.example/")
    derive_header_signals(
        parsed,
        {"Referer": "https://browser.example/", "User-Agent": "UA", "CloudFront-Viewer-Country": "GB"},
    )
    assert parsed.signals["h_referer"] == ["https://caller.example/"]
    assert parsed.signals["h_referrer"] == ["https://caller.example/"]  # copied, caller wins
    assert parsed.signals["h_user-agent"] == ["UA"]
    assert parsed.signals["d_country"] == ["UK"]


@pytest.mark.parametrize(("raw", "child"), [
    ("1", True), ("true", True), ("TRUE", True), ("True", True), (" 1 ", True),
    ("0", False), ("false", False), ("", False), ("yes", False), ("2", False), (None, False),
])
def test_d_coppa_is_read_one_way_on_every_route(raw: str | None, child: bool) -> None:
    parsed = ParsedRequest(controls={} if raw is None else {"d_coppa": raw})
    assert parsed.child_directed() is child
