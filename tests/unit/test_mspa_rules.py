"""US opt-out rules (chalicelib/consent/mspa.py) against Prebid.js's own decisions.

tests/fixtures/gpp/reference_decodes.json records, for every valid string and every list of
applicable sections tried, what prebid.js 11.36.0 decided for transmitUfpd (our ``share``) and
syncUser (our ``sync``), and the usnat view each state section was normalized to. rtdcs must
decide the same, except the named divergences below, each of which only denies what Prebid
allowed (privacy-signals.md section 3 and mspa.py's docstring give the reasons).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.consent.gpp import GppError, decode_gpp, section_name
from chalicelib.consent.mspa import (
    UsDecision,
    consent_denials,
    normalize_us_section,
    section_denials,
    transmit_ufpd_denials,
    us_decision,
)
from tests.gpp_vectors import BY_ID, RESULTS  # noqa: E402 (after the module's imports)

STATES_13_23 = {section_name(i) for i in range(13, 24)}
PUBLIC_COMMENT = {section_name(i) for i in range(24, 28)}

# Why rtdcs denies where Prebid allowed: a check that every reason of our denial is of that kind.
Check = Callable[[UsDecision], bool]
GPC: Check = lambda d: all(r.endswith(":Gpc") for r in d.reasons)  # noqa: E731
USPV1: Check = lambda d: d.reasons == ("uspv1:OptOutSale",)  # noqa: E731
# usnat Version 1, long payload: flags iabgpp-es cut (sensitive 13-16, child 3; README item 1).
USNAT_V1_CUT: Check = lambda d: bool(d.reasons) and all(  # noqa: E731
    r in {"usnat:KnownChildSensitiveDataConsents[3]"}
    or r.startswith("usnat:SensitiveDataProcessing[1") and int(r[-3:-1]) >= 13
    for r in d.reasons)
STATE_13_23: Check = lambda d: bool(d.reasons) and all(  # noqa: E731
    r.split(":")[0] in STATES_13_23 for r in d.reasons)
SECTIONS_24_27: Check = lambda d: bool(d.reasons) and all(  # noqa: E731
    r.split(":")[0] in PUBLIC_COMMENT and r.endswith(":missing") for r in d.reasons)
STRICT = None  # the string is refused (test_gpp_decoder.STRICT_REJECTS): the caller fails closed

ALL_2_TO_27 = ",".join(str(i) for i in [2, *range(5, 28)])
ALL_2_TO_23 = ",".join(str(i) for i in [2, *range(5, 24)])

DIVERGENCES: dict[tuple[str, str], Check | None] = {
    ("probe-usnat-gpc-only", "7"): GPC,
    ("uspv1-1YYN", "6"): USPV1,
    ("uspv1-1NYN", "6"): USPV1,
    ("usnat-v1-java-decode9", "7"): USNAT_V1_CUT,
    **{(f"{section_name(sid)}-1", str(sid)): STATE_13_23 for sid in range(13, 24)},
    ("probe-usfl-sale-optout", "13"): STATE_13_23,
    **{(f"{section_name(sid)}-1", str(sid)): SECTIONS_24_27 for sid in range(24, 28)},
    **{("all-sections-defaults-es", str(sid)): SECTIONS_24_27 for sid in range(24, 28)},
    ("all-sections-defaults-es", ALL_2_TO_27): SECTIONS_24_27,
    ("tcfeuv2-bare-tc-string", "2"): STRICT,
    ("all-sections-java-b", "23"): STRICT,
    ("all-sections-java-b", ALL_2_TO_23): STRICT,
    ("edge-extra-gpc-segment", "7"): STRICT,
    ("edge-uspv1-odd-letter", "6"): STRICT,
    ("edge-header-extra-bits", "6"): STRICT,
    ("edge-empty-string", ""): STRICT,
}


def _cases() -> list[Any]:
    return [pytest.param(r, key, id=f"{r['id']}[{key}]")
            for r in RESULTS if r["valid"] for key in r["prebid"]]


def _applicable(key: str) -> list[int]:
    return [int(i) for i in key.split(",")] if key else []


def _decide(gpp: str, key: str) -> UsDecision:
    applicable = _applicable(key)
    return us_decision(decode_gpp(gpp, applicable), applicable)


@pytest.mark.parametrize(("result", "key"), _cases())
def test_decisions_equal_prebid_but_for_the_named_divergences(result: dict, key: str) -> None:
    prebid = result["prebid"][key]
    expected = (prebid["transmitUfpd"]["allowed"], prebid["syncUser"]["allowed"])
    case = (result["id"], key)
    if case not in DIVERGENCES:
        decision = _decide(result["gpp"], key)
        assert (decision.share, decision.sync) == expected, decision.reasons
        assert decision.reasons or decision.share and decision.sync
        return
    # A divergence only ever denies what Prebid allowed, and for the reason it is listed for.
    assert expected == (True, True)
    check = DIVERGENCES[case]
    if check is STRICT:
        with pytest.raises(GppError):
            _decide(result["gpp"], key)
        return
    decision = _decide(result["gpp"], key)
    assert (decision.share, decision.sync) == (False, False)
    assert check(decision), decision.reasons


def test_every_divergence_is_a_case_of_the_fixture() -> None:
    cases = {(r["id"], key) for r in RESULTS if r["valid"] for key in r["prebid"]}
    assert set(DIVERGENCES) <= cases


def _state_views(result: dict[str, Any]) -> dict[str, Any]:
    """The state sections' usnat views Prebid evaluated for this string, by section name."""
    return {api: view for p in (result["prebid"] or {}).values()
            for api, view in p["evaluated_consent"].items() if api != "usnat"}


@pytest.mark.parametrize("result", [r for r in RESULTS if _state_views(r)], ids=lambda r: r["id"])
def test_state_sections_normalize_as_prebid_did(result: dict) -> None:
    """gppControl_usstates' view of sections 8-12, value for value (None where a state
    lacks a usnat field)."""
    seen = _state_views(result)
    gpp = decode_gpp(result["gpp"], [s["id"] for s in result["sections"]
                                      if s["name"] in seen])
    assert {s.name for s in gpp.sections.values()} == set(seen)
    for section in gpp.sections.values():
        assert dict(normalize_us_section(section.id, section.fields)) == seen[section.name]


# -- single rules ----------------------------------------------------------------------------
# Each flips one field of a string Prebid allows (a usnat Version 2 section with every notice
# given and no opt-out) and checks the rule of activityControls that it triggers.

BASE_ID = "probe-usnat-all-notices-no-optout"


def _base() -> dict[str, Any]:
    assert BY_ID[BASE_ID]["prebid"]["7"]["transmitUfpd"]["allowed"]
    fields = decode_gpp(BY_ID[BASE_ID]["gpp"]).sections[7].fields
    return {k: list(v) if isinstance(v, list) else v for k, v in fields.items()}


def _with(changes: dict[str, Any]) -> dict[str, Any]:
    fields = _base()
    for name, value in changes.items():
        if "[" in name:  # "SensitiveDataProcessing[6]": 1-based, as the reasons
            field, index = name[:-1].split("[")
            fields[field][int(index) - 1] = value
        else:
            fields[name] = value
    return fields


def test_the_base_string_is_allowed() -> None:
    assert transmit_ufpd_denials(_base()) == [] and consent_denials(_base()) == []


BOTH = (False, False)
SHARE_ONLY = (False, True)
NEITHER = (True, True)


@pytest.mark.parametrize(("changes", "effect", "reason"), [
    ({"SaleOptOut": 1}, BOTH, "SaleOptOut"),
    ({"SharingOptOut": 1}, BOTH, "SharingOptOut"),
    ({"TargetedAdvertisingOptOut": 1}, BOTH, "TargetedAdvertisingOptOut"),
    ({"SaleOptOutNotice": 2}, BOTH, "SaleOptOutNotice"),
    ({"TargetedAdvertisingOptOutNotice": 0}, BOTH, "TargetedAdvertisingOptOutWithoutNotice"),
    ({"SharingNotice": 2}, BOTH, "SharingNotice"),
    ({"SharingNotice": 0}, BOTH, "SharingOptOutWithoutSharingNotice"),
    ({"MspaServiceProviderMode": 1}, BOTH, "MspaServiceProviderMode"),
    ({"MspaServiceProviderMode": 2}, NEITHER, None),
    ({"PersonalDataConsents": 2}, BOTH, "PersonalDataConsents"),
    ({"MspaCoveredTransaction": 0}, BOTH, "MspaCoveredTransaction"),
    ({"MspaCoveredTransaction": 2}, NEITHER, None),
    ({"KnownChildSensitiveDataConsents[1]": 1}, BOTH, "KnownChildSensitiveDataConsents[1]"),
    ({"KnownChildSensitiveDataConsents[1]": 2}, NEITHER, None),
    ({"KnownChildSensitiveDataConsents[2]": 2}, BOTH, "KnownChildSensitiveDataConsents[2]"),
    ({"KnownChildSensitiveDataConsents[3]": 1}, BOTH, "KnownChildSensitiveDataConsents[3]"),
    ({"Gpc": True}, BOTH, "Gpc"),  # the deliberate divergence
    ({"SensitiveDataProcessingOptOutNotice": 2}, SHARE_ONLY, "SensitiveDataProcessingOptOutNotice"),
    ({"SensitiveDataLimitUseNotice": 2}, SHARE_ONLY, "SensitiveDataLimitUseNotice"),
    ({"SensitiveDataProcessing[6]": 2}, SHARE_ONLY, "SensitiveDataProcessing[6]"),  # genetic
    ({"SensitiveDataProcessing[16]": 2}, SHARE_ONLY, "SensitiveDataProcessing[16]"),
    ({"SensitiveDataProcessing[1]": 1}, SHARE_ONLY, "SensitiveDataProcessing[1]"),
    ({"SensitiveDataProcessing[15]": 1}, SHARE_ONLY, "SensitiveDataProcessing[15]"),
    ({"SensitiveDataProcessing[1]": 2}, NEITHER, None),  # consent, with notice
    ({"SensitiveDataProcessing[8]": 1}, NEITHER, None),  # geolocation: not transmitUfpd's
    ({"SensitiveDataProcessing[1]": 2, "SensitiveDataLimitUseNotice": 0}, SHARE_ONLY,
     "SensitiveDataConsentWithoutNotice"),
])
def test_each_rule(changes: dict[str, Any], effect: tuple[bool, bool], reason: str | None
                   ) -> None:
    fields = _with(changes)
    share, sync = transmit_ufpd_denials(fields), consent_denials(fields)
    assert (not share, not sync) == effect
    if reason is not None:
        assert reason in share
        assert (reason in sync) == (effect == BOTH)


@pytest.mark.parametrize(("version", "allowed"), [(1, True), (2, True), (0, False), (3, False)])
def test_an_unknown_usnat_version_denies(version: int, allowed: bool) -> None:
    share, sync = section_denials(7, _with({"Version": version}))
    assert (not share, not sync) == (allowed, allowed)
    assert allowed or share == ["usnat:Version"]


# -- states 13-23: normalized as 8-12 are (our design; Prebid has no rule for them) ---------

CHILD = "KnownChildSensitiveDataConsents"
DEFAULTS_ID = "all-sections-defaults-es"  # every section at its defaults: Prebid allows all


def _state(section_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    fields = dict(decode_gpp(BY_ID[DEFAULTS_ID]["gpp"]).sections[section_id].fields)
    for name, value in changes.items():
        if "[" in name:
            field, index = name[:-1].split("[")
            fields[field] = list(fields[field])
            fields[field][int(index) - 1] = value
        else:
            fields[name] = value
    return fields


@pytest.mark.parametrize("section_id", range(8, 24))
def test_a_state_section_at_its_defaults_is_allowed(section_id: int) -> None:
    assert section_denials(section_id, _state(section_id, {})) == ([], [])


@pytest.mark.parametrize(("section_id", "changes", "effect", "reason"), [
    (13, {"ProcessingNotice": 2}, BOTH, "usfl:SharingNotice"),
    (13, {"AdditionalDataProcessingConsent": 2}, BOTH, "usfl:PersonalDataConsents"),
    (13, {"SaleOptOut": 1}, BOTH, "usfl:SaleOptOut"),
    (13, {"KnownChildSensitiveDataConsents[3]": 2}, BOTH, f"usfl:{CHILD}[2]"),
    (16, {"KnownChildSensitiveDataConsents": 2}, BOTH, f"ustx:{CHILD}[2]"),
    (14, {"Gpc": True}, BOTH, "usmt:Gpc"),
    (15, {"SensitiveDataProcessing[5]": 2}, SHARE_ONLY, "usor:SensitiveDataProcessing[16]"),
    (15, {"SensitiveDataProcessing[7]": 1}, SHARE_ONLY, "usor:SensitiveDataProcessing[15]"),
    (15, {"SensitiveDataProcessing[8]": 2}, SHARE_ONLY, "usor:SensitiveDataProcessing[14]"),
    (15, {"SensitiveDataProcessing[9]": 2}, SHARE_ONLY, "usor:SensitiveDataProcessing[6]"),
    (15, {"SensitiveDataProcessing[11]": 1}, NEITHER, None),  # geolocation
    (17, {"SensitiveDataProcessing[9]": 1}, SHARE_ONLY, "usde:SensitiveDataProcessing[16]"),
    (18, {"SensitiveDataOptOutNotice": 2}, SHARE_ONLY,
     "usia:SensitiveDataProcessingOptOutNotice"),
    (21, {"SensitiveDataProcessing[10]": 2}, SHARE_ONLY, "usnj:SensitiveDataProcessing[10]"),
    (23, {"MspaServiceProviderMode": 1}, BOTH, "usmn:MspaServiceProviderMode"),
    (23, {"Version": 2}, BOTH, "usmn:Version"),
])
def test_state_13_to_23_rules(section_id: int, changes: dict[str, Any],
                              effect: tuple[bool, bool], reason: str | None) -> None:
    share, sync = section_denials(section_id, _state(section_id, changes))
    assert (not share, not sync) == effect
    if reason is not None:
        assert reason in share


def test_a_state_lacking_a_usnat_field_reads_it_as_not_opted_out() -> None:
    view = normalize_us_section(9, _state(9, {}))  # Virginia: no SharingOptOut, no GPC
    assert view["SharingOptOut"] is None and view["Gpc"] is None
    assert view["SensitiveDataProcessing"][8:] == [None] * 4


# -- us_decision over a whole string ---------------------------------------------------------


def _gpp(fixture_id: str, applicable: list[int]) -> Any:
    return decode_gpp(BY_ID[fixture_id]["gpp"], applicable)


def test_a_listed_us_section_the_string_lacks_denies() -> None:
    decision = us_decision(_gpp("uspv1-1YNN", [6, 7]), [6, 7])
    assert decision == UsDecision(False, False, ("usnat:missing",))


def test_a_section_not_decoded_counts_as_missing() -> None:
    gpp = decode_gpp(BY_ID[DEFAULTS_ID]["gpp"])  # everything decoded but 24-27
    assert us_decision(gpp, [24]).reasons == ("usmd:missing",)


def test_uspv1_opt_out_and_absence_deny() -> None:
    assert us_decision(_gpp("uspv1-1NYN", [6]), [6]).reasons == ("uspv1:OptOutSale",)
    assert us_decision(_gpp("usnat-v1-es", [6]), [6]).reasons == ("uspv1:missing",)
    assert us_decision(_gpp("uspv1-1YNN", [6]), [6]) == UsDecision(True, True, ())


def test_non_us_sections_are_ignored() -> None:
    gpp = _gpp("tcfeuv2-tcfcav1-uspv1-es", [2, 5, 1, 99])
    assert us_decision(gpp, [2, 5, 1, 99]) == UsDecision(True, True, ())


def test_reasons_name_each_section_once_per_reason() -> None:
    gpp = _gpp("probe-usnat-and-usca", [7, 8])
    decision = us_decision(gpp, [8, 7, 8])
    assert decision.reasons == ("usca:SaleOptOut",)
    assert not decision.share and not decision.sync
