"""Consent decisions of dcs-protocol.md section 7 and provider-contract.md section 6.

Pure functions over the request's ``gdpr``/``gdpr_consent`` values and ``ConsentSettings``:
``evaluate_consent`` decides once per request (the rtdcs gate), ``vendor_allowed`` then
decides per provider or sync partner. No I/O.

The records are not dataclasses: import cost on a cold start (chalicelib/core/records.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from chalicelib.core.records import SlotRecord

if TYPE_CHECKING:
    from chalicelib.consent.tcf import TCString

MIN_TCF_POLICY_VERSION = 4  # TCF v2.2
NO_CONSENT = 315
CMP_UNKNOWN = 313
CMP_DELETED = 314

# The default purpose rule: Purpose 1 (store/access on a device) and Purpose 3 or 4
# (create / use a personalised-ads profile).
_STORAGE_PURPOSE = 1
_PROFILE_PURPOSES = (3, 4)
# Restriction types that take away the consent legal basis we rely on: tcf's
# RESTRICTION_NOT_ALLOWED and RESTRICTION_REQUIRE_LI, as literals because the decoder loads
# only with the first gdpr=1 request (tests/unit/test_consent_gates.py holds them equal).
_BLOCKING_RESTRICTIONS = (0, 2)

# TCF v2.3 (IAB, April 2025) made the disclosed-vendors segment mandatory; CMPs had until
# 28 February 2026. A string last saved from 1 March 2026 (UTC) without it is invalid; older
# ones were written under v2.2 and stay valid (docs/decisions.md). Deciseconds, as encoded.
DISCLOSED_VENDORS_REQUIRED_FROM = 17_723_232_000
MAX_VENDOR_ID = 65535  # 16-bit vendor IDs
MAX_PURPOSE_ID = 24  # PurposesConsent is 24 bits


class CmpAllowlist(NamedTuple):
    """``RTDCS_TCF_CMP_ALLOWLIST``: comma-separated CMP IDs; ``-<id>`` marks one deleted."""

    active: frozenset[int]
    deleted: frozenset[int]

    @classmethod
    def parse(cls, raw: str) -> CmpAllowlist | None:
        """``"10,28,-300"`` -> active {10, 28}, deleted {300}; blank -> None (no list)."""
        active: set[int] = set()
        deleted: set[int] = set()
        tokens = [t.strip() for t in raw.split(",") if t.strip()]
        if not tokens:
            return None
        for token in tokens:
            is_deleted = token.startswith("-")
            cmp_id = int_in_range(token[1:] if is_deleted else token, 1, 4095, "CMP ID")
            (deleted if is_deleted else active).add(cmp_id)
        # An ID listed both ways counts as deleted.
        return cls(frozenset(active - deleted), frozenset(deleted))

    def error_for(self, cmp_id: int) -> int | None:
        """313 for an unknown CMP, 314 for a deleted one, None when it is allowed."""
        if cmp_id in self.deleted:
            return CMP_DELETED
        if cmp_id not in self.active:
            return CMP_UNKNOWN
        return None


class ConsentSettings(SlotRecord):
    # Not a NamedTuple: GET /v1/settings shows this nested value as its repr, not as a list.
    __slots__ = ("vendor_id", "required_purposes", "cmp_allowlist", "gdpr_default")

    def __init__(
        self,
        vendor_id: int | None = None,
        required_purposes: tuple[int, ...] | None = None,
        cmp_allowlist: CmpAllowlist | None = None,
        gdpr_default: int = 0,
    ) -> None:
        self.vendor_id = vendor_id
        self.required_purposes = required_purposes
        self.cmp_allowlist = cmp_allowlist
        self.gdpr_default = gdpr_default


class ConsentDecision(NamedTuple):
    applies: bool  # gdpr=1 for this request
    allowed: bool  # the rtdcs gate passed, or gdpr does not apply
    error_code: int | None  # 313, 314 or 315 when not allowed
    tc: TCString | None  # the decoded string (gdpr=1 and decodable)
    consent_string: str | None  # the raw string to forward; set exactly when tc is
    gdpr_flag: int  # 0 or 1, for provider bodies and ${GDPR}
    precise_geo: bool  # d_lat/d_long/d_postal_code may be derived

    @property
    def stopped(self) -> bool:
        return not self.allowed


_NOT_APPLIES = ConsentDecision(
    applies=False,
    allowed=True,
    error_code=None,
    tc=None,
    consent_string=None,
    gdpr_flag=0,
    precise_geo=True,
)


def evaluate_consent(
    gdpr_param: str | None, consent_param: str | None, settings: ConsentSettings
) -> ConsentDecision:
    """The section 7 table and the rtdcs gate, for one request's ``gdpr``/``gdpr_consent``."""
    if gdpr_param is None:
        # Neither parameter, or gdpr_consent alone: the string is ignored (the two MUST come
        # together) and the configured default decides.
        gdpr = settings.gdpr_default
        consent_param = None
    else:
        gdpr = 0 if gdpr_param == "0" else 1  # anything but "0" counts as 1
    if gdpr == 0:
        return _NOT_APPLIES
    if not consent_param:
        return _refused(NO_CONSENT, None, None)
    from chalicelib.consent.tcf import ConsentError, decode_tc_string  # gdpr=1 requests only

    try:
        tc = decode_tc_string(consent_param)
    except ConsentError:
        return _refused(NO_CONSENT, None, None)
    if tc.tcf_policy_version < MIN_TCF_POLICY_VERSION:
        return _refused(NO_CONSENT, tc, consent_param)
    if tc.disclosed_vendors is None and tc.last_updated >= DISCLOSED_VENDORS_REQUIRED_FROM:
        # TCF v2.3: a string saved after the transition must carry the disclosed vendors.
        return _refused(NO_CONSENT, tc, consent_param)
    if settings.cmp_allowlist is not None:
        cmp_error = settings.cmp_allowlist.error_for(tc.cmp_id)
        if cmp_error is not None:
            return _refused(cmp_error, tc, consent_param)
    if settings.vendor_id is None or not _vendor_passes(tc, settings.vendor_id, settings):
        return _refused(NO_CONSENT, tc, consent_param)
    return ConsentDecision(
        applies=True,
        allowed=True,
        error_code=None,
        tc=tc,
        consent_string=consent_param,
        gdpr_flag=1,
        precise_geo=1 in tc.special_feature_opt_ins,
    )


def vendor_allowed(
    decision: ConsentDecision, iab_vendor_id: int | None, settings: ConsentSettings
) -> bool:
    """The provider / sync-partner gate (provider-contract.md 6)."""
    if not decision.applies:
        return True
    if not decision.allowed or decision.tc is None or iab_vendor_id is None:
        return False
    return _vendor_passes(decision.tc, iab_vendor_id, settings)


def _vendor_passes(tc: TCString, vendor_id: int, settings: ConsentSettings) -> bool:
    """Vendor consent, and the purpose rule with each purpose unrestricted for the vendor."""
    if vendor_id not in tc.vendor_consents:
        return False
    if tc.disclosed_vendors is not None and vendor_id not in tc.disclosed_vendors:
        return False  # TCF v2.3: a vendor not disclosed to the user has no consent

    def purpose_ok(purpose: int) -> bool:
        return purpose in tc.purposes_consent and not _restricted(tc, vendor_id, purpose)

    if settings.required_purposes is not None:
        return all(purpose_ok(p) for p in settings.required_purposes)
    return purpose_ok(_STORAGE_PURPOSE) and any(purpose_ok(p) for p in _PROFILE_PURPOSES)


def _restricted(tc: TCString, vendor_id: int, purpose: int) -> bool:
    """A publisher restriction of type 0 (not allowed) or 2 (require LI) for this vendor."""
    return any(
        r.purpose_id == purpose
        and r.restriction_type in _BLOCKING_RESTRICTIONS
        and vendor_id in r.vendor_ids
        for r in tc.publisher_restrictions
    )


def _refused(code: int, tc: TCString | None, consent: str | None) -> ConsentDecision:
    return ConsentDecision(
        applies=True,
        allowed=False,
        error_code=code,
        tc=tc,
        consent_string=consent if tc is not None else None,
        gdpr_flag=1,
        precise_geo=False,
    )


def int_in_range(raw: str, low: int, high: int, what: str) -> int:
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()):
        raise ValueError(f"{what}: {raw!r} is not a non-negative integer")
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"{what}: {value} is outside {low}-{high}")
    return value
