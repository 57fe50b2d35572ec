"""TCF v2.3 (privacy-signals.md 4): the disclosed-vendors segment is decoded, required in a
string saved after the transition, and a vendor missing from it has no consent.

The decoded segment is checked against IAB's reference decoder (@iabgpp/cmpapi's
``VendorsDisclosed`` for every TC string in tests/fixtures/gpp); the policy cases use the
test encoder, since no reference suite has strings dated after March 2026."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.consent.gates import (
    DISCLOSED_VENDORS_REQUIRED_FROM,
    ConsentSettings,
    evaluate_consent,
    vendor_allowed,
)
from chalicelib.consent.tcf import decode_tc_string
from tests.gpp_vectors import RESULTS
from tests.tcf_encoder import disclosed_vendors_segment, encode_tc_string

OURS = 755
PARTNER = 32
SETTINGS = ConsentSettings(vendor_id=OURS)
AFTER = DISCLOSED_VENDORS_REQUIRED_FROM  # deciseconds: 2026-03-01T00:00:00Z
BEFORE = DISCLOSED_VENDORS_REQUIRED_FROM - 10

TC_SECTIONS = [(r["id"], s) for r in RESULTS if r["valid"]
               for s in r["sections"] if s["name"] == "tcfeuv2"]


@pytest.mark.parametrize(("vector", "section"), TC_SECTIONS, ids=[v for v, _ in TC_SECTIONS])
def test_disclosed_vendors_decode_as_the_reference_decoder(
    vector: str, section: dict[str, Any]
) -> None:
    decoded = decode_tc_string(section["encoded"])
    ours = sorted(decoded.disclosed_vendors) if decoded.disclosed_vendors is not None else []
    assert ours == section["fields"]["VendorsDisclosed"]


def test_the_reference_vectors_include_non_empty_disclosed_vendors() -> None:
    assert any(s["fields"]["VendorsDisclosed"] for _, s in TC_SECTIONS)


def _tc(last_updated: int, *segments: str) -> str:
    return encode_tc_string(None, *segments, vendor_consents=[OURS, PARTNER],
                            purposes_consent=[1, 2, 3, 4], tcf_policy_version=5,
                            created=last_updated, last_updated=last_updated)


@pytest.mark.parametrize("encoding", ["bitfield", "range"])
def test_a_v2_3_string_with_the_segment_passes(encoding: Any) -> None:
    string = _tc(AFTER, disclosed_vendors_segment([OURS, PARTNER], encoding))
    decision = evaluate_consent("1", string, SETTINGS)
    assert decision.allowed and vendor_allowed(decision, PARTNER, SETTINGS)


def test_a_string_saved_after_the_transition_without_the_segment_is_315() -> None:
    decision = evaluate_consent("1", _tc(AFTER), SETTINGS)
    assert not decision.allowed and decision.error_code == 315


def test_an_older_string_without_the_segment_stays_valid() -> None:
    decision = evaluate_consent("1", _tc(BEFORE), SETTINGS)
    assert decision.allowed and vendor_allowed(decision, PARTNER, SETTINGS)


def test_a_vendor_missing_from_the_disclosed_vendors_has_no_consent() -> None:
    decision = evaluate_consent("1", _tc(AFTER, disclosed_vendors_segment([OURS])), SETTINGS)
    assert decision.allowed  # rtdcs itself was disclosed
    assert not vendor_allowed(decision, PARTNER, SETTINGS)  # consented, never disclosed


def test_rtdcs_itself_must_be_disclosed() -> None:
    decision = evaluate_consent("1", _tc(AFTER, disclosed_vendors_segment([PARTNER])), SETTINGS)
    assert not decision.allowed and decision.error_code == 315
