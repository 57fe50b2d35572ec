"""URL, S2S and ID-sync configuration compiled from the raw catalog, once per catalog version.

Pure: reads ``CompiledCatalog.raw`` (admin-API dicts: ``destination``, ``mapping``,
``datasource``) and returns immutable definitions. An object that does not compile is left out
and named in ``problems`` (the admin API refuses such objects at save time).

The records are not dataclasses: import cost on a cold start (chalicelib/core/records.py).
"""

# Annotations are evaluated (no ``from __future__ import annotations``): typing.NamedTuple
# then skips compiling a ForwardRef per field at import, a cold-start cost (issue 17).
import threading
from typing import Any, Mapping, NamedTuple, Sequence

from chalicelib.rules.catalog import CompiledCatalog

DEFAULT_SYNC_TTL_MINUTES = 10_080
Raw = Mapping[str, Sequence[Mapping[str, Any]]]


class DestMapping(NamedTuple):
    """One destination mapping (segment -> alias / url), live between its dates (epoch ms)."""

    mapping_id: int
    segment_sid: int
    alias: str = ""
    url: str = ""
    secure_url: str = ""
    start_ms: int | None = None
    end_ms: int | None = None

    def is_live(self, now: float) -> bool:
        now_ms = now * 1000
        return (self.start_ms is None or self.start_ms <= now_ms) and (
            self.end_ms is None or now_ms < self.end_ms
        )


class UrlDestination(NamedTuple):
    """``PUSH``: fired by the page's iframe (response ``dests``)."""

    destination_id: int
    serialized: bool
    url: str  # urlFormatString (serialized only)
    secure_url: str  # secureUrlFormatString (serialized only)
    delimiter: str
    tag: str  # img | iframe
    hide_referrer: bool
    mappings: tuple[DestMapping, ...]


class S2SDestination(NamedTuple):
    """``S2S``: real-time server-to-server messages through the S2S queue."""

    destination_id: int
    name: str
    url: str
    data_source_id: int  # the partner's data source: User_DPID / DataPartner_UUID
    auth: Mapping[str, Any] | None
    mappings: tuple[DestMapping, ...]

    def live_segments(self, segments: frozenset[int] | set[int], now: float) -> frozenset[int]:
        return frozenset(
            m.segment_sid for m in self.mappings if m.segment_sid in segments and m.is_live(now)
        )


class SyncPartner(NamedTuple):
    """A data source with a ``syncUrl`` (response ``ibs``)."""

    data_source_id: int
    url: str
    ttl_minutes: int
    tag: str  # img | iframe
    on_page: bool
    nsid: int
    iab_vendor_id: int | None


class DestinationCatalog:
    __slots__ = ("version", "url_destinations", "s2s_destinations", "sync_partners", "problems")

    def __init__(
        self,
        version: int,
        url_destinations: tuple[UrlDestination, ...] = (),
        s2s_destinations: Mapping[int, S2SDestination] | None = None,
        sync_partners: tuple[SyncPartner, ...] = (),
        problems: tuple[str, ...] = (),
    ) -> None:
        self.version = version
        self.url_destinations = url_destinations
        self.s2s_destinations: Mapping[int, S2SDestination] = (
            {} if s2s_destinations is None else s2s_destinations
        )
        self.sync_partners = sync_partners
        self.problems = problems


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


def _active(obj: Mapping[str, Any]) -> bool:
    return str(obj.get("status") or "active").lower() == "active"


def _tag(value: Any) -> str:
    tag = str(value or "img").lower()
    if tag not in ("img", "iframe"):
        raise ValueError(f"tag must be img or iframe, not {value!r}")
    return tag


def _mappings(destination_id: int, raw: Sequence[Mapping[str, Any]]) -> tuple[DestMapping, ...]:
    own = [m for m in raw if int(m["destinationId"]) == destination_id]
    own.sort(key=lambda m: int(m.get("mappingId", 0)))
    return tuple(
        DestMapping(
            mapping_id=int(m.get("mappingId", 0)),
            segment_sid=int(m["sid"]),
            alias=str(m.get("traitAlias") or ""),
            url=str(m.get("url") or ""),
            secure_url=str(m.get("secureUrl") or ""),
            start_ms=_int_or_none(m.get("startDate")),
            end_ms=_int_or_none(m.get("endDate")),
        )
        for m in own
    )


def _url_destination(obj: Mapping[str, Any], raw_mappings: Sequence[Mapping[str, Any]]) -> (
    UrlDestination
):
    destination_id = int(obj["destinationId"])
    serialized = bool(obj.get("serializationEnabled", False))
    delimiter = str(obj.get("delimiter") or ",")
    return UrlDestination(
        destination_id=destination_id,
        serialized=serialized,
        url=str(obj.get("urlFormatString") or ""),
        secure_url=str(obj.get("secureUrlFormatString") or ""),
        delimiter=delimiter,
        tag=_tag(obj.get("tagType")),
        hide_referrer=bool(obj.get("hideReferrer", False)),
        mappings=_mappings(destination_id, raw_mappings),
    )


def _s2s_destination(obj: Mapping[str, Any], raw_mappings: Sequence[Mapping[str, Any]]) -> (
    S2SDestination
):
    destination_id = int(obj["destinationId"])
    auth = obj.get("auth")
    if auth is not None and not isinstance(auth, Mapping):
        raise ValueError("auth must be an object")
    return S2SDestination(
        destination_id=destination_id,
        name=str(obj.get("name", "")),
        url=str(obj["url"]),
        data_source_id=int(obj["dataSourceId"]),
        auth=dict(auth) if auth else None,
        mappings=_mappings(destination_id, raw_mappings),
    )


def _sync_partner(obj: Mapping[str, Any]) -> SyncPartner:
    ttl = obj.get("syncTtl")
    return SyncPartner(
        data_source_id=int(obj["dataSourceId"]),
        url=str(obj["syncUrl"]),
        ttl_minutes=DEFAULT_SYNC_TTL_MINUTES if ttl in (None, "") else int(ttl),
        tag=_tag(obj.get("syncTag")),
        on_page=bool(int(obj.get("syncOnPage") or 0)),
        nsid=int(obj.get("syncNsid") or 0),
        iab_vendor_id=_int_or_none(obj.get("iabVendorId")),
    )


def compile_destinations(raw: Raw, version: int) -> DestinationCatalog:
    problems: list[str] = []
    mappings = raw.get("mapping", ())
    urls: list[UrlDestination] = []
    s2s: dict[int, S2SDestination] = {}
    for obj in raw.get("destination", ()):
        kind = obj.get("destinationType")
        if kind not in ("PUSH", "S2S") or not _active(obj):
            continue
        try:
            if kind == "PUSH":
                urls.append(_url_destination(obj, mappings))
            else:
                destination = _s2s_destination(obj, mappings)
                s2s[destination.destination_id] = destination
        except (KeyError, ValueError, TypeError) as exc:
            problems.append(f"destination {obj.get('destinationId')}: {exc}")
    partners: list[SyncPartner] = []
    for obj in raw.get("datasource", ()):
        if not obj.get("syncUrl"):
            continue
        try:
            partners.append(_sync_partner(obj))
        except (KeyError, ValueError, TypeError) as exc:
            problems.append(f"datasource {obj.get('dataSourceId')}: {exc}")
    return DestinationCatalog(
        version=version,
        url_destinations=tuple(sorted(urls, key=lambda d: d.destination_id)),
        s2s_destinations=s2s,
        sync_partners=tuple(sorted(partners, key=lambda p: p.data_source_id)),
        problems=tuple(problems),
    )


class _Cache:
    """The compiled form of the last catalog seen; a new catalog object means a new version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._source: CompiledCatalog | None = None
        self._compiled = compile_destinations({}, 0)

    def get(self, catalog: CompiledCatalog) -> DestinationCatalog:
        with self._lock:
            if self._source is catalog:
                return self._compiled
        compiled = compile_destinations(catalog.raw, catalog.version)
        with self._lock:
            self._source, self._compiled = catalog, compiled
        return compiled


_cache = _Cache()


def destinations_for(catalog: CompiledCatalog) -> DestinationCatalog:
    """The URL/S2S/sync configuration of ``catalog``, compiled once per catalog object."""
    return _cache.get(catalog)


def as_destination_catalog(source: CompiledCatalog | DestinationCatalog) -> DestinationCatalog:
    """Accept either the rules' compiled catalog or an already compiled destination catalog."""
    return source if isinstance(source, DestinationCatalog) else destinations_for(source)
