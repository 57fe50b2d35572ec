"""Decoder for IAB Global Privacy Platform (GPP) strings and ``gpp_sid`` (privacy-signals.md 1-2).

A GPP string is a header and sections joined by ``~``. The header (base64url bits) holds the
type (3), the version (1) and the ids of the sections that follow, in order, as Fibonacci-coded
ranges. Each section has its own format (gpp_sections.py).

Only the sections that apply are decoded (``gpp_sid``; the spec: "Sections not listed are not
decoded"). So how strict a call is depends on ``applicable``:

- always an error: anything wrong with the string as a whole: empty, longer than
  ``MAX_GPP_LENGTH``, a header that does not decode (type, version, a Fibonacci code, set
  padding bits), a header that lists more or fewer sections than the string holds, an empty
  section;
- an error only when the section applies: anything wrong inside a section. A malformed section
  that does not apply is not looked at, as if it were opaque text.

Section ids the header lists but this module does not decode (1, 5, 28 and up, and 24-27 while
their encoding is in public comment) are skipped, not an error. An applicable id the string
lacks or that cannot be decoded is reported in ``GppString.missing``: the caller treats it as
the spec says ("counts as missing").

Stricter than IAB's reference decoder (@iabgpp/cmpapi 3.2.0), which accepts all of these, because
the spec fails closed on malformed input: an empty string; a bare TC string without a GPP header
(``C...``, which the reference decoder takes for tcfeuv2); set padding bits after the header's
last field; more ``.`` sub-sections than a section's format defines; ``uspv1`` letters other than
``Y``, ``N`` and ``-``. See gpp_sections.py for the section-level choices.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from chalicelib.consent.gpp_bits import (
    GppError,
    read_fibonacci,
    require_zero_padding,
    segment_bits,
)
from chalicelib.consent.gpp_sections import SECTION_DECODERS, SECTION_NAMES

__all__ = [
    "MAX_GPP_LENGTH",
    "MAX_SECTION_ID",
    "GppError",
    "GppSection",
    "GppString",
    "decode_gpp",
    "parse_gpp_sid",
    "section_name",
]

MAX_GPP_LENGTH = 8192  # privacy-signals.md 1
MAX_SECTION_ID = 64  # for gpp_sid: 27 ids published so far, room for decades more
MAX_GPP_SID_LENGTH = 256

HEADER_TYPE = 3
HEADER_VERSION = 1
_HEADER_FIXED_BITS = 24  # Type 6, Version 6, range entry count 12

# The CMP API's "no section applies" placeholders in applicableSections (IAB CMP API
# specification, PingReturn): [-1], or 0 during stub/load. They carry no section.
_NO_SECTION = frozenset({"-1", "0"})


class GppSection(NamedTuple):
    id: int
    name: str
    encoded: str  # the section's text; for tcfeuv2 the TC string to hand to the TCF decoder
    fields: Mapping[str, Any]  # IAB's field names, flat (a GPC sub-section's fields included)


class GppString(NamedTuple):
    section_ids: tuple[int, ...]  # from the header, in order (unknown ids included)
    sections: Mapping[int, GppSection]  # the decoded sections only
    missing: tuple[int, ...]  # applicable ids the string lacks or that are not decoded


def section_name(section_id: int) -> str:
    """IAB's API name for a section id (``usnat``), or ``sid<n>`` for an unknown one."""
    return SECTION_NAMES.get(section_id, f"sid{section_id}")


def decode_gpp(raw: str, applicable: Iterable[int] | None = None) -> GppString:
    """Decode the header and the sections whose id is in ``applicable`` (None: every section
    this module knows). Raises ``GppError`` on a malformed string or applicable section."""
    if not raw:
        raise GppError("empty GPP string")
    if len(raw) > MAX_GPP_LENGTH:
        raise GppError(f"GPP string longer than {MAX_GPP_LENGTH} characters")
    header, *texts = raw.split("~")
    section_ids = _decode_header(header, len(texts))
    wanted = None if applicable is None else tuple(dict.fromkeys(applicable))
    sections: dict[int, GppSection] = {}
    for section_id, text in zip(section_ids, texts, strict=True):
        if not text.strip():  # the reference decoder's "Section N is blank"
            raise GppError(f"GPP section {section_id} is empty")
        decoder = SECTION_DECODERS.get(section_id)
        if decoder is not None and (wanted is None or section_id in wanted):
            sections[section_id] = GppSection(
                section_id, SECTION_NAMES[section_id], text, decoder(text)
            )
    missing = () if wanted is None else tuple(i for i in wanted if i not in sections)
    return GppString(section_ids, sections, missing)


def _decode_header(text: str, section_count: int) -> tuple[int, ...]:
    bits = segment_bits(text, "GPP header")
    if len(bits) < _HEADER_FIXED_BITS:
        raise GppError("GPP header is truncated")
    header_type = int(bits[:6], 2)
    if header_type != HEADER_TYPE:
        raise GppError(f"not a GPP string (header type {header_type}, not {HEADER_TYPE})")
    version = int(bits[6:12], 2)
    if version != HEADER_VERSION:
        raise GppError(f"GPP header version {version} is not {HEADER_VERSION}")
    entries = int(bits[12:_HEADER_FIXED_BITS], 2)
    section_ids, end = _read_section_ids(bits, _HEADER_FIXED_BITS, entries, section_count)
    require_zero_padding(bits, end, "GPP header")
    if len(section_ids) != section_count:
        raise GppError(f"GPP header lists {len(section_ids)} section ids "
                       f"for {section_count} sections")
    return section_ids


def _read_section_ids(
    bits: str, pos: int, entries: int, section_count: int
) -> tuple[tuple[int, ...], int]:
    """The header's Range(Fibonacci): per entry IsRange 1 bit, then one id, or a first id and
    the span to the last, each coded as the difference from the previous id (so ids ascend)."""
    ids: list[int] = []
    previous = 0
    for _ in range(entries):
        if pos >= len(bits):
            raise GppError("GPP header is truncated")
        is_range = bits[pos] == "1"
        delta, pos = read_fibonacci(bits, pos + 1, "GPP header")
        first = last = previous + delta
        if is_range:
            span, pos = read_fibonacci(bits, pos, "GPP header")
            last = first + span
        # Checked before expanding, so that a range cannot make a huge list.
        if len(ids) + last - first + 1 > section_count:
            raise GppError(f"GPP header lists more sections than the string's {section_count}")
        ids.extend(range(first, last + 1))
        previous = last
    return tuple(ids), pos


def parse_gpp_sid(raw: str) -> tuple[int, ...]:
    """``'7,8'`` -> ``(7, 8)``: ASCII digits, ids 1 to ``MAX_SECTION_ID``, duplicates dropped
    (first kept). ``-1`` and ``0``, the CMP API's "no section applies", add no id. ``''`` is no
    id. Anything else raises ``GppError``."""
    if len(raw) > MAX_GPP_SID_LENGTH:
        raise GppError(f"gpp_sid longer than {MAX_GPP_SID_LENGTH} characters")
    if not raw:
        return ()
    ids: dict[int, None] = {}
    for token in raw.split(","):
        if token in _NO_SECTION:
            continue
        # isascii: str.isdigit alone takes '²' and other Unicode digits.
        if not (token.isascii() and token.isdigit()) or len(token) > 3:
            raise GppError("gpp_sid is not a comma-separated list of section ids")
        section_id = int(token)
        if not 1 <= section_id <= MAX_SECTION_ID:
            raise GppError(f"gpp_sid holds a section id outside 1-{MAX_SECTION_ID}")
        ids[section_id] = None
    return tuple(ids)
