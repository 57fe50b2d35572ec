"""ID syncs -> the response's ``ibs`` items, and the sync cookie (pure).

dcs-protocol.md 4.5 and 8: a sync partner is a data source with a ``syncUrl``. It is offered
when its ``syncNsid`` equals the request's ``d_nsid``, it passes the consent gate, and it is
*due*: the sync cookie (``<dpid>-1-<unix ms>`` entries joined by ``|``) has no entry for its
DPID younger than ``syncTtl`` minutes. At most 10 per response, least recently synced first.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from chalicelib.destinations.compiled import (
    DestinationCatalog,
    SyncPartner,
    as_destination_catalog,
)
from chalicelib.destinations.urls import consent_lookup, encode, expand
from chalicelib.rules.catalog import CompiledCatalog

MAX_SYNCS_PER_RESPONSE = 10
SYNC_COOKIE_MAX_ENTRIES = 20
SYNC_COOKIE_DAYS = 180
OPT_OUT_VALUE = "NOTARGET"
_ENTRY = re.compile(r"^([0-9]{1,18})-1-([0-9]{1,15})$")


# Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
class SyncEntry(NamedTuple):
    dpid: int
    ms: int  # unix milliseconds of the last sync


def parse_sync_cookie(value: str | None) -> list[SyncEntry]:
    """Entries newest first, one per DPID (its newest); malformed parts are ignored."""
    newest: dict[int, int] = {}
    for part in (value or "").split("|"):
        match = _ENTRY.match(part.strip())
        if match:
            dpid, ms = int(match.group(1)), int(match.group(2))
            newest[dpid] = max(ms, newest.get(dpid, ms))
    entries = [SyncEntry(dpid, ms) for dpid, ms in newest.items()]
    entries.sort(key=lambda e: (-e.ms, e.dpid))
    return entries[:SYNC_COOKIE_MAX_ENTRIES]


def add_sync_entry(entries: Sequence[SyncEntry], dpid: int, now_ms: int) -> list[SyncEntry]:
    """``entries`` with ``dpid`` synced at ``now_ms``: newest first, one per DPID, at most 20."""
    kept = [e for e in entries if e.dpid != dpid]
    return [SyncEntry(dpid, now_ms), *kept][:SYNC_COOKIE_MAX_ENTRIES]


def format_sync_cookie(entries: Sequence[SyncEntry]) -> str:
    return "|".join(f"{e.dpid}-1-{e.ms}" for e in entries[:SYNC_COOKIE_MAX_ENTRIES])


def updated_sync_cookie(value: str | None, dpid: int, now: float) -> str:
    """The sync cookie after an honoured ``/ibs`` sync of ``dpid`` at ``now`` (epoch s)."""
    return format_sync_cookie(add_sync_entry(parse_sync_cookie(value), dpid, int(now * 1000)))


def sync_url(
    partner: SyncPartner,
    *,
    uuid: str,
    gdpr_flag: int,
    consent_string: str | None,
    page_proto: str,
    now: float,
    gpp: str | None = None,
    gpp_sid: str = "",
) -> str:
    consent = consent_lookup(gdpr_flag, consent_string, gpp, gpp_sid)
    values = {
        "${DD_UUID}": encode(uuid),
        "%DID%": encode(uuid),
        "%TIMESTAMP%": str(int(now)),
        "%HTTP_PROTO%": page_proto if page_proto in ("http", "https") else "https",
    }
    return expand(
        partner.url, lambda token: values[token] if token in values else consent(token)
    )


def sync_items(
    compiled: CompiledCatalog | DestinationCatalog,
    *,
    nsid: int,
    uuid: str,
    sync_cookie: str | None,
    vendor_allowed: Callable[[int | None], bool],
    gdpr_flag: int,
    consent_string: str | None,
    page_proto: str,
    now: float,
    synced_at: Mapping[int, float] | None = None,
    limit: int = MAX_SYNCS_PER_RESPONSE,
    gpp: str | None = None,
    gpp_sid: str = "",
) -> list[dict[str, Any]]:
    """The due ``ibs`` items.

    ``vendor_allowed(iabVendorId)`` is the partner consent gate (called with None when the data
    source has no ``iabVendorId``: with ``gdpr=1`` it must then say no). ``synced_at``: DPID ->
    when the visitor's id there was last linked (epoch s), if known; a younger link than the
    partner's TTL also makes the sync not due.
    """
    if sync_cookie == OPT_OUT_VALUE:
        return []
    last_ms = {e.dpid: e.ms for e in parse_sync_cookie(sync_cookie)}
    for dpid, seconds in (synced_at or {}).items():
        last_ms[dpid] = max(last_ms.get(dpid, 0), int(seconds * 1000))
    now_ms = int(now * 1000)
    due = [
        partner
        for partner in as_destination_catalog(compiled).sync_partners
        if partner.nsid == nsid
        and (partner.data_source_id not in last_ms
             or now_ms - last_ms[partner.data_source_id] >= partner.ttl_minutes * 60_000)
        and vendor_allowed(partner.iab_vendor_id)
    ]
    # Never-synced partners first, then the least recently synced: a partner that never
    # calls /ibs back cannot keep the others out of the 10 places forever.
    due.sort(key=lambda p: (last_ms.get(p.data_source_id, -1), p.data_source_id))
    return [
        {
            "id": str(partner.data_source_id),
            "ttl": partner.ttl_minutes,
            "tag": partner.tag,
            "fireURLSync": 1,
            "syncOnPage": 1 if partner.on_page else 0,
            "url": [sync_url(partner, uuid=uuid, gdpr_flag=gdpr_flag,
                             consent_string=consent_string, page_proto=page_proto, now=now,
                             gpp=gpp, gpp_sid=gpp_sid)],
        }
        for partner in due[:limit]
    ]
