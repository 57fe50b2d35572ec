"""Decoder for IAB TCF v2 TC strings (core segment), per IAB Tech Lab's "Consent string and
vendor list formats" v2.2.

The core segment (the first, before any ``.``) and the disclosed-vendors segment (TCF v2.3)
are decoded; every later segment must be base64url, and an allowed-vendors segment must hold a
whole vendor section too (its vendors are not used). Runs once per event, so it works on one
binary string made by C code (base64 -> int -> format) and slices it: a typical string decodes
in tens of microseconds. Anything that does not decode raises ``ConsentError``.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable, NamedTuple

from chalicelib.consent.vendor_set import VendorSet

MAX_TC_STRING_CHARS = 4096  # dcs-protocol.md 11
SUPPORTED_VERSION = 2

# Restriction types (PubRestrictionEntry.RestrictionType).
RESTRICTION_NOT_ALLOWED = 0
RESTRICTION_REQUIRE_CONSENT = 1
RESTRICTION_REQUIRE_LI = 2

# base64url, optionally padded with '=' (the spec says no padding; some CMPs add it anyway).
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-]+={0,2}")

def _uint(field: str) -> int:
    return int(field, 2)


def _flag(field: str) -> bool:
    return field == "1"


@lru_cache(maxsize=1024)
def _ids(field: str) -> frozenset[int]:
    """IDs of the '1' bits of a small fixed bitfield (purposes, special features); cached,
    as real traffic carries few distinct combinations."""
    return frozenset(i for i, c in enumerate(field, 1) if c == "1")


def _letters(field: str) -> str:
    """Two 6-bit letters, A=0 (ConsentLanguage, PublisherCC)."""
    return chr(65 + int(field[:6], 2)) + chr(65 + int(field[6:], 2))


# The fixed part of the core segment, in order: (TCString field, bit width, converter).
_CORE_FIELDS: tuple[tuple[str, int, Callable[[str], Any]], ...] = (
    ("version", 6, _uint),
    ("created", 36, _uint),
    ("last_updated", 36, _uint),
    ("cmp_id", 12, _uint),
    ("cmp_version", 12, _uint),
    ("consent_screen", 6, _uint),
    ("consent_language", 12, _letters),
    ("vendor_list_version", 12, _uint),
    ("tcf_policy_version", 6, _uint),
    ("is_service_specific", 1, _flag),
    ("use_non_standard_texts", 1, _flag),
    ("special_feature_opt_ins", 12, _ids),
    ("purposes_consent", 24, _ids),
    ("purposes_li_transparency", 24, _ids),
    ("purpose_one_treatment", 1, _flag),
    ("publisher_cc", 12, _letters),
)


def _layout() -> tuple[tuple[str, int, int, Callable[[str], Any]], ...]:
    """(name, start bit, end bit, converter) for each fixed field."""
    out = []
    pos = 0
    for name, width, convert in _CORE_FIELDS:
        out.append((name, pos, pos + width, convert))
        pos += width
    return tuple(out)


_FIXED_LAYOUT = _layout()
_CORE_FIXED_BITS = _FIXED_LAYOUT[-1][2]  # 213: the vendor consent section starts here
_VERSION_BITS = 6


class ConsentError(ValueError):
    """The TC string cannot be decoded (dcs-protocol.md 7: no consent, 315)."""


class PublisherRestriction(NamedTuple):
    purpose_id: int
    restriction_type: int  # 0 not allowed, 1 require consent, 2 require LI, 3 undefined
    vendor_ids: VendorSet


class TCString(NamedTuple):
    """The core segment. ``created``/``last_updated`` are deciseconds since the Unix epoch,
    as encoded; vendor sets are ``VendorSet`` (compares equal to the frozenset of the IDs).

    A NamedTuple rather than a slotted dataclass: a fraction of the import cost on a cold
    Lambda start (bench/coldstart.py), and still no per-instance ``__dict__``."""

    version: int
    created: int
    last_updated: int
    cmp_id: int
    cmp_version: int
    consent_screen: int
    consent_language: str
    vendor_list_version: int
    tcf_policy_version: int
    is_service_specific: bool
    use_non_standard_texts: bool
    special_feature_opt_ins: frozenset[int]
    purposes_consent: frozenset[int]
    purposes_li_transparency: frozenset[int]
    purpose_one_treatment: bool
    publisher_cc: str
    vendor_consents: VendorSet
    vendor_legitimate_interests: VendorSet
    publisher_restrictions: tuple[PublisherRestriction, ...]
    # The disclosed-vendors segment (TCF v2.3: mandatory), None when the string has none.
    disclosed_vendors: VendorSet | None = None

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.created / 10, tz=timezone.utc)

    @property
    def last_updated_at(self) -> datetime:
        return datetime.fromtimestamp(self.last_updated / 10, tz=timezone.utc)


def decode_tc_string(text: str) -> TCString:
    """Decode the core segment of a TCF v2 TC string, or raise ``ConsentError``."""
    if not text:
        raise ConsentError("empty TC string")
    if len(text) > MAX_TC_STRING_CHARS:
        raise ConsentError(f"TC string longer than {MAX_TC_STRING_CHARS} characters")
    segments = text.split(".")
    core = _Reader(_core_bits(segments[0])).core()
    disclosed: VendorSet | None = None
    for segment in segments[1:]:
        segment_type, vendors = _later_segment(segment)
        if segment_type == _DISCLOSED_VENDORS and disclosed is None:
            disclosed = vendors
    return core._replace(disclosed_vendors=disclosed) if disclosed is not None else core


# Later segments (dot-separated): SegmentType 3 bits. Disclosed (1) and allowed (2) vendors
# carry a vendor section, which must be whole; the publisher TC segment (3) and unknown types
# are not read. IAB's reference decoders refuse a truncated vendor segment, so does this.
_DISCLOSED_VENDORS = 1
_VENDOR_SEGMENT_TYPES = (_DISCLOSED_VENDORS, 2)


def _later_segment(segment: str) -> tuple[int, VendorSet | None]:
    """The segment's type, and its vendor section when it has one."""
    if not segment:
        raise ConsentError("empty TC string segment")
    reader = _Reader(_core_bits(segment))
    segment_type = reader.read(3)
    if segment_type in _VENDOR_SEGMENT_TYPES:
        return segment_type, reader.vendor_section()
    return segment_type, None


def _core_bits(segment: str) -> str:
    if not _SEGMENT_RE.fullmatch(segment):
        raise ConsentError("TC string is not base64url")
    core = segment.rstrip("=")
    try:
        raw = base64.b64decode(core + "=" * (-len(core) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:  # e.g. a length of 4n+1 characters
        raise ConsentError("TC string is not base64url") from exc
    if not raw:
        raise ConsentError("empty TC string")
    return format(int.from_bytes(raw, "big"), f"0{len(raw) * 8}b")


class _Reader:
    """Reads fields off the binary string; every read past the end raises ConsentError."""

    __slots__ = ("bits", "pos", "size")

    def __init__(self, bits: str) -> None:
        self.bits = bits
        self.pos = 0
        self.size = len(bits)

    def read(self, width: int) -> int:
        end = self.pos + width
        if end > self.size:
            raise ConsentError("TC string is truncated")
        value = int(self.bits[self.pos : end], 2)
        self.pos = end
        return value

    def core(self) -> TCString:
        bits = self.bits
        if self.size < _CORE_FIXED_BITS:
            raise ConsentError("TC string is truncated")
        version = int(bits[:_VERSION_BITS], 2)
        if version != SUPPORTED_VERSION:
            raise ConsentError(f"TC string version {version} is not {SUPPORTED_VERSION}")
        fixed = {name: convert(bits[start:end]) for name, start, end, convert in _FIXED_LAYOUT}
        self.pos = _CORE_FIXED_BITS
        vendor_consents = self.vendor_section()
        vendor_li = self.vendor_section()
        return TCString(
            **fixed,
            vendor_consents=vendor_consents,
            vendor_legitimate_interests=vendor_li,
            publisher_restrictions=self.restrictions(),
        )

    def vendor_section(self) -> VendorSet:
        """MaxVendorId 16, IsRangeEncoding 1, then a bitfield or range entries."""
        max_vendor_id = self.read(16)
        if self.read(1):
            return self.range_entries()
        start = self.pos
        end = start + max_vendor_id
        if end > self.size:
            raise ConsentError("TC string is truncated")
        self.pos = end
        return VendorSet.from_bitfield(self.bits[start:end])

    def range_entries(self) -> VendorSet:
        """NumEntries 12, each IsARange 1, StartOrOnlyVendorId 16, [EndVendorId 16]."""
        bits, size = self.bits, self.size
        pos = self.pos + 12
        if pos > size:
            raise ConsentError("TC string is truncated")
        count = int(bits[pos - 12 : pos], 2)
        intervals: list[tuple[int, int]] = []
        # Inlined reads: restrictions may hold hundreds of entries.
        for _ in range(count):
            if pos + 17 > size:
                raise ConsentError("TC string is truncated")
            first = int(bits[pos + 1 : pos + 17], 2)
            if first == 0:
                raise ConsentError("vendor ids start at 1")
            if bits[pos] == "1":
                if pos + 33 > size:
                    raise ConsentError("TC string is truncated")
                last = int(bits[pos + 17 : pos + 33], 2)
                pos += 33
                if last < first:
                    raise ConsentError(f"vendor range {first}-{last} ends before it starts")
            else:
                last = first
                pos += 17
            intervals.append((first, last))
        self.pos = pos
        return VendorSet(intervals)

    def restrictions(self) -> tuple[PublisherRestriction, ...]:
        """NumPubRestrictions 12, each PurposeId 6, RestrictionType 2, range entries."""
        entries = []
        for _ in range(self.read(12)):
            head = self.read(8)  # PurposeId 6, RestrictionType 2
            entries.append(PublisherRestriction(head >> 2, head & 3, self.range_entries()))
        return tuple(entries)

