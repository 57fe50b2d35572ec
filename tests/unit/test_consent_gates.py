"""Consent decisions: dcs-protocol.md section 7 and provider-contract.md section 6."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.config import Settings, consent_settings
from chalicelib.consent import (
    CmpAllowlist,
    ConsentDecision,
    ConsentSettings,
    decode_tc_string,
    evaluate_consent,
    vendor_allowed,
)
from tests.tcf_encoder import Restriction, encode_tc_string

OURS = 755  # settings.vendor_id
PARTNER = 32  # a provider's iabVendorId
OTHER = 91  # a vendor that appears in no setting

SETTINGS = ConsentSettings(vendor_id=OURS)


def tc(**changes: Any) -> str:
    """A TC string giving full consent (vendors OURS and PARTNER, purposes 1-4, special
    feature 1, policy version 4) unless ``changes`` say otherwise."""
    fields: dict[str, Any] = {
        "vendor_consents": [OURS, PARTNER],
        "purposes_consent": [1, 2, 3, 4],
        "special_feature_opt_ins": [1],
        "tcf_policy_version": 4,
    }
    fields.update(changes)
    return encode_tc_string(**fields)


CONSENTING = tc()


def _refused(decision: ConsentDecision, code: int) -> None:
    assert decision.applies is True
    assert decision.allowed is False and decision.stopped is True
    assert decision.error_code == code
    assert decision.gdpr_flag == 1
    assert decision.precise_geo is False


def _not_applying(decision: ConsentDecision) -> None:
    assert decision.applies is False
    assert decision.allowed is True and decision.stopped is False
    assert decision.error_code is None
    assert decision.tc is None and decision.consent_string is None
    assert decision.gdpr_flag == 0
    assert decision.precise_geo is True


# -- settings --------------------------------------------------------------------------------
def test_settings_from_env_reads_every_variable() -> None:
    settings = consent_settings(
        {
            "RTDCS_TCF_VENDOR_ID": "755",
            "RTDCS_TCF_REQUIRED_PURPOSES": " 4, 1,3,1 ",
            "RTDCS_TCF_CMP_ALLOWLIST": "10, 28,-300",
            "RTDCS_TCF_GDPR_DEFAULT": "1",
        }
    )
    assert settings.vendor_id == 755
    assert settings.required_purposes == (1, 3, 4)
    assert settings.cmp_allowlist == CmpAllowlist(frozenset({10, 28}), frozenset({300}))
    assert settings.gdpr_default == 1


def test_settings_defaults_when_unset_or_blank() -> None:
    for env in ({}, {"RTDCS_TCF_VENDOR_ID": " ", "RTDCS_TCF_REQUIRED_PURPOSES": ",",
                     "RTDCS_TCF_CMP_ALLOWLIST": "", "RTDCS_TCF_GDPR_DEFAULT": ""}):
        settings = consent_settings(env)
        assert settings == ConsentSettings(
            vendor_id=None, required_purposes=None, cmp_allowlist=None, gdpr_default=0
        )


def test_settings_from_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTDCS_TCF_VENDOR_ID", "12")
    monkeypatch.setenv("RTDCS_TCF_GDPR_DEFAULT", "true")
    settings = Settings.from_env().consent
    assert settings.vendor_id == 12 and settings.gdpr_default == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RTDCS_TCF_VENDOR_ID", "abc"),
        ("RTDCS_TCF_VENDOR_ID", "0"),
        ("RTDCS_TCF_VENDOR_ID", "65536"),
        ("RTDCS_TCF_VENDOR_ID", "-5"),
        ("RTDCS_TCF_REQUIRED_PURPOSES", "1,25"),
        ("RTDCS_TCF_REQUIRED_PURPOSES", "1;3"),
        ("RTDCS_TCF_CMP_ALLOWLIST", "10,x"),
        ("RTDCS_TCF_CMP_ALLOWLIST", "10,--3"),
        ("RTDCS_TCF_CMP_ALLOWLIST", "4096"),
        ("RTDCS_TCF_GDPR_DEFAULT", "2"),
    ],
)
def test_malformed_settings_raise_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        consent_settings({name: value})


def test_cmp_listed_both_ways_counts_as_deleted() -> None:
    allowlist = CmpAllowlist.parse("7,-7,8")
    assert allowlist is not None
    assert allowlist.error_for(7) == 314
    assert allowlist.error_for(8) is None
    assert allowlist.error_for(9) == 313


# -- section 7 table -------------------------------------------------------------------------
def test_neither_param_uses_gdpr_default_0() -> None:
    _not_applying(evaluate_consent(None, None, SETTINGS))


def test_neither_param_with_gdpr_default_1_needs_a_string() -> None:
    settings = ConsentSettings(vendor_id=OURS, gdpr_default=1)
    decision = evaluate_consent(None, None, settings)
    _refused(decision, 315)
    assert decision.tc is None and decision.consent_string is None


def test_gdpr_0_skips_checks_and_does_not_forward_the_string() -> None:
    # Even a string that would fail every gate is ignored.
    _not_applying(evaluate_consent("0", tc(vendor_consents=[]), SETTINGS))
    _not_applying(evaluate_consent("0", CONSENTING, ConsentSettings(vendor_id=None)))


def test_gdpr_1_with_a_consenting_string_passes_and_forwards_it() -> None:
    decision = evaluate_consent("1", CONSENTING, SETTINGS)
    assert decision.applies is True and decision.allowed is True and decision.stopped is False
    assert decision.error_code is None
    assert decision.tc == decode_tc_string(CONSENTING)
    assert decision.consent_string == CONSENTING
    assert decision.gdpr_flag == 1


@pytest.mark.parametrize(
    ("consent", "why"),
    [
        (None, "missing"),
        ("", "empty"),
        ("not a tc string!", "undecodable"),
        (CONSENTING[:30], "truncated"),
        (CONSENTING + "." + "A" * (4096 - len(CONSENTING)), "over 4,096 chars"),
        (tc(version=1), "core version 1"),
        (tc(version=3), "core version 3"),
        (tc(tcf_policy_version=3), "TCF policy version below 4"),
        (tc(tcf_policy_version=2), "TCF v2.0 policy version"),
    ],
)
def test_gdpr_1_without_a_usable_string_is_315(consent: str | None, why: str) -> None:
    _refused(evaluate_consent("1", consent, SETTINGS), 315)


@pytest.mark.parametrize("policy_version", [4, 5, 63])
def test_policy_version_4_and_later_pass(policy_version: int) -> None:
    assert evaluate_consent("1", tc(tcf_policy_version=policy_version), SETTINGS).allowed


def test_gdpr_consent_without_gdpr_is_ignored_default_0() -> None:
    # A string that would fail the gate changes nothing: it is not even read.
    _not_applying(evaluate_consent(None, tc(vendor_consents=[]), SETTINGS))
    _not_applying(evaluate_consent(None, CONSENTING, SETTINGS))


def test_gdpr_consent_without_gdpr_is_ignored_default_1() -> None:
    # With gdpr_default 1 the lone string does not count: gdpr=1 with no string.
    settings = ConsentSettings(vendor_id=OURS, gdpr_default=1)
    decision = evaluate_consent(None, CONSENTING, settings)
    _refused(decision, 315)
    assert decision.tc is None and decision.consent_string is None


@pytest.mark.parametrize("gdpr", ["2", "true", "yes", "", " 0", "00", "-1"])
def test_gdpr_neither_0_nor_1_counts_as_1(gdpr: str) -> None:
    passing = evaluate_consent(gdpr, CONSENTING, SETTINGS)
    assert passing.applies is True and passing.allowed is True and passing.gdpr_flag == 1
    assert passing.consent_string == CONSENTING
    _refused(evaluate_consent(gdpr, None, SETTINGS), 315)


def test_cmp_allowlist_unknown_cmp_is_313() -> None:
    settings = ConsentSettings(vendor_id=OURS, cmp_allowlist=CmpAllowlist.parse("10,28,-300"))
    _refused(evaluate_consent("1", tc(cmp_id=11), settings), 313)


def test_cmp_allowlist_deleted_cmp_is_314() -> None:
    settings = ConsentSettings(vendor_id=OURS, cmp_allowlist=CmpAllowlist.parse("10,28,-300"))
    _refused(evaluate_consent("1", tc(cmp_id=300), settings), 314)


def test_cmp_allowlist_listed_cmp_passes_and_no_list_allows_any_cmp() -> None:
    settings = ConsentSettings(vendor_id=OURS, cmp_allowlist=CmpAllowlist.parse("10,28,-300"))
    assert evaluate_consent("1", tc(cmp_id=28), settings).allowed
    assert evaluate_consent("1", tc(cmp_id=300), SETTINGS).allowed  # no allow-list set


# -- the rtdcs gate --------------------------------------------------------------------------
def test_gate_needs_vendor_consent_for_our_vendor() -> None:
    _refused(evaluate_consent("1", tc(vendor_consents=[PARTNER]), SETTINGS), 315)


def test_gate_needs_purpose_1() -> None:
    _refused(evaluate_consent("1", tc(purposes_consent=[2, 3, 4]), SETTINGS), 315)


def test_gate_needs_purpose_3_or_4() -> None:
    _refused(evaluate_consent("1", tc(purposes_consent=[1, 2, 5, 6, 7]), SETTINGS), 315)
    assert evaluate_consent("1", tc(purposes_consent=[1, 3]), SETTINGS).allowed
    assert evaluate_consent("1", tc(purposes_consent=[1, 4]), SETTINGS).allowed


def test_gate_ignores_legitimate_interest() -> None:
    only_li = tc(
        vendor_consents=[],
        vendor_legitimate_interests=[OURS],
        purposes_consent=[],
        purposes_li_transparency=[1, 2, 3, 4],
    )
    _refused(evaluate_consent("1", only_li, SETTINGS), 315)


@pytest.mark.parametrize("restriction_type", [0, 2])
def test_gate_blocked_by_not_allowed_or_require_li_on_purpose_1(restriction_type: int) -> None:
    restricted = tc(publisher_restrictions=[Restriction(1, restriction_type, [OURS])])
    _refused(evaluate_consent("1", restricted, SETTINGS), 315)


@pytest.mark.parametrize("restriction_type", [0, 2])
def test_restricted_profile_purpose_counts_as_missing(restriction_type: int) -> None:
    # Purpose 3 restricted for us: purpose 4 still satisfies "3 or 4"; without 4 nothing does.
    restriction = [Restriction(3, restriction_type, [OURS])]
    assert evaluate_consent("1", tc(publisher_restrictions=restriction), SETTINGS).allowed
    only_3 = tc(purposes_consent=[1, 3], publisher_restrictions=restriction)
    _refused(evaluate_consent("1", only_3, SETTINGS), 315)


def test_require_consent_restriction_and_other_vendors_restrictions_do_not_block() -> None:
    restrictions = [
        Restriction(1, 1, [OURS]),  # require consent: we use consent anyway
        Restriction(1, 0, [OTHER]),  # not allowed, but for another vendor
        Restriction(2, 0, [OURS]),  # not allowed, on a purpose the gate does not use
    ]
    assert evaluate_consent("1", tc(publisher_restrictions=restrictions), SETTINGS).allowed


def test_restriction_by_vendor_range_blocks() -> None:
    restricted = tc(publisher_restrictions=[Restriction(1, 0, ranges=[(1, 60000)])])
    _refused(evaluate_consent("1", restricted, SETTINGS), 315)


def test_required_purposes_replace_the_default_rule() -> None:
    settings = ConsentSettings(vendor_id=OURS, required_purposes=(1, 2, 7))
    # All of 1, 2, 7 without 3 or 4: passes under the override.
    assert evaluate_consent("1", tc(purposes_consent=[1, 2, 7]), settings).allowed
    # 1, 3, 4 (the default rule) without 7: fails under the override.
    _refused(evaluate_consent("1", tc(purposes_consent=[1, 2, 3, 4]), settings), 315)
    # A blocking restriction on a required purpose fails too.
    restricted = tc(
        purposes_consent=[1, 2, 7], publisher_restrictions=[Restriction(7, 2, [OURS])]
    )
    _refused(evaluate_consent("1", restricted, settings), 315)


def test_vendor_id_unset_lets_no_gdpr_1_request_pass() -> None:
    decision = evaluate_consent("1", CONSENTING, ConsentSettings(vendor_id=None))
    _refused(decision, 315)
    assert decision.tc is not None  # decodable, just not consenting to us


def test_precise_geo_follows_special_feature_1() -> None:
    assert evaluate_consent("1", CONSENTING, SETTINGS).precise_geo is True
    assert evaluate_consent("1", tc(special_feature_opt_ins=[]), SETTINGS).precise_geo is False
    assert evaluate_consent("1", tc(special_feature_opt_ins=[2]), SETTINGS).precise_geo is False
    assert evaluate_consent("0", tc(special_feature_opt_ins=[]), SETTINGS).precise_geo is True


# -- the provider / sync-partner gate --------------------------------------------------------
def test_partners_always_allowed_when_gdpr_does_not_apply() -> None:
    decision = evaluate_consent("0", None, SETTINGS)
    assert vendor_allowed(decision, None, SETTINGS) is True
    assert vendor_allowed(decision, OTHER, SETTINGS) is True


def test_partner_with_vendor_consent_is_allowed() -> None:
    decision = evaluate_consent("1", CONSENTING, SETTINGS)
    assert vendor_allowed(decision, PARTNER, SETTINGS) is True


def test_partner_without_vendor_consent_is_refused() -> None:
    decision = evaluate_consent("1", CONSENTING, SETTINGS)
    assert vendor_allowed(decision, OTHER, SETTINGS) is False


def test_partner_without_iab_vendor_id_is_never_allowed_under_gdpr() -> None:
    decision = evaluate_consent("1", CONSENTING, SETTINGS)
    assert decision.allowed
    assert vendor_allowed(decision, None, SETTINGS) is False


def test_partner_refused_when_the_rtdcs_gate_fails() -> None:
    decision = evaluate_consent("1", tc(vendor_consents=[PARTNER]), SETTINGS)
    assert not decision.allowed
    assert vendor_allowed(decision, PARTNER, SETTINGS) is False


@pytest.mark.parametrize("restriction_type", [0, 2])
def test_partner_restricted_on_purpose_1_is_refused(restriction_type: int) -> None:
    decision = evaluate_consent(
        "1", tc(publisher_restrictions=[Restriction(1, restriction_type, [PARTNER])]), SETTINGS
    )
    assert decision.allowed  # the restriction names only the partner
    assert vendor_allowed(decision, PARTNER, SETTINGS) is False


def test_partner_gate_uses_required_purposes() -> None:
    settings = ConsentSettings(vendor_id=OURS, required_purposes=(1, 2))
    restricted = tc(publisher_restrictions=[Restriction(2, 0, [PARTNER])])
    decision = evaluate_consent("1", restricted, settings)
    assert decision.allowed
    assert vendor_allowed(decision, PARTNER, settings) is False
    assert vendor_allowed(decision, OURS, settings) is True


def test_blocking_restrictions_are_the_decoders_types() -> None:
    # gates.py holds them as literals so the decoder loads with the first gdpr=1 request only.
    from chalicelib.consent import gates, tcf

    assert gates._BLOCKING_RESTRICTIONS == (tcf.RESTRICTION_NOT_ALLOWED,
                                            tcf.RESTRICTION_REQUIRE_LI)
