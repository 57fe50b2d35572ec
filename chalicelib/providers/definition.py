"""A real-time provider as the event path uses it, compiled from its catalog object
(provider-contract.md; admin-API field names). Pure: the rules catalog compiles these beside
the traits and segments (rules/catalog.py), the fan-out and the request builder use them.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


class ProviderDef(NamedTuple):
    pid: int
    name: str
    data_source_id: int
    url: str
    status: str = "active"
    timeout_ms: int = 150
    id_mode: str = "synced"
    iab_vendor_id: int | None = None
    cache_ttl_seconds: int = 3600
    signals: tuple[str, ...] = ()
    segments_path: str | None = None


def compile_provider(obj: Mapping[str, Any]) -> ProviderDef:
    return ProviderDef(
        pid=int(obj["pid"]),
        name=str(obj.get("name", "")),
        data_source_id=int(obj["dataSourceId"]),
        url=str(obj["url"]),
        status=str(obj.get("status", "active")),
        timeout_ms=int(obj.get("timeoutMs", 150)),
        id_mode=str(obj.get("idMode", "synced")),
        iab_vendor_id=_int_or_none(obj.get("iabVendorId")),
        cache_ttl_seconds=int(obj.get("cacheTtlSeconds", 3600)),
        signals=tuple(obj.get("signals") or ()),
        segments_path=obj.get("segmentsPath"),
    )
