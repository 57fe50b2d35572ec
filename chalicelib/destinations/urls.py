"""URL destinations (``PUSH``) -> the response's ``dests`` items, and the URL macros (pure).

destinations.md: serialized destinations give one item per destination (``%ALIAS%`` = the
mapped segments' aliases joined by ``delimiter``); the others one item per live mapping, with
the mapping's own URL and the id ``<destinationId>-<segmentId>``.
"""

from __future__ import annotations

import re
import secrets
from typing import AbstractSet, Any, Callable, Mapping, Sequence
from urllib.parse import quote, urlsplit

from chalicelib.destinations.compiled import (
    DestinationCatalog,
    DestMapping,
    UrlDestination,
    as_destination_catalog,
)
from chalicelib.rules.catalog import CompiledCatalog

# encodeURIComponent leaves these unescaped.
_URI_COMPONENT_SAFE = "-_.!~*'()"
# %NAME% or ${NAME}; NAME is letters with optional _-separated parts (DPID_900, GDPR_CONSENT_7).
# A percent escape such as %2F never matches: its first character is a digit.
_MACRO = re.compile(r"%[A-Za-z]+(?:_[A-Za-z0-9]+)*%|\$\{[A-Za-z]+(?:_[A-Za-z0-9]+)*\}")
_DPID = re.compile(r"%DPID_(\d+)%")
_CONSENT = re.compile(r"\$\{GDPR_CONSENT_\d+\}")
_GPP_STRING = re.compile(r"\$\{GPP_STRING_\d+\}")

Lookup = Callable[[str], "str | None"]


def encode(value: str) -> str:
    """Percent-encode a macro value like JavaScript's encodeURIComponent."""
    return quote(value, safe=_URI_COMPONENT_SAFE)


def expand(template: str, lookup: Lookup) -> str:
    """Replace each macro for which ``lookup`` (given the upper-cased token, e.g. ``%DID%``
    or ``${GDPR}``) returns a value; others stay as written. Values must come encoded."""

    def replace(match: re.Match[str]) -> str:
        value = lookup(match.group(0).upper())
        return match.group(0) if value is None else value

    return _MACRO.sub(replace, template)


def consent_lookup(
    gdpr_flag: int, consent_string: str | None, gpp: str | None = None, gpp_sid: str = ""
) -> Lookup:
    """``${GDPR}`` and ``${GDPR_CONSENT_<vendor>}`` (dcs-protocol.md 7, "Forwarding"),
    ``${GPP_STRING_<n>}`` and ``${GPP_SID}`` (privacy-signals.md 5; empty when absent)."""
    consent = encode(consent_string) if gdpr_flag == 1 and consent_string else ""
    gpp_value = encode(gpp) if gpp else ""
    sid_value = encode(gpp_sid) if gpp else ""

    def lookup(token: str) -> str | None:
        if token == "${GDPR}":
            return "1" if gdpr_flag == 1 else "0"
        if _CONSENT.fullmatch(token):
            return consent
        if token == "${GPP_SID}":
            return sid_value
        if _GPP_STRING.fullmatch(token):
            return gpp_value
        return None

    return lookup


def page_protocol(signals: Mapping[str, Sequence[str]]) -> str:
    """``http`` or ``https``: the scheme of the page (``h_referer``), https when unknown."""
    for value in signals.get("h_referer", ()):
        scheme = urlsplit(value).scheme.lower()
        if scheme in ("http", "https"):
            return scheme
    return "https"


def default_rnd() -> str:
    return str(secrets.randbelow(10**10))


def url_destination_items(
    compiled: CompiledCatalog | DestinationCatalog,
    segments: AbstractSet[int],
    *,
    uuid: str,
    synced_ids: Mapping[int, str],
    gdpr_flag: int,
    consent_string: str | None,
    page_proto: str,
    now: float,
    rnd: Callable[[], str] = default_rnd,
    gpp: str | None = None,
    gpp_sid: str = "",
) -> list[dict[str, Any]]:
    """The ``dests`` items for a visitor in ``segments`` (after this event) at ``now``.

    ``synced_ids``: DPID -> the visitor's id there (``%dpid_<DPID>%``); ``gdpr_flag`` and
    ``consent_string`` as forwarded (section 7); ``page_proto`` fills ``%http_proto%``.
    """
    consent = consent_lookup(gdpr_flag, consent_string, gpp, gpp_sid)
    proto = page_proto if page_proto in ("http", "https") else "https"
    items: list[dict[str, Any]] = []
    for destination in as_destination_catalog(compiled).url_destinations:
        live = [m for m in destination.mappings if m.segment_sid in segments and m.is_live(now)]
        if not live:
            continue
        groups: list[tuple[str, list[DestMapping], str, str]]
        if destination.serialized:
            groups = [(str(destination.destination_id), live, destination.url,
                       destination.secure_url)]
        else:
            groups = [
                (f"{destination.destination_id}-{m.segment_sid}", [m],
                 m.url or destination.url, m.secure_url or destination.secure_url)
                for m in live
            ]
        for item_id, mappings, url, secure_url in groups:
            alias = destination.delimiter.join(encode(m.alias or str(m.segment_sid))
                                               for m in mappings)
            values = {
                "%ALIAS%": alias,
                "%DID%": encode(uuid),
                "%RND%": encode(rnd()),
                "%TIMESTAMP%": str(int(now)),
                "%HTTP_PROTO%": proto,
            }

            def lookup(token: str, values: dict[str, str] = values) -> str | None:
                if token in values:
                    return values[token]
                dpid = _DPID.fullmatch(token)
                if dpid:
                    return encode(synced_ids.get(int(dpid.group(1)), ""))
                return consent(token)

            item = _item(destination, item_id, expand(url, lookup), expand(secure_url, lookup))
            if item is not None:
                items.append(item)
    return items


def _item(destination: UrlDestination, item_id: str, url: str, secure_url: str) -> (
    dict[str, Any] | None
):
    if not url and not secure_url:
        return None
    item: dict[str, Any] = {"id": item_id, "y": destination.tag, "c": url or secure_url}
    if url and secure_url:
        item["e"] = secure_url
    if destination.hide_referrer:
        item["hr"] = 1
    return item
