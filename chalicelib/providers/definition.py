"""A real-time provider as the event path uses it, compiled from its catalog object
(provider-contract.md; admin-API field names), auth and ``maxQps`` included. Pure: the rules
catalog compiles these beside the traits and segments (rules/catalog.py), the fan-out and the
request builder use them.

A malformed ``auth`` object never results in an unsigned call: the extras carry the problem
and the fan-out fails the call (error ``auth_config``) without sending anything.
"""

# Annotations are evaluated (no ``from __future__ import annotations``): typing.NamedTuple
# then skips compiling a ForwardRef per field at import, a cold-start cost (issue 17).
from typing import Any, Mapping, NamedTuple

from chalicelib.providers.auth import AuthConfigError, AuthSpec, parse_auth


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


# Not a dataclass: import cost on a cold start (chalicelib/core/records.py).
class ProviderExtras(NamedTuple):
    auth: AuthSpec | None = None
    max_qps: int | None = None
    problem: str | None = None  # why the configuration cannot be used (no call is made)


NO_EXTRAS = ProviderExtras()


def extras_from_raw(obj: Mapping[str, Any]) -> ProviderExtras:
    problem = None
    auth = None
    try:
        auth = parse_auth(obj.get("auth"))
    except AuthConfigError as exc:
        problem = str(exc)
    raw_qps = obj.get("maxQps")
    max_qps = None
    if raw_qps is not None:
        if isinstance(raw_qps, bool) or not isinstance(raw_qps, (int, float)):
            problem = problem or "maxQps must be an integer or null"
        else:
            max_qps = int(raw_qps)
    return ProviderExtras(auth, max_qps, problem)


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
    extras: ProviderExtras = NO_EXTRAS  # auth and maxQps, checked when compiled


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
        extras=extras_from_raw(obj),
    )
