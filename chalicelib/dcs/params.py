"""Request parsing for every DCS endpoint (dcs-protocol.md section 3).

Two inputs reach us:

* A POST body: raw bytes, parsed here byte for byte (``&`` pairs, key up to the first ``=``,
  values split on a literal ``,`` *before* percent-decoding, strict UTF-8).
* A GET query string: API Gateway (REST, payload v1) and ``chalice local`` hand it to the
  function already decoded, so the raw bytes are gone. We check what survives decoding:
  replacement characters (invalid UTF-8), NUL, and a ``%`` not followed by two hex digits
  (an escape the platform could not decode). See docs/protocol-decisions.md.

The result is a :class:`ParsedRequest`: signals (key -> values), control values, and the
errors found. A request that must be discarded (311, 902) says so in ``discard``.

``ParsedRequest`` and ``_Pair`` are not dataclasses: import cost on a cold start
(chalicelib/core/records.py).
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, NamedTuple, Sequence
from urllib.parse import quote, unquote_to_bytes

from chalicelib.dcs.errors import DcsError, error

MAX_GET_BYTES = 8192
MAX_POST_QUERY_BYTES = 8192
MAX_POST_BODY_BYTES = 32768
MAX_SIGNAL_KEYS = 256
MAX_VALUES_PER_KEY = 100
MAX_KEY_CHARS = 100
MAX_VALUE_CHARS = 2048
MAX_SID_IDS = 100

# Control keys (4.1): never signals. d_nsid and d_ptfm are controls *and* signals.
CONTROL_KEYS = frozenset(
    {
        "d_rtbd", "d_cb", "d_dst", "d_jsonv", "d_cts", "d_uuid", "d_cid", "d_cid_ic",
        "d_dpid", "d_dpuuid", "dpid", "dpuuid", "d_sid", "d_unsid", "d_tdpid", "d_tdpid_ic",
        "d_coppa", "d_mid", "d_orgid", "gdpr", "gdpr_consent", "d_event", "d_rd", "d_src",
        "d_site", "d_creative", "d_adgroup", "d_placement", "d_campaign", "d_bust", "redir",
        "gpp", "gpp_sid", "us_privacy",  # privacy-signals.md 1
    }
)
CONTROL_AND_SIGNAL_KEYS = frozenset({"d_nsid", "d_ptfm"})
REPEATABLE_CONTROLS = frozenset({"d_cid", "d_cid_ic"})
# Keys whose raw value is split on "," before decoding: signals and d_sid.
_SPLIT_CONTROLS = frozenset({"d_sid", "d_unsid"})

_SIGNAL_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_HAS_LETTER_RE = re.compile(r"[A-Za-z]")
_BAD_DECODED_PERCENT_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_BAD_ESCAPE_RE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_ENCODE_SAFE = "-_.!~*'(),"


class DecodeError(ValueError):
    """A pair breaks the percent-encoding or UTF-8 rules: error 311."""


CHILD_DIRECTED_VALUES = frozenset({"1", "true"})


class ParsedRequest:
    __slots__ = ("signals", "controls", "repeated_controls", "sid_values", "errors", "discard")

    def __init__(
        self,
        signals: dict[str, list[str]] | None = None,
        controls: dict[str, str] | None = None,
        repeated_controls: dict[str, list[str]] | None = None,
        sid_values: list[str] | None = None,
        errors: list[DcsError] | None = None,
        discard: bool = False,
    ) -> None:
        self.signals: dict[str, list[str]] = {} if signals is None else signals
        self.controls: dict[str, str] = {} if controls is None else controls
        self.repeated_controls: dict[str, list[str]] = (
            {} if repeated_controls is None else repeated_controls
        )
        self.sid_values: list[str] = [] if sid_values is None else sid_values
        self.errors: list[DcsError] = [] if errors is None else errors
        self.discard = discard

    def control(self, key: str, default: str | None = None) -> str | None:
        return self.controls.get(key, default)

    def child_directed(self) -> bool:
        """``d_coppa``: ``1`` (the protocol's value) or ``true`` (what Adobe's Visitor API
        sends), in any case, space around it ignored. Read the same on every route: a child's
        request must not be tracked because of a spelling (docs/decisions.md)."""
        value = self.controls.get("d_coppa")
        return value is not None and value.strip().lower() in CHILD_DIRECTED_VALUES


class _Pair(NamedTuple):
    key: str
    whole: str  # the decoded value, unsplit
    parts: tuple[str, ...]  # decoded pieces after splitting the raw value on ","


def is_signal_key(key: str) -> bool:
    return bool(_SIGNAL_KEY_RE.match(key)) and bool(_HAS_LETTER_RE.search(key))


def percent_decode(raw: bytes) -> str:
    """Form decoding with the spec's strictness: ``+`` is a space, every ``%`` needs two hex
    digits, the bytes must be UTF-8 without NUL."""
    # Checked, then decoded by the standard library (C-speed splits), not byte by byte in
    # Python: every key and value of every event goes through here (issue 17).
    if b"%" in raw:
        if _BAD_ESCAPE_RE.search(raw):
            raise DecodeError("bad escape")
        raw = unquote_to_bytes(raw.replace(b"+", b" "))
    elif b"+" in raw:
        raw = raw.replace(b"+", b" ")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("invalid UTF-8") from exc
    if "\x00" in text:
        raise DecodeError("NUL")
    return text


def _check_decoded(text: str, percent_ok: bool = False) -> str:
    if "\x00" in text or "\ufffd" in text:
        raise DecodeError("invalid decoded value")
    if not percent_ok and _BAD_DECODED_PERCENT_RE.search(text):
        raise DecodeError("invalid decoded value")
    return text


def _split_before_decode(key: str) -> bool:
    return key in _SPLIT_CONTROLS or (key not in CONTROL_KEYS and is_signal_key(key))


def pairs_from_body(body: bytes) -> list[_Pair]:
    pairs: list[_Pair] = []
    for chunk in body.split(b"&"):
        raw_key, sep, raw_value = chunk.partition(b"=")
        if not sep:
            continue
        key = percent_decode(raw_key)
        whole = percent_decode(raw_value)
        if not key:
            continue
        if _split_before_decode(key):
            parts = tuple(percent_decode(piece) for piece in raw_value.split(b","))
        else:
            parts = (whole,)
        pairs.append(_Pair(key, whole, parts))
    return pairs


def pairs_from_decoded(items: Iterable[tuple[str, str]]) -> list[_Pair]:
    pairs: list[_Pair] = []
    for key, value in items:
        key = _check_decoded(key)
        # A media click target keeps its macros (%d_creative%): literal "%" + letters.
        whole = _check_decoded(value, percent_ok=key == "d_rd")
        if not key:
            continue
        parts = tuple(whole.split(",")) if _split_before_decode(key) else (whole,)
        pairs.append(_Pair(key, whole, parts))
    return pairs


def encoded_length(items: Iterable[tuple[str, str]]) -> int:
    """Length of a decoded query once re-encoded: our measure of the GET size limit."""
    total = 0
    for index, (key, value) in enumerate(items):
        total += (1 if index else 0) + len(quote(key, safe=_ENCODE_SAFE)) + 1
        total += len(quote(value, safe=_ENCODE_SAFE))
    return total


def _strip_quotes(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def _shape_controls_only(pairs: Sequence[tuple[str, str]], parsed: ParsedRequest) -> None:
    """For a discarded request: keep d_rtbd and d_cb (if they decode) to shape the reply."""
    for key, value in pairs:
        if key in ("d_rtbd", "d_cb") and key not in parsed.controls:
            try:
                parsed.controls[key] = _check_decoded(value)
            except DecodeError:
                continue


def _shape_controls_from_body(body: bytes, parsed: ParsedRequest) -> None:
    for chunk in body.split(b"&"):
        raw_key, sep, raw_value = chunk.partition(b"=")
        if raw_key in (b"d_rtbd", b"d_cb") and sep:
            key = raw_key.decode("ascii")
            if key in parsed.controls:
                continue
            try:
                parsed.controls[key] = percent_decode(raw_value)
            except DecodeError:
                continue


def _add_pairs(pairs: Sequence[_Pair], parsed: ParsedRequest) -> None:
    limits_hit = False
    for pair in pairs:
        key = pair.key
        if key in CONTROL_KEYS or key in CONTROL_AND_SIGNAL_KEYS:
            if key in REPEATABLE_CONTROLS:
                parsed.repeated_controls.setdefault(key, []).append(pair.whole)
            elif key in _SPLIT_CONTROLS:
                if key == "d_sid":
                    parsed.sid_values.extend(p for p in pair.parts if p)
            elif key not in parsed.controls:
                parsed.controls[key] = pair.whole
            if key not in CONTROL_AND_SIGNAL_KEYS:
                continue
        if not is_signal_key(key):
            if len(key) > MAX_KEY_CHARS:
                limits_hit = True
            continue
        values = parsed.signals.get(key)
        if values is None:
            if len(parsed.signals) >= MAX_SIGNAL_KEYS:
                limits_hit = True
                continue
            values = []
        for part in pair.parts:
            value = _strip_quotes(part)
            if not value:
                continue
            if len(value) > MAX_VALUE_CHARS or len(values) >= MAX_VALUES_PER_KEY:
                limits_hit = True
                continue
            values.append(value)
        if values:
            parsed.signals[key] = values
    if len(parsed.sid_values) > MAX_SID_IDS:
        parsed.sid_values = parsed.sid_values[:MAX_SID_IDS]
        limits_hit = True
    if limits_hit:
        parsed.errors.append(error(904))


def parse_request(
    path: str,
    query: Mapping[str, Sequence[str]] | None,
    body: bytes | None = None,
) -> ParsedRequest:
    """Parse a GET (query only) or POST (query, then body) DCS request."""
    parsed = ParsedRequest()
    query_items = [(k, v) for k, values in (query or {}).items() for v in values]
    query_size = encoded_length(query_items)
    too_large = (
        len(path) + 1 + query_size > MAX_GET_BYTES
        if body is None
        else query_size > MAX_POST_QUERY_BYTES or len(body) > MAX_POST_BODY_BYTES
    )
    if too_large:
        parsed.discard = True
        parsed.errors.append(error(902))
        _shape_controls_only(query_items, parsed)
        if body is not None and len(body) <= MAX_POST_BODY_BYTES:
            _shape_controls_from_body(body, parsed)
        return parsed
    try:
        pairs = pairs_from_decoded(query_items)
        if body:
            pairs.extend(pairs_from_body(body))
    except DecodeError:
        parsed.discard = True
        parsed.errors.append(error(311))
        _shape_controls_only(query_items, parsed)
        if body:
            _shape_controls_from_body(body, parsed)
        return parsed
    _add_pairs(pairs, parsed)
    return parsed


def derived_country(headers: Mapping[str, str]) -> str | None:
    """The viewer country from CloudFront's header, ``GB`` spelled ``UK`` for AAM parity."""
    lower = {k.lower(): v for k, v in headers.items()}
    country = (lower.get("cloudfront-viewer-country") or "").upper()
    if not country:
        return None
    return "UK" if country == "GB" else country


def derive_header_signals(
    parsed: ParsedRequest, headers: Mapping[str, str], precise_geo: bool = True
) -> None:
    """Add h_ and geo d_ keys derived from headers; a caller-supplied value wins (section 3)."""
    lower = {k.lower(): v for k, v in headers.items()}
    derived: dict[str, str | None] = {
        "h_host": lower.get("host"),
        "h_user-agent": lower.get("user-agent"),
        "h_accept-language": lower.get("accept-language"),
        "h_referer": lower.get("referer"),
        "h_referrer": lower.get("referer"),
    }
    derived["d_country"] = derived_country(headers)
    derived["d_state"] = lower.get("cloudfront-viewer-country-region")
    derived["d_city"] = lower.get("cloudfront-viewer-city")
    derived["d_dma_code"] = lower.get("cloudfront-viewer-metro-code")
    if precise_geo:
        derived["d_postal_code"] = lower.get("cloudfront-viewer-postal-code")
        derived["d_lat"] = lower.get("cloudfront-viewer-latitude")
        derived["d_long"] = lower.get("cloudfront-viewer-longitude")
    if "h_referer" in parsed.signals:
        derived["h_referrer"] = None  # the caller's referer stands for both spellings
        parsed.signals.setdefault("h_referrer", list(parsed.signals["h_referer"]))
    for key, value in derived.items():
        if value and key not in parsed.signals:
            parsed.signals[key] = [value[:MAX_VALUE_CHARS]]
