"""Cookie (ADS) destinations as the event path uses them, compiled from their catalog objects
and mappings (destinations.md). Pure; ``destinations/cookies.py`` renders them into ``stuff``.
"""

# Annotations are evaluated (no ``from __future__ import annotations``): typing.NamedTuple
# then skips compiling a ForwardRef per field at import, a cold-start cost (issue 17).
from typing import Any, Mapping, NamedTuple, Sequence


def _int_or_none(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


class CookieMapping(NamedTuple):
    segment_sid: int
    value: str
    start_ms: int | None
    end_ms: int | None

    def is_live(self, now: float) -> bool:
        now_ms = now * 1000
        return (self.start_ms is None or self.start_ms <= now_ms) and (
            self.end_ms is None or now_ms < self.end_ms
        )


class CookieDestination(NamedTuple):
    destination_id: int
    cookie_name: str
    format_type: str
    single_key: str
    key_separator: str
    value_separator: str
    serialization_enabled: bool
    serialization_separator: str
    max_size: int
    ttl_days: int
    domain: str
    mappings: tuple[CookieMapping, ...]


def compile_cookie_destination(
    obj: Mapping[str, Any], mappings: Sequence[Mapping[str, Any]]
) -> CookieDestination:
    destination_id = int(obj["destinationId"])
    own = [m for m in mappings if int(m["destinationId"]) == destination_id]
    own.sort(key=lambda m: int(m.get("mappingId", 0)))
    return CookieDestination(
        destination_id=destination_id,
        cookie_name=str(obj["cookieName"]),
        format_type=str(obj.get("formatType", "single_key")),
        single_key=str(obj.get("singleKey", "")),
        key_separator=str(obj.get("keySeparator", "=")),
        value_separator=str(obj.get("valueSeparator", ",")),
        serialization_enabled=bool(obj.get("serializationEnabled", True)),
        serialization_separator=str(obj.get("serializationSeparator", ",")),
        max_size=int(obj.get("maxSize", 2048)),
        ttl_days=max(1, int(obj.get("ttl", 30))),
        domain=str(obj.get("cnameDomain") or ""),
        mappings=tuple(
            CookieMapping(
                segment_sid=int(m["sid"]),
                value=str(m.get("valueString", "")),
                start_ms=_int_or_none(m.get("startDate")),
                end_ms=_int_or_none(m.get("endDate")),
            )
            for m in own
        ),
    )
