"""GPP section decoders: each turns one section's text into its fields, under IAB's field names.

The field names, the order of fields and the flat view (a GPC sub-section's ``GpcSegmentType``
and ``Gpc`` next to the core's fields) are those of IAB's reference decoder ``@iabgpp/cmpapi``,
so that tests can compare them field by field (tests/fixtures/gpp/reference_decodes.json).

Design choices, and where they differ from the reference decoder:

- The layouts are data (``_STATE_LAYOUTS``), one line per section, read by one function; a new
  state section is one more line. Every field after ``Version`` (6 bits) is 2 bits wide.
- ``usnat``: the layout (12 or 16 sensitive-data flags, 2 or 3 known-child flags) follows the
  length of the payload, not its ``Version`` (privacy-signals.md section 2): iabgpp-java writes
  the long layout under Version 1. The fields always hold 16 and 3 values, a short payload's
  missing ones being 0 ("not applicable"), as both IAB libraries show them. Unlike
  iabgpp-es 3.2.0, nothing is cut to 12 and 2 values when ``Version`` is 1.
- A section whose format has no GPC sub-section (``usva``, ``usut``, ``usfl``) has no ``Gpc``
  field. A section whose format has one shows ``GpcSegmentType`` 1 and ``Gpc`` false when the
  string leaves the sub-section out, as the reference decoder does.
- Stricter than the reference decoder (the spec: malformed input fails closed): a ``.``
  sub-section beyond those the format defines, a sub-section type other than 1 (GPC, the only
  one defined), a set bit in the padding after the last field, and ``uspv1`` letters other than
  ``Y``, ``N`` and ``-`` are errors; the reference decoder ignores or accepts them.
- Field values are not range-checked: a 2-bit field holding 3 decodes as 3, as in both IAB
  libraries (their own test strings carry such values). The MSPA rules read them as Prebid does.
- ``tcfeuv2`` is decoded by rtdcs' TCF decoder (tcf.py), the one the TCF gates use, so that a TC
  string this module accepts is one the gates accept. Its fields are the core segment's, built
  only when read: the gates take ``GppSection.encoded`` and decode it themselves.
- Sections 24 to 27 (``usmd``, ``usin``, ``usky``, ``usri``) are still in public comment: no
  decoder until their encoding is final (privacy-signals.md section 2). ``tcfcav1`` (5) is not
  decoded either: rtdcs does not act on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from chalicelib.consent.gpp_bits import (
    GppError,
    is_base64url,
    require_zero_padding,
    segment_bits,
)
from chalicelib.consent.tcf import ConsentError, TCString, decode_tc_string
from chalicelib.consent.us_privacy import UsPrivacyError, parse_us_privacy

# Section ids and client-side API names, from IAB's Section Information list (1, 3 and 4 are
# the deprecated TCF v1, the header and signal integrity: never sections to decode).
SECTION_NAMES: Mapping[int, str] = {
    2: "tcfeuv2", 5: "tcfcav1", 6: "uspv1", 7: "usnat", 8: "usca", 9: "usva", 10: "usco",
    11: "usut", 12: "usct", 13: "usfl", 14: "usmt", 15: "usor", 16: "ustx", 17: "usde",
    18: "usia", 19: "usne", 20: "usnh", 21: "usnj", 22: "ustn", 23: "usmn", 24: "usmd",
    25: "usin", 26: "usky", 27: "usri",
}  # fmt: skip

SectionDecoder = Callable[[str], Mapping[str, Any]]

# -- US sections (bit fields) ---------------------------------------------------------------

# A layout lists the fields after the 6-bit Version: (name, count), count 0 for one 2-bit
# integer, n for a list of n 2-bit integers.
Layout = tuple[tuple[str, int], ...]

_VERSION_BITS = 6
_FIELD_BITS = 2
_GPC_SUBSECTION_TYPE = 1
_GPC_SUBSECTION_BITS = 3  # SubsectionType 2, Gpc 1

_MSPA = (("MspaCoveredTransaction", 0), ("MspaOptOutOptionMode", 0),
         ("MspaServiceProviderMode", 0))
_SHARING_NOTICE_HEAD = (("SharingNotice", 0), ("SaleOptOutNotice", 0),
                        ("TargetedAdvertisingOptOutNotice", 0))
_PROCESSING_NOTICE_HEAD = (("ProcessingNotice", 0), ("SaleOptOutNotice", 0),
                           ("TargetedAdvertisingOptOutNotice", 0))
_OPT_OUTS = (("SaleOptOut", 0), ("TargetedAdvertisingOptOut", 0))
_CHILD = "KnownChildSensitiveDataConsents"
_SENSITIVE = "SensitiveDataProcessing"
_ADDITIONAL = ("AdditionalDataProcessingConsent", 0)


def _usnat_layout(sensitive: int, children: int) -> Layout:
    return (
        ("SharingNotice", 0), ("SaleOptOutNotice", 0), ("SharingOptOutNotice", 0),
        ("TargetedAdvertisingOptOutNotice", 0), ("SensitiveDataProcessingOptOutNotice", 0),
        ("SensitiveDataLimitUseNotice", 0), ("SaleOptOut", 0), ("SharingOptOut", 0),
        ("TargetedAdvertisingOptOut", 0), (_SENSITIVE, sensitive), (_CHILD, children),
        ("PersonalDataConsents", 0), *_MSPA,
    )  # fmt: skip


_USNAT_LONG = _usnat_layout(16, 3)
_USNAT_SHORT = _usnat_layout(12, 2)


def _state(head: Layout, sensitive: int, children: int, *tail: tuple[str, int]) -> Layout:
    """The common state shape: notices and opt-outs, sensitive flags, child consents, tail."""
    return (*head, *_OPT_OUTS, (_SENSITIVE, sensitive), (_CHILD, children), *tail, *_MSPA)


# id: (layout, has a GPC sub-section). From iabgpp-es 3.2.0's segment classes, checked against
# IAB's technical specification of each state.
_STATE_LAYOUTS: Mapping[int, tuple[Layout, bool]] = {
    8: ((("SaleOptOutNotice", 0), ("SharingOptOutNotice", 0), ("SensitiveDataLimitUseNotice", 0),
         ("SaleOptOut", 0), ("SharingOptOut", 0), (_SENSITIVE, 9), (_CHILD, 2),
         ("PersonalDataConsents", 0), *_MSPA), True),
    9: (_state(_SHARING_NOTICE_HEAD, 8, 0), False),
    10: (_state(_SHARING_NOTICE_HEAD, 7, 0), True),
    11: ((*_SHARING_NOTICE_HEAD, ("SensitiveDataProcessingOptOutNotice", 0), *_OPT_OUTS,
          (_SENSITIVE, 8), (_CHILD, 0), *_MSPA), False),
    12: (_state(_SHARING_NOTICE_HEAD, 8, 3), True),
    13: (_state(_PROCESSING_NOTICE_HEAD, 8, 3, _ADDITIONAL), False),
    14: (_state(_SHARING_NOTICE_HEAD, 8, 3, _ADDITIONAL), True),
    15: (_state(_PROCESSING_NOTICE_HEAD, 11, 3, _ADDITIONAL), True),
    16: (_state(_PROCESSING_NOTICE_HEAD, 8, 0, _ADDITIONAL), True),
    17: (_state(_PROCESSING_NOTICE_HEAD, 9, 5, _ADDITIONAL), True),
    18: ((*_PROCESSING_NOTICE_HEAD, ("SensitiveDataOptOutNotice", 0), *_OPT_OUTS,
          (_SENSITIVE, 8), (_CHILD, 0), *_MSPA), True),
    19: (_state(_PROCESSING_NOTICE_HEAD, 8, 0, _ADDITIONAL), True),
    20: (_state(_PROCESSING_NOTICE_HEAD, 8, 3, _ADDITIONAL), True),
    21: (_state(_PROCESSING_NOTICE_HEAD, 10, 5, _ADDITIONAL), True),
    22: (_state(_PROCESSING_NOTICE_HEAD, 8, 0, _ADDITIONAL), True),
    23: (_state(_PROCESSING_NOTICE_HEAD, 8, 0, _ADDITIONAL), True),
}  # fmt: skip


def layout_bits(layout: Layout) -> int:
    """How many bits the Version and the layout's fields take."""
    return _VERSION_BITS + _FIELD_BITS * sum(max(count, 1) for _, count in layout)


def _read_core(bits: str, layout: Layout, what: str) -> dict[str, Any]:
    end = layout_bits(layout)
    if len(bits) < end:
        raise GppError(f"{what} core is truncated")
    require_zero_padding(bits, end, f"{what} core")
    fields: dict[str, Any] = {"Version": int(bits[:_VERSION_BITS], 2)}
    pos = _VERSION_BITS
    for name, count in layout:
        if count:
            stop = pos + _FIELD_BITS * count
            fields[name] = [int(bits[i : i + _FIELD_BITS], 2) for i in range(pos, stop, 2)]
            pos = stop
        else:
            fields[name] = int(bits[pos : pos + _FIELD_BITS], 2)
            pos += _FIELD_BITS
    return fields


def _split(text: str, has_gpc: bool, what: str) -> tuple[str, str | None]:
    """The core segment and the GPC sub-section, if any."""
    segments = text.split(".")
    if len(segments) > (2 if has_gpc else 1):
        raise GppError(f"{what} has more sub-sections than its format defines")
    return segments[0], (segments[1] if len(segments) == 2 else None)


def _gpc_fields(segment: str | None, what: str) -> dict[str, Any]:
    """``GpcSegmentType`` and ``Gpc``; a left-out sub-section reads as Gpc false."""
    if segment is None:
        return {"GpcSegmentType": _GPC_SUBSECTION_TYPE, "Gpc": False}
    bits = segment_bits(segment, f"{what} GPC sub-section")
    if len(bits) < _GPC_SUBSECTION_BITS:  # unreachable: one character holds 6 bits
        raise GppError(f"{what} GPC sub-section is truncated")
    subsection_type = int(bits[:2], 2)
    if subsection_type != _GPC_SUBSECTION_TYPE:
        raise GppError(f"{what} sub-section type {subsection_type} is not GPC (1)")
    require_zero_padding(bits, _GPC_SUBSECTION_BITS, f"{what} GPC sub-section")
    return {"GpcSegmentType": subsection_type, "Gpc": bits[2] == "1"}


def _state_decoder(name: str, layout: Layout, has_gpc: bool) -> SectionDecoder:
    def decode(text: str) -> Mapping[str, Any]:
        core, gpc = _split(text, has_gpc, name)
        fields = _read_core(segment_bits(core, f"{name} core"), layout, name)
        if has_gpc:
            fields.update(_gpc_fields(gpc, name))
        return fields

    return decode


def _decode_usnat(text: str) -> Mapping[str, Any]:
    core, gpc = _split(text, True, "usnat")
    bits = segment_bits(core, "usnat core")
    long_payload = len(bits) >= layout_bits(_USNAT_LONG)
    fields = _read_core(bits, _USNAT_LONG if long_payload else _USNAT_SHORT, "usnat")
    if not long_payload:  # flags the short layout lacks are "not applicable" (0)
        fields[_SENSITIVE] += [0] * 4
        fields[_CHILD] += [0]
    fields.update(_gpc_fields(gpc, "usnat"))
    return fields


# -- uspv1 ----------------------------------------------------------------------------------


def _decode_uspv1(text: str) -> Mapping[str, Any]:
    try:
        usp = parse_us_privacy(text)
    except UsPrivacyError as exc:
        raise GppError(f"uspv1 section: {exc}") from None
    return {"Version": usp.version, "Notice": usp.notice, "OptOutSale": usp.opt_out_sale,
            "LspaCovered": usp.lspa}


# -- tcfeuv2 --------------------------------------------------------------------------------


def _iso_time(deciseconds: int) -> str:
    """The reference decoder's view of a TCF timestamp: ISO 8601 in UTC, milliseconds."""
    seconds, tenths = divmod(deciseconds, 10)
    stamp = datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{tenths * 100:03d}Z"


def _flags(ids: frozenset[int], count: int) -> list[bool]:
    return [i in ids for i in range(1, count + 1)]


_TCF_CORE_FIELDS: Mapping[str, Callable[[TCString], Any]] = {
    "Version": lambda tc: tc.version,
    "Created": lambda tc: _iso_time(tc.created),
    "LastUpdated": lambda tc: _iso_time(tc.last_updated),
    "CmpId": lambda tc: tc.cmp_id,
    "CmpVersion": lambda tc: tc.cmp_version,
    "ConsentScreen": lambda tc: tc.consent_screen,
    "ConsentLanguage": lambda tc: tc.consent_language,
    "VendorListVersion": lambda tc: tc.vendor_list_version,
    "PolicyVersion": lambda tc: tc.tcf_policy_version,
    "IsServiceSpecific": lambda tc: tc.is_service_specific,
    "UseNonStandardStacks": lambda tc: tc.use_non_standard_texts,
    "SpecialFeatureOptins": lambda tc: _flags(tc.special_feature_opt_ins, 12),
    "PurposeConsents": lambda tc: _flags(tc.purposes_consent, 24),
    "PurposeLegitimateInterests": lambda tc: _flags(tc.purposes_li_transparency, 24),
    "PurposeOneTreatment": lambda tc: tc.purpose_one_treatment,
    "PublisherCountryCode": lambda tc: tc.publisher_cc,
    "VendorConsents": lambda tc: sorted(tc.vendor_consents),
    "VendorLegitimateInterests": lambda tc: sorted(tc.vendor_legitimate_interests),
    "PublisherRestrictions": lambda tc: [
        {"key": r.purpose_id, "type": r.restriction_type, "ids": sorted(r.vendor_ids)}
        for r in tc.publisher_restrictions
    ],
}


class TcfCoreFields(Mapping[str, Any]):
    """The TC string's core segment under the reference decoder's names, built when read:
    vendor lists can be long, and the TCF gates decode ``encoded`` themselves."""

    __slots__ = ("tc_string",)

    def __init__(self, tc_string: TCString) -> None:
        self.tc_string = tc_string

    def __getitem__(self, key: str) -> Any:
        return _TCF_CORE_FIELDS[key](self.tc_string)

    def __iter__(self) -> Iterator[str]:
        return iter(_TCF_CORE_FIELDS)

    def __len__(self) -> int:
        return len(_TCF_CORE_FIELDS)

    def __repr__(self) -> str:
        return f"TcfCoreFields({self.tc_string!r})"


def _decode_tcfeuv2(text: str) -> Mapping[str, Any]:
    # tcf.py takes '=' padding, which GPP's alphabet does not have.
    if not all(segment and is_base64url(segment) for segment in text.split(".")):
        raise GppError("tcfeuv2 section is not base64url segments")
    try:
        return TcfCoreFields(decode_tc_string(text))
    except ConsentError as exc:
        raise GppError(f"tcfeuv2 section: {exc}") from None


SECTION_DECODERS: Mapping[int, SectionDecoder] = {
    2: _decode_tcfeuv2,
    6: _decode_uspv1,
    7: _decode_usnat,
    **{sid: _state_decoder(SECTION_NAMES[sid], layout, has_gpc)
       for sid, (layout, has_gpc) in _STATE_LAYOUTS.items()},
}
