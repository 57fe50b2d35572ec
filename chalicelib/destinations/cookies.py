"""Cookie destinations (``ADS``) -> the response's ``stuff`` items (destinations.md). Pure."""

from __future__ import annotations

from typing import AbstractSet, Any
from urllib.parse import quote

from chalicelib.destinations.cookie_defs import CookieDestination

# encodeURIComponent leaves these unescaped; maxSize bounds the encoded value.
_URI_COMPONENT_SAFE = "-_.!~*'()"


def encoded_size(value: str) -> int:
    return len(quote(value, safe=_URI_COMPONENT_SAFE))


def _fit(prefix: str, values: list[str], separator: str, max_size: int) -> str | None:
    """Join values behind prefix, dropping whole values from the end to fit max_size."""
    while values:
        candidate = prefix + separator.join(values)
        if encoded_size(candidate) <= max_size:
            return candidate
        values = values[:-1]
    return None


def cookie_value(
    destination: CookieDestination, segments: AbstractSet[int], now: float
) -> str | None:
    values = [
        m.value
        for m in destination.mappings
        if m.segment_sid in segments and m.is_live(now) and m.value
    ]
    if not values:
        return None
    if destination.format_type == "key_value":
        if not destination.serialization_enabled:
            values = values[:1]
        return _fit("", values, destination.serialization_separator, destination.max_size)
    prefix = destination.single_key + destination.key_separator
    return _fit(prefix, values, destination.value_separator, destination.max_size)


def stuff_items(
    destinations: tuple[CookieDestination, ...], segments: AbstractSet[int], now: float
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for destination in destinations:
        value = cookie_value(destination, segments, now)
        if value is not None:
            items.append(
                {
                    "cn": destination.cookie_name,
                    "cv": value,
                    "ttl": destination.ttl_days,
                    "dmn": destination.domain,
                }
            )
    return items
