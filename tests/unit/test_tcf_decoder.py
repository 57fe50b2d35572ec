"""The TCF v2 TC string decoder (chalicelib/consent/tcf.py) and its VendorSet."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.consent import (
    ConsentError,
    PublisherRestriction,
    TCString,
    VendorSet,
    decode_tc_string,
)
from tests.tcf_encoder import (
    CoreFields,
    Restriction,
    bits_to_base64url,
    core_bits,
    encode_tc_string,
)

# -- published strings with known decoded values ---------------------------------------------
# From IAB Tech Lab's reference Java decoder tests, InteractiveAdvertisingBureau/iabtcf-java,
# iabtcf-decoder/src/test/java/com/iabtcf/decoder/TCStringV2Test.java
# (testCanConstructTCModelFromBase64String; "created here https://www.iabtcf.com/#/encode").
JAVA_METADATA = "COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA"
# Same file, testConstructConsentsFromBitFields / testCanParseAllParts (4 segments, the last
# one base64-padded with '=').
JAVA_BITFIELDS = (
    "COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA"
)
JAVA_ALL_PARTS = JAVA_BITFIELDS + ".IBAgAAAgAIAwgAgAAAAEAAAACA.QAagAQAgAIAwgA.cAAAAAAAITg="
# Same file, testRange (range-encoded vendor consents) and
# testCanParseRangeEncodedVendorLegitimateInterests.
JAVA_TWO_RANGE = "COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAYFfAV-BVkAGBVYFWAAA"
JAVA_ONE_RANGE = "COwBOpCOwBOpCLqAAAENAPCAAAAAAAAAAAAAFfwAQFfgUbABAUaAAA"
JAVA_RANGE_LI = "COv__-wOv__-wC2AAAENAPCgAAAAAAAAAAAAA_wAQA_gEBABAEAAAA"
# A CMP-produced string from IAB's JavaScript library tests, InteractiveAdvertisingBureau/
# iabtcf-es, modules/core/test/ReportedIssues.test.ts, "201 unable to decode valid TCF2
# String": its purpose-1 "require consent" restriction lists vendors 7, 20, 71, 122, 140, 183.
ES_ISSUE_201 = (
    "CO4VGswO4VGswAfZCBDEAzCsAP_AAH_AAAigGUNf_X9fb2vj-_599_t0eY1f9_63t-wzjheMs-8NyZ-X_J4Wv2"
    "MyvB34JqQKGRgkunLBAQdtHGncTQgBwIlViTLMY02MjzNKJrJEilsbe2dYGH9vn8XT_ZKZ70-_v__7v3___33"
    "_5Ayhr_6_r7e18f3_Pvv9ujzGr_v_W9v2GccLxln3huTPy_5PC1-xmV4O_BNSBQyMEl05YICDto407iaEAOBEq"
    "sSZZjGmxkeZpRNZIkUtjb2zrAw_t8_i6f7JTPen39___d-___--__ICgKAOAAcAA4AFAAjgB6AEYALcGACAW0A"
    "toJAHAAOAAcACgARwA9ACMAFuFABALaAW0GgDgAHAAOABQAI4AegBGAC3DgAgFtALaEQBwADgAHAAoAEcAPQAj"
    "ABbiQAQC2gFtCoA4ABwADgAUACOAHoARgAtxYAIBbQC2hkAcAA4ABwAKABHAD0AIwAW40AEAtoBbQ6AOAAcAA4"
    "AFAAjgB6AEYALceACAW0AtohAHAAOAAcACgARwA9ACMAFuRABALaAW0SgDgAHAAOABQAI4AegBGAC3JgAgFtAL"
    "aKQBwADgAHAAoAEcAPQAjABblQAQC2gFtA"
)
# A TCF v1.1 string from the same iabtcf-es file ("156 it should auto detect 1 version").
ES_V1 = (
    "BOhwdphOxFC7tAHABBFRC--AAAAuhr_7__7-_9_-_f__9uj3Or_v_f__32ccL59v_h_7v-_7fi_20nV4u_1vft9y"
    "fk1-5ctDztp507iakivXmqdeb9v_nz3_5pxP78k89r7337Ew_v8_v-b7BCON_YxEiA"
)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_published_string_metadata_fields() -> None:
    tc = decode_tc_string(JAVA_METADATA)
    assert tc.version == 2
    assert tc.created_at == _utc("2020-01-26T17:01:00")
    assert tc.last_updated_at == _utc("2021-02-02T17:01:00")
    assert tc.cmp_id == 675
    assert tc.cmp_version == 2
    assert tc.consent_screen == 1
    assert tc.vendor_list_version == 15
    assert tc.tcf_policy_version == 2
    assert tc.consent_language == "EN"
    assert tc.publisher_cc == "AA"
    assert tc.is_service_specific is False
    assert tc.purpose_one_treatment is True
    assert tc.use_non_standard_texts is False
    assert tc.special_feature_opt_ins == frozenset({1})
    assert tc.purposes_consent == frozenset({2, 10})
    assert tc.purposes_li_transparency == frozenset({2, 9})


def test_published_string_bitfield_vendor_sections() -> None:
    tc = decode_tc_string(JAVA_BITFIELDS)
    assert tc.purposes_consent == frozenset({3, 4, 5, 6, 7, 8, 9})
    assert tc.vendor_consents == frozenset({23, 37, 47, 48, 53, 65, 98})
    assert tc.vendor_legitimate_interests == frozenset({37, 47, 48, 53, 65, 98, 129})


def test_published_string_later_segments_do_not_change_the_core() -> None:
    # Only the disclosed vendors (TCF v2.3) are read from the later segments.
    assert decode_tc_string(JAVA_ALL_PARTS)._replace(disclosed_vendors=None) == (
        decode_tc_string(JAVA_BITFIELDS))


def test_published_strings_range_vendor_sections() -> None:
    assert decode_tc_string(JAVA_TWO_RANGE).vendor_consents == frozenset({702, 703})
    assert decode_tc_string(JAVA_ONE_RANGE).vendor_consents == frozenset({703})
    assert decode_tc_string(JAVA_RANGE_LI).vendor_legitimate_interests == frozenset({128})


def test_published_cmp_string_publisher_restrictions() -> None:
    tc = decode_tc_string(ES_ISSUE_201)
    assert tc.version == 2
    purpose_1_require_consent = [
        r.vendor_ids
        for r in tc.publisher_restrictions
        if (r.purpose_id, r.restriction_type) == (1, 1)
    ]
    assert purpose_1_require_consent == [frozenset({7, 20, 71, 122, 140, 183})]


def test_encoder_reproduces_a_published_string_bit_for_bit() -> None:
    # Checks the test encoder itself against the outside world, not against our decoder.
    fields = CoreFields(
        created=15_800_580_600,  # 2020-01-26T17:01:00Z in deciseconds
        last_updated=16_122_852_600,  # 2021-02-02T17:01:00Z
        cmp_id=675,
        cmp_version=2,
        consent_screen=1,
        vendor_list_version=15,
        tcf_policy_version=2,
        special_feature_opt_ins=[1],
        purposes_consent=[2, 10],
        purposes_li_transparency=[2, 9],
        purpose_one_treatment=True,
        publisher_cc="AA",
    )
    assert encode_tc_string(fields) == JAVA_METADATA


# -- round trips -----------------------------------------------------------------------------
def _expected(f: CoreFields) -> TCString:
    return TCString(
        version=f.version,
        created=f.created,
        last_updated=f.last_updated,
        cmp_id=f.cmp_id,
        cmp_version=f.cmp_version,
        consent_screen=f.consent_screen,
        consent_language=f.consent_language,
        vendor_list_version=f.vendor_list_version,
        tcf_policy_version=f.tcf_policy_version,
        is_service_specific=f.is_service_specific,
        use_non_standard_texts=f.use_non_standard_texts,
        special_feature_opt_ins=frozenset(f.special_feature_opt_ins),
        purposes_consent=frozenset(f.purposes_consent),
        purposes_li_transparency=frozenset(f.purposes_li_transparency),
        purpose_one_treatment=f.purpose_one_treatment,
        publisher_cc=f.publisher_cc,
        vendor_consents=VendorSet.of(f.vendor_consents),
        vendor_legitimate_interests=VendorSet.of(f.vendor_legitimate_interests),
        publisher_restrictions=tuple(
            PublisherRestriction(r.purpose_id, r.restriction_type, VendorSet.of(r.vendor_ids))
            for r in f.publisher_restrictions
        ),
    )


_letters = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2)
_encoding = st.sampled_from(["bitfield", "range"])


@st.composite
def _vendor_ids(draw: st.DrawFn, encoding: str) -> frozenset[int]:
    # Bitfields grow with the highest ID (a 4,096-char string holds ~24,000 bits).
    top = 3000 if encoding == "bitfield" else 65535
    clustered = st.integers(1, 200)
    return frozenset(draw(st.sets(st.one_of(clustered, st.integers(1, top)), max_size=60)))


@st.composite
def _core_fields(draw: st.DrawFn) -> CoreFields:
    consent_enc = draw(_encoding)
    li_enc = draw(_encoding)
    restrictions = draw(
        st.lists(
            st.builds(
                Restriction,
                purpose_id=st.integers(0, 63),
                restriction_type=st.integers(0, 3),
                vendor_ids=st.sets(st.integers(1, 65535), max_size=8),
            ),
            max_size=5,
        )
    )
    return CoreFields(
        created=draw(st.integers(0, 2**36 - 1)),
        last_updated=draw(st.integers(0, 2**36 - 1)),
        cmp_id=draw(st.integers(0, 4095)),
        cmp_version=draw(st.integers(0, 4095)),
        consent_screen=draw(st.integers(0, 63)),
        consent_language=draw(_letters),
        vendor_list_version=draw(st.integers(0, 4095)),
        tcf_policy_version=draw(st.integers(0, 63)),
        is_service_specific=draw(st.booleans()),
        use_non_standard_texts=draw(st.booleans()),
        special_feature_opt_ins=draw(st.sets(st.integers(1, 12))),
        purposes_consent=draw(st.sets(st.integers(1, 24))),
        purposes_li_transparency=draw(st.sets(st.integers(1, 24))),
        purpose_one_treatment=draw(st.booleans()),
        publisher_cc=draw(_letters),
        vendor_consents=draw(_vendor_ids(consent_enc)),
        vendor_consent_encoding=consent_enc,
        vendor_legitimate_interests=draw(_vendor_ids(li_enc)),
        vendor_li_encoding=li_enc,
        publisher_restrictions=restrictions,
    )


@settings(max_examples=200, deadline=None)
@given(_core_fields())
def test_decode_inverts_encode_for_generated_fields(fields: CoreFields) -> None:
    assert decode_tc_string(encode_tc_string(fields)) == _expected(fields)


@pytest.mark.parametrize("encoding", ["bitfield", "range"])
def test_both_vendor_encodings_give_the_same_sets(encoding: str) -> None:
    ids = {1, 2, 3, 10, 64, 65, 66, 1000}
    tc = decode_tc_string(
        encode_tc_string(
            vendor_consents=ids,
            vendor_consent_encoding=encoding,
            vendor_legitimate_interests=ids - {1000},
            vendor_li_encoding=encoding,
        )
    )
    assert tc.vendor_consents == frozenset(ids)
    assert tc.vendor_legitimate_interests == frozenset(ids - {1000})
    assert 66 in tc.vendor_consents
    assert 4 not in tc.vendor_consents and 1001 not in tc.vendor_consents


def test_bitfield_wider_than_the_highest_id_adds_nothing() -> None:
    tc = decode_tc_string(encode_tc_string(vendor_consents=[5], vendor_consent_max_id=900))
    assert tc.vendor_consents == frozenset({5})
    assert 900 not in tc.vendor_consents


def test_overlapping_unsorted_restriction_ranges_are_merged() -> None:
    restriction = Restriction(2, 0, ranges=[(50, 60), (1, 3), (55, 70), (4, 4)])
    tc = decode_tc_string(encode_tc_string(publisher_restrictions=[restriction]))
    (decoded,) = tc.publisher_restrictions
    assert (decoded.purpose_id, decoded.restriction_type) == (2, 0)
    assert decoded.vendor_ids == frozenset(range(1, 5)) | frozenset(range(50, 71))
    assert decoded.vendor_ids.intervals() == ((1, 4), (50, 70))


def test_full_range_restriction_stays_small_and_fast_to_query() -> None:
    tc = decode_tc_string(
        encode_tc_string(publisher_restrictions=[Restriction(1, 0, ranges=[(1, 65535)])] * 300)
    )
    assert len(tc.publisher_restrictions) == 300
    vendors = tc.publisher_restrictions[0].vendor_ids
    assert vendors.intervals() == ((1, 65535),)
    assert 65535 in vendors and 0 not in vendors and len(vendors) == 65535


def test_padded_and_unpadded_segments_decode_alike() -> None:
    core = encode_tc_string(vendor_consents=[3])
    padded = core + "=" * (-len(core) % 4)
    assert decode_tc_string(padded) == decode_tc_string(core)


def test_garbage_later_segments_are_refused() -> None:
    core = encode_tc_string(vendor_consents=[3])
    for later in (".not*base64!", ".", ".x"):
        with pytest.raises(ConsentError):
            decode_tc_string(core + later)


def test_a_truncated_disclosed_vendors_segment_is_refused() -> None:
    # JAVA_ALL_PARTS' second segment is IAB's disclosed vendors (type 1): cut it short.
    disclosed = JAVA_ALL_PARTS.split(".")[1]
    assert decode_tc_string(JAVA_BITFIELDS + "." + disclosed)  # whole: fine
    with pytest.raises(ConsentError, match="truncated"):
        decode_tc_string(JAVA_BITFIELDS + "." + disclosed[:4])


def test_a_vendor_range_starting_at_vendor_zero_is_refused() -> None:
    text = encode_tc_string(publisher_restrictions=[Restriction(1, 0, ranges=[(0, 4)])])
    with pytest.raises(ConsentError, match="start at 1"):
        decode_tc_string(text)


def test_a_string_of_exactly_4096_chars_decodes() -> None:
    core = encode_tc_string(vendor_consents=[3])
    text = core + "." + "A" * (4096 - len(core) - 1)
    assert len(text) == 4096
    assert decode_tc_string(text).vendor_consents == frozenset({3})


# -- what does not decode --------------------------------------------------------------------
def _bits_string(bits: str) -> str:
    return bits_to_base64url(bits)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "empty"),
        ("COtybn4PA_zT4KjACBENAPCIAEBAAECA!IAAAAAAAAAA", "not base64url"),
        ("COtybn4PA_zT4KjACBENAPCIAEBAAECA+IAAAAAAAAAA", "standard base64, not url-safe"),
        ("COtybn4PA_zT4KjACBENAPCIAEBAAECA IAAAAAAAAAA", "whitespace"),
        ("COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAAA", "4n+1 characters"),
        ("COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA" + "." + "A" * 4052, "over 4,096 chars"),
        ("COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAA", "truncated core"),
        (".COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA", "empty core segment"),
        ("=COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA", "misplaced padding"),
        (ES_V1, "TCF v1.1 string"),
    ],
)
def test_undecodable_strings_raise_consent_error(text: str, why: str) -> None:
    with pytest.raises(ConsentError):
        decode_tc_string(text)


@pytest.mark.parametrize("version", [0, 1, 3, 63])
def test_versions_other_than_2_are_refused(version: int) -> None:
    with pytest.raises(ConsentError, match="version"):
        decode_tc_string(encode_tc_string(version=version))


def test_bitfield_longer_than_the_string_is_truncation() -> None:
    bits = core_bits(CoreFields(vendor_consents=[700]))
    # Cut inside the 700-bit vendor bitfield (it starts at bit 213 + 17).
    with pytest.raises(ConsentError, match="truncated"):
        decode_tc_string(_bits_string(bits[:600]))


def test_missing_publisher_restrictions_count_is_truncation() -> None:
    full = core_bits(CoreFields(vendor_consents=[3]))
    assert full.endswith("0" * 12)  # NumPubRestrictions = 0 closes the core segment
    # Drop the count; the zero bits that pad to a whole byte are fewer than 12.
    cut = full[:-12]
    cut = cut + "0" * (-len(cut) % 8)
    assert len(cut) < len(full)
    with pytest.raises(ConsentError, match="truncated"):
        decode_tc_string(_bits_string(cut))


def test_truncated_range_entry_is_refused() -> None:
    fields = CoreFields(vendor_consents=[10, 11, 12, 40000], vendor_consent_encoding="range")
    bits = core_bits(fields)
    # MaxVendorId(16) + IsRangeEncoding(1) + NumEntries(12) + first entry (33) start at 213.
    with pytest.raises(ConsentError, match="truncated"):
        decode_tc_string(_bits_string(bits[: 213 + 16 + 1 + 12 + 20]))


def test_range_ending_before_it_starts_is_refused() -> None:
    text = encode_tc_string(publisher_restrictions=[Restriction(1, 0, ranges=[(9, 4)])])
    with pytest.raises(ConsentError, match="ends before"):
        decode_tc_string(text)


# -- VendorSet -------------------------------------------------------------------------------
def test_vendor_set_behaves_like_a_frozenset() -> None:
    bitfield = VendorSet.from_bitfield("0110000001")  # vendors 2, 3, 10
    ranges = VendorSet([(10, 10), (2, 3)])
    plain = frozenset({2, 3, 10})
    for vs in (bitfield, ranges):
        assert vs == plain and plain == vs
        assert hash(vs) == hash(plain)
        assert sorted(vs) == [2, 3, 10] and len(vs) == 3
        assert 3 in vs and 4 not in vs and 0 not in vs and 11 not in vs and "3" not in vs
        assert vs & {3, 4} == frozenset({3}) and isinstance(vs | {1}, frozenset)
        assert vs.intervals() == ((2, 3), (10, 10))
    assert bitfield == ranges
    assert VendorSet.from_bitfield("011") == VendorSet.from_bitfield("01100000")
    assert VendorSet.from_bitfield("011") != VendorSet.from_bitfield("0111")
    assert VendorSet.of([]) == frozenset() and not VendorSet.from_bitfield("000")


def test_vendor_set_is_immutable() -> None:
    vs = VendorSet.of([1])
    with pytest.raises(AttributeError):
        vs._bits = "1"  # type: ignore[misc]
