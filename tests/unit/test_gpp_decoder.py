"""The GPP decoder (chalicelib/consent/gpp.py, gpp_sections.py) against IAB's reference decoder.

Expected values come from tests/fixtures/gpp/reference_decodes.json (@iabgpp/cmpapi 3.2.0 on
136 strings, most of them from IAB's and Prebid's own test suites; see its README). Nothing
expected here is encoded by hand, except the named strictness cases and the small
``gpp_sid`` and length cases at the end.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.consent.gpp import (
    MAX_GPP_LENGTH,
    MAX_SECTION_ID,
    GppError,
    decode_gpp,
    parse_gpp_sid,
)
from tests.gpp_vectors import BY_ID, RESULTS  # noqa: E402 (after the module's imports)

VALID = [r for r in RESULTS if r["valid"]]
MALFORMED = [r for r in RESULTS if not r["valid"]]

# Sections the decoder leaves out on purpose: tcfcav1 (rtdcs does not act on it) and 24-27
# (encoding still in public comment, privacy-signals.md section 2).
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

NOT_DECODED = frozenset({5, 24, 25, 26, 27})

# Strings the reference decoder accepts and rtdcs refuses (the spec: strict on malformed
# input). fixture id -> the applicable ids that make it an error (None: whatever applies).
# The first five are the fixture README's "Lenient decoding" list.
STRICT_REJECTS: dict[str, frozenset[int] | None] = {
    "edge-empty-string": None,  # an empty string: no GPP string at all
    "tcfeuv2-bare-tc-string": None,  # a TC string without a GPP header
    "edge-header-extra-bits": None,  # a set padding bit after the header's last field
    "edge-extra-gpc-segment": frozenset({7}),  # a third '.' segment: usnat defines two
    "edge-uspv1-odd-letter": frozenset({6}),  # '1XNN': uspv1 letters are Y, N and -
    # A 60-bit core under usmn's 42-bit layout (an iabgpp-java test string): a set bit after
    # the last field, so the fields cannot be what the encoder meant (MspaCoveredTransaction
    # reads 0).
    "all-sections-java-b": frozenset({23}),
}


def _ids(result: dict[str, Any]) -> tuple[int, ...]:
    return tuple(result["header"]["SectionIds"]) if result["header"] else ()


def _decodable(result: dict[str, Any]) -> tuple[int, ...]:
    """The header's ids minus those a strictness case rejects."""
    rejected = STRICT_REJECTS.get(result["id"]) or frozenset()
    return tuple(i for i in _ids(result) if i not in rejected)


def _reference_fields(section: dict[str, Any]) -> dict[str, Any]:
    """Every segment's fields (the reference decoder's uncut view), flat as ``fields`` is."""
    if section["name"] == "tcfeuv2":  # rtdcs exposes the core segment only
        return dict(section["segments"][0]["fields"])
    merged: dict[str, Any] = {}
    for segment in section["segments"]:
        merged.update(segment["fields"])
    # The reference's `fields` leaves out GpcSegmentIncluded (and SensitiveDataConsent... of 25-27).
    return {k: v for k, v in merged.items() if not k.endswith("SegmentIncluded")}


def _is_strict_case(result: dict[str, Any], section_id: int) -> bool:
    if result["id"] not in STRICT_REJECTS:
        return False
    rejected = STRICT_REJECTS[result["id"]]
    return rejected is None or section_id in rejected


def _sections(results: list[dict[str, Any]], strict_cases: bool = True) -> list[Any]:
    return [pytest.param(r, s, id=f"{r['id']}-{s['name']}")
            for r in results for s in r["sections"]
            if strict_cases or not _is_strict_case(r, s["id"])]


# -- valid strings, field by field ----------------------------------------------------------


def test_the_fixture_is_the_one_described() -> None:
    assert len(RESULTS) == 136 and len(MALFORMED) == 36
    assert set(STRICT_REJECTS) <= {r["id"] for r in VALID}


@pytest.mark.parametrize("result", [r for r in VALID if r["id"] not in STRICT_REJECTS],
                         ids=lambda r: r["id"])
def test_every_valid_string_decodes_with_the_reference_section_ids(result: dict) -> None:
    gpp = decode_gpp(result["gpp"])
    assert gpp.section_ids == _ids(result)
    assert gpp.missing == ()
    expected = {s["id"] for s in result["sections"]} - NOT_DECODED
    assert set(gpp.sections) == expected
    # Ids the reference decoder skips (1, 28) are skipped here too, without an error.
    assert not set(result["skipped_section_ids"]) & set(gpp.sections)


@pytest.mark.parametrize(("result", "section"), _sections(VALID, strict_cases=False))
def test_every_section_has_the_reference_fields(result: dict, section: dict) -> None:
    """Strictness cases are left out: test_strict_cases_raise_where_the_reference_accepts."""
    sid = section["id"]
    if sid in NOT_DECODED:
        gpp = decode_gpp(result["gpp"], [sid])
        assert sid not in gpp.sections and gpp.missing == (sid,)
        return
    decoded = decode_gpp(result["gpp"], _decodable(result)).sections[sid]
    assert (decoded.id, decoded.name, decoded.encoded) == (sid, section["name"],
                                                           section["encoded"])
    assert dict(decoded.fields) == _reference_fields(section)


@pytest.mark.parametrize(("result", "section"), _sections(VALID))
def test_the_reference_views_differ_only_by_the_usnat_version_1_cut(
        result: dict, section: dict) -> None:
    """`fields` (what Prebid saw) is the uncut view but for usnat Version 1, where iabgpp-es
    keeps 12 sensitive and 2 child flags (fixture README item 1); rtdcs keeps them all."""
    reference = _reference_fields(section)
    shown = section["fields"]
    if section["name"] == "usnat" and reference["Version"] == 1:
        for name, kept in (("SensitiveDataProcessing", 12), ("KnownChildSensitiveDataConsents", 2)):
            assert shown[name] == reference[name][:kept]
            reference[name] = shown[name]
    if section["name"] == "tcfeuv2":
        shown = {k: v for k, v in shown.items() if k in reference}
    assert shown == reference


def test_a_usnat_short_payload_reads_the_short_layout_and_pads_it() -> None:
    """Layout by length: the 66-bit core of Version 2 is the 12/2 layout, shown as 16/3."""
    result = BY_ID["usnat-v2-short-payload"]
    fields = decode_gpp(result["gpp"]).sections[7].fields
    assert fields["Version"] == 2
    assert fields == _reference_fields(result["sections"][0])
    assert len(fields["SensitiveDataProcessing"]) == 16


def test_tcfeuv2_fields_are_built_only_when_read() -> None:
    section = decode_gpp(BY_ID["tcfeuv2-es-encode-publisher"]["gpp"]).sections[2]
    assert section.fields["VendorConsents"] == [1, 2, 3, 4]
    assert list(section.fields) == list(BY_ID["tcfeuv2-es-encode-publisher"]["sections"][0]
                                        ["segments"][0]["fields"])


# -- malformed strings ----------------------------------------------------------------------

# The reference decoder names the section segment that failed; anything else (the header, the
# count of sections, a blank section) is the string's structure.
_SECTION_ERROR = re.compile(r"Unable to decode (?!HeaderV1)\w+ ?[Ss]egment '")


def _is_section_error(result: dict[str, Any]) -> bool:
    return bool(_SECTION_ERROR.match(result["error"]["message"]))


@pytest.mark.parametrize("result", MALFORMED, ids=lambda r: r["id"])
def test_every_malformed_string_raises_when_its_sections_apply(result: dict) -> None:
    with pytest.raises(GppError):
        decode_gpp(result["gpp"])
    with pytest.raises(GppError):
        decode_gpp(result["gpp"], _ids(result))


@pytest.mark.parametrize("result", [r for r in MALFORMED if not _is_section_error(r)],
                         ids=lambda r: r["id"])
def test_a_malformed_structure_raises_whatever_applies(result: dict) -> None:
    with pytest.raises(GppError):
        decode_gpp(result["gpp"], ())


@pytest.mark.parametrize("result", [r for r in MALFORMED if _is_section_error(r)],
                         ids=lambda r: r["id"])
def test_a_malformed_section_that_does_not_apply_is_not_decoded(result: dict) -> None:
    """privacy-signals.md 2: "Sections not listed are not decoded"."""
    gpp = decode_gpp(result["gpp"], ())
    assert gpp.section_ids == _ids(result) and gpp.sections == {}
    other = decode_gpp(result["gpp"], [99])
    assert other.missing == (99,)


def test_the_malformed_list_has_both_kinds() -> None:
    kinds = [_is_section_error(r) for r in MALFORMED]
    assert kinds.count(True) >= 10 and kinds.count(False) >= 10


@pytest.mark.parametrize("fixture_id", sorted(STRICT_REJECTS))
def test_strict_cases_raise_where_the_reference_accepts(fixture_id: str) -> None:
    result = BY_ID[fixture_id]
    assert result["valid"]  # the reference decoder took it
    rejected_when = STRICT_REJECTS[fixture_id]
    with pytest.raises(GppError):
        decode_gpp(result["gpp"])
    if rejected_when is None:
        with pytest.raises(GppError):
            decode_gpp(result["gpp"], ())
        return
    with pytest.raises(GppError):
        decode_gpp(result["gpp"], rejected_when)
    # Only the section is at fault: the rest of the string decodes.
    gpp = decode_gpp(result["gpp"], _decodable(result))
    assert gpp.section_ids == _ids(result)


def test_listed_sections_the_string_lacks_are_missing() -> None:
    gpp = decode_gpp(BY_ID["uspv1-1YNN"]["gpp"], [6, 7, 6])
    assert set(gpp.sections) == {6} and gpp.missing == (7,)


def test_unknown_ids_are_skipped_and_missing_when_listed() -> None:
    gpp = decode_gpp(BY_ID["unknown-section-id-28-with-uspv1"]["gpp"], [28, 6])
    assert gpp.section_ids == (6, 28) and set(gpp.sections) == {6} and gpp.missing == (28,)


def test_the_length_limit() -> None:
    with pytest.raises(GppError, match="longer than"):
        decode_gpp("D" * (MAX_GPP_LENGTH + 1))
    with pytest.raises(GppError) as at_limit:
        decode_gpp("D" * MAX_GPP_LENGTH)
    assert "longer than" not in str(at_limit.value)


def _header(entry_bits: str) -> str:
    """A GPP header (type 3, version 1, one range entry) as text, padded as the reference
    encoder pads (to whole bytes, then to whole characters)."""
    bits = "000011" "000001" "000000000001" + entry_bits
    bits += "0" * (-len(bits) % 8)
    bits += "0" * (-len(bits) % 6)
    return "".join(_BASE64URL[int(bits[i : i + 6], 2)] for i in range(0, len(bits), 6))


def test_a_header_built_here_decodes_as_the_reference_did() -> None:
    assert _header("0" "10011") + "~1YNN" == BY_ID["uspv1-1YNN"]["gpp"]  # id 6 = 1 + 5


def test_a_huge_header_range_is_refused_before_it_is_expanded() -> None:
    # A range from id 1 over 1597 more ids (the longest Fibonacci code allowed), one section.
    with pytest.raises(GppError, match="more sections"):
        decode_gpp(_header("1" "11" + "0" * 15 + "11") + "~1YNN")


def test_a_fibonacci_code_is_bounded() -> None:
    with pytest.raises(GppError, match="longer than"):
        decode_gpp(_header("1" "11" + "0" * 16 + "11") + "~1YNN")


# -- gpp_sid --------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [
    ("7", (7,)), ("7,8", (7, 8)), ("8,7", (8, 7)), ("2,6,2", (2, 6)), ("", ()),
    ("-1", ()), ("0", ()), ("2,-1", (2,)), (str(MAX_SECTION_ID), (MAX_SECTION_ID,)),
])
def test_parse_gpp_sid(raw: str, expected: tuple[int, ...]) -> None:
    assert parse_gpp_sid(raw) == expected


@pytest.mark.parametrize("raw", [
    "7,", ",7", "7,,8", " 7", "7 ,8", "7;8", "a", "+7", "-2", "7.0", "1e1",
    str(MAX_SECTION_ID + 1), "1000", "\u0663", "\u00b2", "７", "7" * 300,
])
def test_parse_gpp_sid_refuses_junk(raw: str) -> None:
    with pytest.raises(GppError):
        parse_gpp_sid(raw)


# -- fuzz -----------------------------------------------------------------------------------

_HEADERS = sorted({r["gpp"].split("~")[0] for r in RESULTS if r["gpp"].startswith("DB")})
_SECTION_TEXT = st.text(alphabet=_BASE64URL + ".", max_size=40)


def _mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from([r["gpp"] for r in RESULTS if r["gpp"]]))
    at = draw(st.integers(0, len(text) - 1))
    char = draw(st.sampled_from(_BASE64URL + ".~=+ "))
    return text[:at] + char + text[at + 1 :]


_GPP_LIKE = st.one_of(
    st.text(max_size=200),
    st.builds(lambda h, parts: "~".join([h, *parts]), st.sampled_from(_HEADERS),
              st.lists(_SECTION_TEXT, max_size=4)),
    st.composite(_mutated)(),
)


@settings(max_examples=800, deadline=None)
@given(raw=_GPP_LIKE, applicable=st.one_of(st.none(), st.lists(st.integers(0, 30), max_size=4)))
def test_decode_gpp_raises_nothing_but_gpp_error(raw: str, applicable: list[int] | None) -> None:
    try:
        decode_gpp(raw, applicable)
    except GppError:
        pass


@settings(max_examples=400, deadline=None)
@given(raw=st.one_of(st.text(max_size=40), st.text(alphabet="0123456789,-", max_size=20)))
def test_parse_gpp_sid_raises_nothing_but_gpp_error(raw: str) -> None:
    try:
        ids = parse_gpp_sid(raw)
    except GppError:
        return
    assert all(1 <= i <= MAX_SECTION_ID for i in ids) and len(set(ids)) == len(ids)
