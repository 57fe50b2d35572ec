"""The ``/v1/reports/*`` query parameters, checked (docs/insight.md, "API")."""

from __future__ import annotations

from typing import Mapping, NamedTuple

from chalicelib.admin.errors import ApiError, bad_request
from chalicelib.insight.days import MAX_WINDOW_DAYS
from chalicelib.insight.keys import KINDS, Kind

MAX_IDS = 100
MAX_SETS = 3
DEFAULT_WINDOWS = (1, 7, 30)
DEFAULT_TREND_DAYS = 30
DEFAULT_OVERLAP_WINDOW = 30
# Report kinds of /populations (data sources have their own report).
POPULATION_KINDS = ("trait", "segment")


class SetRef(NamedTuple):
    name: str  # a | b | c
    kind: Kind
    id: int


def _int(raw: str, field: str) -> int:
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise bad_request("invalid_value", f"{field}: {raw!r} is not an id", field)
    return int(text)


def kind(query: Mapping[str, str], allowed: tuple[str, ...] = POPULATION_KINDS) -> Kind:
    value = query.get("kind", "").strip()
    if value not in allowed:
        raise bad_request("invalid_value", f"kind must be one of {', '.join(allowed)}", "kind")
    return value  # type: ignore[return-value]


def ids(query: Mapping[str, str], required: bool = True) -> list[int]:
    raw = query.get("ids", "")
    parts = [p for p in raw.split(",") if p.strip()]
    if not parts:
        if required:
            raise bad_request("missing_value", "ids: one to 100 comma-separated ids", "ids")
        return []
    found = list(dict.fromkeys(_int(p, "ids") for p in parts))
    if len(found) > MAX_IDS:
        raise bad_request("out_of_range", f"ids: at most {MAX_IDS} a call", "ids")
    return found


def window(raw: str, field: str) -> int:
    """A window in days, 1 to 90; ``today`` is 1 (today so far)."""
    text = raw.strip().lower()
    if text == "today":
        return 1
    if not text.isascii() or not text.lstrip("-").isdigit():
        raise bad_request("invalid_value", f"{field}: {raw!r} is not a number of days", field)
    value = int(text)
    if not 1 <= value <= MAX_WINDOW_DAYS:
        raise bad_request("out_of_range", f"{field}: {value} is outside 1..{MAX_WINDOW_DAYS}",
                          field)
    return value


def windows(query: Mapping[str, str]) -> list[tuple[str, int]]:
    """``(label, days)`` pairs in the order asked; labels are the keys of the answer."""
    raw = query.get("windows")
    if raw is None or not raw.strip():
        return [(str(days), days) for days in DEFAULT_WINDOWS]
    found: dict[str, int] = {}
    for part in raw.split(","):
        if part.strip():
            found[part.strip().lower()] = window(part, "windows")
    return list(found.items())


def days(query: Mapping[str, str]) -> int:
    raw = query.get("days")
    return DEFAULT_TREND_DAYS if raw is None else window(raw, "days")


def one_id(query: Mapping[str, str]) -> int:
    raw = query.get("id")
    if raw is None:
        raise bad_request("missing_value", "id is required", "id")
    return _int(raw, "id")


def sets(query: Mapping[str, str]) -> list[SetRef]:
    """``a``, ``b`` and optionally ``c``: each ``kind:id``."""
    found: list[SetRef] = []
    for name in ("a", "b", "c")[:MAX_SETS]:
        raw = query.get(name)
        if raw is None:
            continue
        kind_text, _, id_text = raw.partition(":")
        if kind_text.strip() not in KINDS or not id_text:
            raise bad_request("invalid_value",
                              f"{name}: {raw!r} is not kind:id (kind: {', '.join(KINDS)})", name)
        found.append(SetRef(name, kind_text.strip(), _int(id_text, name)))  # type: ignore[arg-type]
    if [s.name for s in found] not in (["a", "b"], ["a", "b", "c"]):
        raise bad_request("missing_value", "overlap needs a and b, and optionally c", "a")
    return found


def unknown(kind_name: str, missing: list[int]) -> ApiError:
    """404 naming the ids the catalog does not hold."""
    error = ApiError(404, "not_found",
                     f"unknown {kind_name} ids: {', '.join(str(i) for i in missing)}")
    error.extra["ids"] = missing
    return error
