"""Test-only TCF v2 TC string encoder: builds core segments bit by bit.

Written from the IAB "Consent string and vendor list formats" v2.2 field table, independently
of chalicelib.consent.tcf (it shares no constants with it), so decoding what this writes
checks the decoder against the spec rather than against itself.
"""

from __future__ import annotations

import base64
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Sequence

Encoding = Literal["bitfield", "range"]


@dataclass
class Restriction:
    purpose_id: int
    restriction_type: int
    vendor_ids: Iterable[int] = ()
    # Explicit (start, end) entries, written as given (may overlap or be unsorted);
    # when None, vendor_ids are grouped into maximal runs.
    ranges: Sequence[tuple[int, int]] | None = None


@dataclass
class CoreFields:
    version: int = 2
    created: int = 16_900_000_000  # deciseconds since the epoch (2023-07-21)
    last_updated: int = 16_900_000_000
    cmp_id: int = 10
    cmp_version: int = 1
    consent_screen: int = 1
    consent_language: str = "EN"
    vendor_list_version: int = 300
    tcf_policy_version: int = 4
    is_service_specific: bool = False
    use_non_standard_texts: bool = False
    special_feature_opt_ins: Iterable[int] = ()
    purposes_consent: Iterable[int] = ()
    purposes_li_transparency: Iterable[int] = ()
    purpose_one_treatment: bool = False
    publisher_cc: str = "DE"
    vendor_consents: Iterable[int] = ()
    vendor_consent_encoding: Encoding = "bitfield"
    vendor_consent_max_id: int | None = None  # default: the highest ID (0 when none)
    vendor_legitimate_interests: Iterable[int] = ()
    vendor_li_encoding: Encoding = "bitfield"
    vendor_li_max_id: int | None = None
    publisher_restrictions: Sequence[Restriction] = field(default_factory=list)


class BitWriter:
    def __init__(self) -> None:
        self.parts: list[str] = []

    def uint(self, value: int, width: int) -> None:
        if not 0 <= value < (1 << width):
            raise ValueError(f"{value} does not fit in {width} bits")
        self.parts.append(bin(value)[2:].rjust(width, "0"))

    def bool(self, value: bool) -> None:
        self.parts.append("1" if value else "0")

    def flags(self, ids: Iterable[int], width: int) -> None:
        """A fixed bitfield: bit i (from the left, 1-based) is set when i is in ids."""
        chosen = set(ids)
        if any(not 1 <= i <= width for i in chosen):
            raise ValueError(f"an ID of {sorted(chosen)} is outside 1-{width}")
        self.parts.append("".join("1" if i in chosen else "0" for i in range(1, width + 1)))

    def letters(self, two: str) -> None:
        if len(two) != 2 or not all("A" <= c <= "Z" for c in two):
            raise ValueError(f"{two!r} is not two letters A-Z")
        for c in two:
            self.uint(ord(c) - ord("A"), 6)

    def bits(self) -> str:
        return "".join(self.parts)


def runs(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted IDs grouped into maximal runs of consecutive values."""
    out: list[tuple[int, int]] = []
    for i in sorted(set(ids)):
        if out and i == out[-1][1] + 1:
            out[-1] = (out[-1][0], i)
        else:
            out.append((i, i))
    return out


def _range_entries(w: BitWriter, entries: Sequence[tuple[int, int]]) -> None:
    w.uint(len(entries), 12)  # NumEntries
    for start, end in entries:
        if start == end:
            w.bool(False)  # IsARange
            w.uint(start, 16)  # StartOrOnlyVendorId
        else:
            w.bool(True)
            w.uint(start, 16)
            w.uint(end, 16)  # EndVendorId


def _vendor_section(
    w: BitWriter, ids: Iterable[int], encoding: Encoding, max_id: int | None
) -> None:
    chosen = set(ids)
    top = max_id if max_id is not None else max(chosen, default=0)
    w.uint(top, 16)  # MaxVendorId
    if encoding == "range":
        w.bool(True)  # IsRangeEncoding
        _range_entries(w, runs(chosen))
    else:
        w.bool(False)
        w.flags(chosen, top)


def core_bits(f: CoreFields) -> str:
    w = BitWriter()
    w.uint(f.version, 6)
    w.uint(f.created, 36)
    w.uint(f.last_updated, 36)
    w.uint(f.cmp_id, 12)
    w.uint(f.cmp_version, 12)
    w.uint(f.consent_screen, 6)
    w.letters(f.consent_language)
    w.uint(f.vendor_list_version, 12)
    w.uint(f.tcf_policy_version, 6)
    w.bool(f.is_service_specific)
    w.bool(f.use_non_standard_texts)
    w.flags(f.special_feature_opt_ins, 12)
    w.flags(f.purposes_consent, 24)
    w.flags(f.purposes_li_transparency, 24)
    w.bool(f.purpose_one_treatment)
    w.letters(f.publisher_cc)
    _vendor_section(w, f.vendor_consents, f.vendor_consent_encoding, f.vendor_consent_max_id)
    _vendor_section(w, f.vendor_legitimate_interests, f.vendor_li_encoding, f.vendor_li_max_id)
    w.uint(len(f.publisher_restrictions), 12)  # NumPubRestrictions
    for r in f.publisher_restrictions:
        w.uint(r.purpose_id, 6)
        w.uint(r.restriction_type, 2)
        _range_entries(w, list(r.ranges) if r.ranges is not None else runs(r.vendor_ids))
    return w.bits()


def bits_to_base64url(bits: str) -> str:
    """Zero-pad to whole bytes, then base64url without '=' padding (as CMPs write it)."""
    padded = bits + "0" * (-len(bits) % 8)
    raw = bytes(int(padded[i : i + 8], 2) for i in range(0, len(padded), 8))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def encode_tc_string(
    fields: CoreFields | None = None, *extra_segments: str, **changes: Any
) -> str:
    """The core segment for ``fields`` (with ``changes`` applied), then any extra segments."""
    f = dataclasses.replace(fields if fields is not None else CoreFields(), **changes)
    return ".".join([bits_to_base64url(core_bits(f)), *extra_segments])


def disclosed_vendors_segment(ids: Iterable[int], encoding: Encoding = "bitfield") -> str:
    """A disclosed-vendors segment (SegmentType 1, then a vendor section): mandatory in v2.3."""
    w = BitWriter()
    w.uint(1, 3)
    _vendor_section(w, ids, encoding, None)
    return bits_to_base64url(w.bits())
