"""US opt-out rules over decoded GPP sections (privacy-signals.md section 3): ``share``/``sync``.

The rules are Prebid.js's MSPA activity controls (prebid.js 11.36.0), ported line by line:
``libraries/mspa/activityControls`` (``isBasicConsentDenied``, ``isConsentDenied`` for
``syncUser``, ``isTransmitUfpdConsentDenied`` for ``transmitUfpd``, and ``mspaRule``: a missing
section or an unknown ``Version`` denies), ``gppControl_usnat`` (section 7 as it is) and
``gppControl_usstates`` (a state section is first normalized onto usnat's fields). Each rule
function returns every reason that holds, not just the first, for the log line; a decision is
"no reason".

Where rtdcs decides differently from Prebid, on purpose (tests/unit/test_mspa_rules.py holds the
list and checks that each one only ever denies what Prebid allowed):

- ``Gpc``: a GPC sub-section with Gpc true denies share and sync. Prebid tests ``Gpc === 1``,
  but decoders yield a boolean, so Prebid lets it through (the spec's deliberate divergence).
- ``uspv1``: an applicable section 6 with ``OptOutSale`` = ``Y``, or missing, denies both
  (spec section 3). Prebid's MSPA rules do not read section 6.
- State sections 13-23: Prebid registers rules for 8-12 only, so it allows whatever 13-23 say.
  Here they go through the same normalization as 8-12 (``_STATE_MAPPINGS``), so they can deny.
  Their fields are mapped onto usnat's by meaning, per IAB's specification of each state:
  ``ProcessingNotice`` is usnat's ``SharingNotice`` ("Notice Describing Your Processing of
  Personal Information"), ``AdditionalDataProcessingConsent`` is ``PersonalDataConsents``
  (secondary use), Iowa's ``SensitiveDataOptOutNotice`` is
  ``SensitiveDataProcessingOptOutNotice`` (as Utah's, which has usnat's name); sensitive
  categories go to usnat's category of the same meaning, onto usnat's 16 (version 2)
  categories, since Oregon, Delaware and New Jersey carry categories usnat has only since
  version 2 (victim of crime, national origin, transgender or nonbinary status). Any known-child
  value other than 0 denies, as Prebid's normalizations of 8-12 all end up doing.
- Sections 24-27 listed as applicable are not decoded (still in public comment): missing, so
  they deny. Prebid has no rule for them.
- ``usnat`` under Version 1 with the long payload: all 16 and 3 flags are read (the layout
  follows the payload's length); iabgpp-es cuts them to 12 and 2, so Prebid never saw flags
  13-16 or child flag 3 there.
- A state section's ``Version`` must be 1, the only version whose layout the decoder knows
  (Prebid accepts 1 or 2 for every section); usnat's may be 1 or 2, as in Prebid.

Ids in ``applicable`` that are not US sections (2 tcfeuv2, 5 tcfcav1, unknown ids) are ignored
here; the caller handles TCF and the ``GppString.missing`` of the string as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from chalicelib.consent.gpp import GppString, section_name

USP_SECTION_ID = 6
USNAT_SECTION_ID = 7
US_SECTION_IDS = frozenset(range(7, 28))  # usnat and the published state sections (8-27)

_USNAT_VERSIONS = frozenset({1, 2})
_STATE_VERSIONS = frozenset({1})

_SENSITIVE = "SensitiveDataProcessing"
_CHILD = "KnownChildSensitiveDataConsents"
_SENSITIVE_NOTICES = ("SensitiveDataProcessingOptOutNotice", "SensitiveDataLimitUseNotice")
_OPT_OUT_SCOPES = ("Sale", "Sharing", "TargetedAdvertising")

# Sensitive-data categories (0-based) of Prebid's isTransmitUfpdConsentDenied.
_GEO = 7
# Genetic, biometric, ID numbers, financial account, union membership, communications, victim
# of crime, transgender or nonbinary status: must not be in scope at all.
_CANNOT_BE_IN_SCOPE = (5, 6, 8, 9, 11, 13, 15)
_ALL_EXCEPT_GEO = tuple(i for i in range(16) if i != _GEO)
_MUST_HAVE_CONSENT = tuple(i for i in _ALL_EXCEPT_GEO if i not in _CANNOT_BE_IN_SCOPE)


class UsDecision(NamedTuple):
    share: bool  # Prebid transmitUfpd
    sync: bool  # Prebid syncUser
    reasons: tuple[str, ...]  # why share or sync is denied, e.g. ("usnat:SaleOptOut",)


# -- state sections onto usnat (gppControl_usstates) ----------------------------------------

# Prebid's usnat view (FIELDS): scalar fields, in its order; list fields come from the mapping.
_USNAT_SCALARS = (
    "Version", "Gpc", "SharingNotice", "SaleOptOutNotice", "SharingOptOutNotice",
    "TargetedAdvertisingOptOutNotice", "SensitiveDataProcessingOptOutNotice",
    "SensitiveDataLimitUseNotice", "SaleOptOut", "SharingOptOut", "TargetedAdvertisingOptOut",
)  # fmt: skip
_USNAT_MSPA_SCALARS = (
    "PersonalDataConsents", "MspaCoveredTransaction", "MspaOptOutOptionMode",
    "MspaServiceProviderMode",
)  # fmt: skip
_PREBID_SENSITIVE_SLOTS = 12  # Prebid normalizes 8-12 onto usnat version 1
_SENSITIVE_SLOTS = 16  # 13-23 go onto usnat version 2 (see the module docstring)
_CHILD_SLOTS = 2


def _child_any(value: Any) -> list[int]:
    """CA, VA, CO, UT (Prebid) and 13-23: a known child at all -> [1, 1], which denies."""
    values = value if isinstance(value, list) else [value]
    return [1, 1] if any(v != 0 for v in values) else [0, 0]


def _child_ct(value: Any) -> list[int]:
    """Connecticut (Prebid): 13-16 consents to sale and to targeted ads -> [2, 1]."""
    values = value if isinstance(value, list) else [value]
    if all(v == 0 for v in values):
        return [0, 0]
    if len(values) == 3 and values[1] == 2 and values[2] == 2:
        return [2, 1]
    return [1, 1]


class StateMapping:
    """How one state section maps onto usnat (a plain slotted class: a NamedTuple costs more
    at import, and these are never compared)."""

    __slots__ = ("renames", "moves", "sensitive_slots", "children")

    def __init__(self, renames: Mapping[str, str], moves: Mapping[int, tuple[int, ...]],
                 sensitive_slots: int, children: Callable[[Any], list[int]]) -> None:
        self.renames = renames  # state field -> usnat field of the same meaning
        self.moves = moves  # 0-based sensitive category -> usnat categories
        self.sensitive_slots = sensitive_slots  # 12 (Prebid's view of 8-12) or 16
        self.children = children  # the state's known-child value(s) -> usnat's two flags


_NO_RENAMES: Mapping[str, str] = {}
_STATE_RENAMES = {"ProcessingNotice": "SharingNotice",
                  "AdditionalDataProcessingConsent": "PersonalDataConsents"}
_IOWA_RENAMES = {**_STATE_RENAMES,
                 "SensitiveDataOptOutNotice": "SensitiveDataProcessingOptOutNotice"}


def _prebid(moves: Mapping[int, tuple[int, ...]], children: Callable[[Any], list[int]]
            ) -> StateMapping:
    return StateMapping(_NO_RENAMES, moves, _PREBID_SENSITIVE_SLOTS, children)


def _ours(moves: Mapping[int, tuple[int, ...]] | None = None,
          renames: Mapping[str, str] = _STATE_RENAMES) -> StateMapping:
    return StateMapping(renames, moves or {}, _SENSITIVE_SLOTS, _child_any)


# 8-12: Prebid's NORMALIZATIONS (its 1-based moves made 0-based). 13-23: ours, by meaning;
# a category not listed keeps its position (racial or ethnic origin, religious beliefs, health,
# sex life or orientation, citizenship, genetic, biometric, precise geolocation: usnat's 1-8).
_STATE_MAPPINGS: Mapping[int, StateMapping] = {
    8: _prebid({0: (8,), 1: (9,), 2: (7,), 3: (0, 1), 4: (11,), 7: (2,), 8: (3,)}, _child_any),
    9: _prebid({}, _child_any),
    10: _prebid({}, _child_any),
    11: _prebid({2: (3,), 3: (4,), 4: (2,)}, _child_any),
    12: _prebid({}, _child_ct),
    13: _ours(),
    14: _ours(),
    # Oregon: 5 transgender/nonbinary, 6 citizenship, 7 national origin, 8 victim of crime,
    # 9 genetic, 10 biometric, 11 geolocation.
    15: _ours({4: (15,), 5: (4,), 6: (14,), 7: (13,), 8: (5,), 9: (6,), 10: (7,)}),
    16: _ours(),
    17: _ours({8: (15,)}),  # Delaware 9: transgender/nonbinary
    18: _ours(renames=_IOWA_RENAMES),
    19: _ours(),
    20: _ours(),
    21: _ours({8: (15,)}),  # New Jersey 9: transgender/nonbinary; 10 financial is usnat's 10
    22: _ours(),
    23: _ours(),
}


def _sensitive_view(values: Any, moves: Mapping[int, tuple[int, ...]], slots: int
                    ) -> list[Any]:
    """Prebid's normalizer for list fields: copy, move, pad with None. A moved value claims
    its slot; one that stays put may be overwritten by a later move."""
    out: list[Any] = [None] * slots
    if not isinstance(values, list):
        return out
    claimed: set[int] = set()
    for index, value in enumerate(values):
        targets = moves.get(index)
        for target in targets if targets is not None else (index,):
            if target < slots and target not in claimed:
                out[target] = value
                if targets is not None:
                    claimed.add(target)
    return out


def normalize_us_section(section_id: int, fields: Mapping[str, Any]) -> Mapping[str, Any]:
    """The usnat view of a US section: usnat as it is, a state section mapped onto usnat's
    fields (a field the state lacks is None: "not opted out")."""
    if section_id == USNAT_SECTION_ID:
        return fields
    mapping = _STATE_MAPPINGS[section_id]
    renamed = {mapping.renames.get(name, name): value for name, value in fields.items()}
    view: dict[str, Any] = {}
    for name in _USNAT_SCALARS:
        value = renamed.get(name)
        view[name] = None if isinstance(value, list) else value
    view[_SENSITIVE] = _sensitive_view(renamed.get(_SENSITIVE), mapping.moves,
                                       mapping.sensitive_slots)
    view[_CHILD] = mapping.children(renamed.get(_CHILD))
    for name in _USNAT_MSPA_SCALARS:
        value = renamed.get(name)
        view[name] = None if isinstance(value, list) else value
    return view


# -- the rules (activityControls) -----------------------------------------------------------


def _item(values: Any, index: int) -> Any:
    return values[index] if isinstance(values, list) and index < len(values) else None


def _is_applicable(value: Any) -> bool:
    return value is not None and value != 0


def basic_denials(cd: Mapping[str, Any]) -> list[str]:
    """isBasicConsentDenied, plus Gpc true (Prebid: ``Gpc === 1``, never true for a boolean)."""
    reasons = []
    if cd.get("MspaServiceProviderMode") == 1:  # service provider mode: always denied
        reasons.append("MspaServiceProviderMode")
    if cd.get("Gpc") == 1:  # True == 1: the deliberate divergence
        reasons.append("Gpc")
    if cd.get("PersonalDataConsents") == 2:  # no consent to what no notice covered
        reasons.append("PersonalDataConsents")
    children = cd.get(_CHILD)
    if _item(children, 0) == 1:  # 13-16 without consent
        reasons.append(f"{_CHILD}[1]")
    if _is_applicable(_item(children, 1)):  # under 13 cannot consent
        reasons.append(f"{_CHILD}[2]")
    if _item(children, 2) == 1:  # 16-17 without consent (usnat version 2)
        reasons.append(f"{_CHILD}[3]")
    if cd.get("MspaCoveredTransaction") == 0:
        reasons.append("MspaCoveredTransaction")
    return reasons


def consent_denials(cd: Mapping[str, Any]) -> list[str]:
    """isConsentDenied: what denies ``sync`` (Prebid syncUser)."""
    reasons = basic_denials(cd)
    for scope in _OPT_OUT_SCOPES:
        opt_out = cd.get(f"{scope}OptOut")
        notice = cd.get(f"{scope}OptOutNotice")
        if opt_out == 1:
            reasons.append(f"{scope}OptOut")
        if notice == 2:  # the opt-out notice was not given
            reasons.append(f"{scope}OptOutNotice")
        if opt_out == 2 and notice == 0:  # "did not opt out" of what it was not told about
            reasons.append(f"{scope}OptOutWithoutNotice")
    if cd.get("SharingNotice") == 2:
        reasons.append("SharingNotice")
    if cd.get("SharingOptOut") == 2 and cd.get("SharingNotice") == 0:
        reasons.append("SharingOptOutWithoutSharingNotice")
    return reasons


def sensitive_denials(cd: Mapping[str, Any]) -> list[str]:
    """The sensitive-data part of isTransmitUfpdConsentDenied. The categories are those the
    view holds (12 or 16): a padded or absent one is 0 or None and never denies."""
    reasons = [notice for notice in _SENSITIVE_NOTICES if cd.get(notice) == 2]
    flags = cd.get(_SENSITIVE)
    for index in sorted((*_CANNOT_BE_IN_SCOPE, *_MUST_HAVE_CONSENT)):
        value = _item(flags, index)
        out_of_scope = index in _CANNOT_BE_IN_SCOPE and _is_applicable(value)
        if out_of_scope or (index in _MUST_HAVE_CONSENT and value == 1):
            reasons.append(f"{_SENSITIVE}[{index + 1}]")
    if any(cd.get(notice) == 0 for notice in _SENSITIVE_NOTICES) and any(
        _item(flags, index) == 2 for index in _ALL_EXCEPT_GEO
    ):  # consent claimed without the notice it needs
        reasons.append("SensitiveDataConsentWithoutNotice")
    return reasons


def transmit_ufpd_denials(cd: Mapping[str, Any]) -> list[str]:
    """isTransmitUfpdConsentDenied: what denies ``share`` (Prebid transmitUfpd)."""
    return consent_denials(cd) + sensitive_denials(cd)


def section_denials(section_id: int, fields: Mapping[str, Any] | None
                    ) -> tuple[list[str], list[str]]:
    """(reasons to deny share, reasons to deny sync) for one usnat or state section (mspaRule),
    each prefixed with the section's name; ``fields`` None: the section is missing."""
    name = section_name(section_id)
    known = _USNAT_VERSIONS if section_id == USNAT_SECTION_ID else _STATE_VERSIONS
    if fields is None:
        both = [f"{name}:missing"]
    elif fields.get("Version") not in known:
        both = [f"{name}:Version"]
    else:
        view = normalize_us_section(section_id, fields)
        return ([f"{name}:{r}" for r in transmit_ufpd_denials(view)],
                [f"{name}:{r}" for r in consent_denials(view)])
    return both, both


def _us_privacy_denials(gpp: GppString) -> list[str]:
    section = gpp.sections.get(USP_SECTION_ID)
    if section is None:
        return ["uspv1:missing"]
    return ["uspv1:OptOutSale"] if section.fields.get("OptOutSale") == "Y" else []


def us_decision(gpp: GppString, applicable: Iterable[int]) -> UsDecision:
    """Prebid's MSPA rules over the applicable US sections (usnat, every state section) and
    the spec's additions: Gpc true and uspv1 opt-out deny; a listed US section the string
    lacks, or that is not decoded, denies. Non-US ids are ignored."""
    share_reasons: list[str] = []
    sync_reasons: list[str] = []
    for section_id in dict.fromkeys(applicable):
        if section_id == USP_SECTION_ID:
            reasons = _us_privacy_denials(gpp)
            share_reasons += reasons
            sync_reasons += reasons
        elif section_id in US_SECTION_IDS:
            section = gpp.sections.get(section_id)
            share, sync = section_denials(section_id, None if section is None else section.fields)
            share_reasons += share
            sync_reasons += sync
    return UsDecision(
        share=not share_reasons,
        sync=not sync_reasons,
        reasons=tuple(dict.fromkeys(share_reasons + sync_reasons)),
    )
