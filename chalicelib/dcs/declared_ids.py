"""Declared IDs: ``d_cid``, ``d_cid_ic`` and the legacy ``d_dpid``/``d_dpuuid`` pair
(dcs-protocol.md 4.2), and the DPUUID rules shared with ``/ibs``. Pure.

The records are not dataclasses: import cost on a cold start (chalicelib/core/records.py)."""

# Annotations are evaluated (no ``from __future__ import annotations``): typing.NamedTuple
# then skips compiling a ForwardRef per field at import, a cold-start cost (issue 17).

import functools
import re
from typing import Any, Iterable, Mapping, NamedTuple, Sequence

from chalicelib.dcs.errors import DcsError, error
from chalicelib.dcs.numbers import ascii_int
from chalicelib.identity.values import DeclaredId

SEPARATOR = "\x01"
MAX_DECLARED = 10
MAX_PER_DPID = 3
MAX_DPUUID_BYTES = 255

# Built-in global device ID data sources: dpid -> required case ("lower", "upper", None = any).
GLOBAL_DEVICE_IDS: dict[int, str | None] = {
    20914: "lower",  # GAID
    20915: "upper",  # IDFA
    121963: "lower",  # RIDA
    389146: None,  # MAID
    963906: None,  # TIFA
    488258: "lower",  # Fire TV
    1171485: "lower",  # LGUDID
    1171489: None,  # Vizio
}
_DEVICE_ID_PATTERN = (
    r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
)
_FORBIDDEN_WORDS = frozenset({"null", "undefined", "none", "nan"})
# Unexpanded macros: ${...}, $NAME, %NAME%, [NAME], {{...}}.
_MACRO_PATTERN = (
    r"\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|%[A-Za-z_][A-Za-z0-9_]*%"
    r"|\[[A-Za-z_][A-Za-z0-9_]*\]|\{\{.*\}\}"
)
_CONTROL_PATTERN = r"[\x00-\x1f\x7f]"
# Compiled on the first declared ID, not at import: most events declare none, and a cold
# start's first event paid for the three (issue 17). Kept here, not in ``re``'s own cache,
# which a catalog of many regex rules can flush.
_compiled = functools.cache(re.compile)


class DataSourceInfo(NamedTuple):
    dpid: int
    id_type: str  # COOKIE | CROSS_DEVICE
    integration_code: str | None = None
    raw: Mapping[str, Any] | None = None


class DataSources:
    """Lookup of configured data sources (plus the built-in global device ID sources)."""

    def __init__(self, raw_datasources: Iterable[Mapping[str, Any]]) -> None:
        self.by_id: dict[int, DataSourceInfo] = {
            dpid: DataSourceInfo(dpid, "CROSS_DEVICE") for dpid in GLOBAL_DEVICE_IDS
        }
        self.by_code: dict[str, DataSourceInfo] = {}
        for obj in raw_datasources:
            try:
                info = DataSourceInfo(
                    dpid=int(obj["dataSourceId"]),
                    id_type=str(obj.get("idType", "COOKIE")),
                    integration_code=obj.get("integrationCode") or None,
                    raw=obj,
                )
            except (KeyError, TypeError, ValueError):
                continue
            self.by_id[info.dpid] = info
            if info.integration_code:
                self.by_code[info.integration_code] = info


def dpuuid_problem(value: str) -> str | None:
    """Why a DPUUID breaks the rules of 4.2, or None."""
    if not value or len(value.encode("utf-8")) > MAX_DPUUID_BYTES:
        return "length"
    if _compiled(_CONTROL_PATTERN).search(value) or ":" in value:
        return "character"
    if value.lower() in _FORBIDDEN_WORDS or _compiled(_MACRO_PATTERN).search(value):
        return "placeholder"
    return None


def device_id_problem(dpid: int, value: str) -> bool:
    """True when a global device ID value has the wrong format or case (312)."""
    if dpid not in GLOBAL_DEVICE_IDS:
        return False
    if not _compiled(_DEVICE_ID_PATTERN).match(value) or set(value.replace("-", "")) == {"0"}:
        return True
    case = GLOBAL_DEVICE_IDS[dpid]
    return (case == "lower" and value != value.lower()) or (
        case == "upper" and value != value.upper()
    )


class DeclaredIdsResult(NamedTuple):
    accepted: list[DeclaredId]
    errors: list[DcsError]
    sent: int


def _auth_state(raw: str | None) -> int:
    return int(raw) if raw in ("0", "1", "2") else 0


def parse_one(
    kind: str, value: str, sources: DataSources, require_cross_device: bool = True
) -> tuple[DeclaredId | None, DcsError | None]:
    """One ``d_cid`` (kind "cid") or ``d_cid_ic`` (kind "ic") value.

    Declared IDs need a ``CROSS_DEVICE`` data source (302); ``/ibs`` syncs do not."""
    parts = value.split(SEPARATOR)
    quoted = value.replace(SEPARATOR, "%01")
    if len(parts) < 2 or len(parts) > 3:
        return None, error(300, quoted)
    namespace, dpuuid = parts[0], parts[1]
    auth = _auth_state(parts[2] if len(parts) == 3 else None)
    if kind == "cid":
        dpid = ascii_int(namespace)
        if dpid is None:
            return None, error(300, quoted)
        info = sources.by_id.get(dpid)
    else:
        info = sources.by_code.get(namespace)
    if info is None or dpuuid_problem(dpuuid):
        return None, error(300, quoted)
    if device_id_problem(info.dpid, dpuuid):
        return None, error(312)
    if require_cross_device and info.id_type != "CROSS_DEVICE":
        return None, error(302, quoted)
    return DeclaredId(info.dpid, dpuuid, auth), None


def parse_declared_ids(
    cid_values: Sequence[str],
    cid_ic_values: Sequence[str],
    legacy: tuple[str | None, str | None],
    sources: DataSources,
) -> DeclaredIdsResult:
    """Entries in request order (d_cid, then d_cid_ic, then the legacy pair), with limits."""
    entries: list[tuple[str, str]] = [("cid", v) for v in cid_values]
    entries += [("ic", v) for v in cid_ic_values]
    errors: list[DcsError] = []
    legacy_dpid, legacy_dpuuid = legacy
    if legacy_dpid is not None and legacy_dpuuid is not None:
        entries.append(("cid", f"{legacy_dpid}{SEPARATOR}{legacy_dpuuid}"))
    elif legacy_dpid is not None or legacy_dpuuid is not None:
        errors.append(error(300, legacy_dpid or legacy_dpuuid or ""))
    accepted: list[DeclaredId] = []
    per_dpid: dict[int, int] = {}
    over_total = False
    for kind, value in entries:
        entry, problem = parse_one(kind, value, sources)
        if problem is not None:
            errors.append(problem)
            continue
        assert entry is not None
        if per_dpid.get(entry.dpid, 0) >= MAX_PER_DPID:
            errors.append(error(310, entry.dpuuid, str(entry.dpid)))
            continue
        if len(accepted) >= MAX_DECLARED:
            if not over_total:
                errors.append(error(301))
                over_total = True
            errors.append(error(309, entry.dpuuid))
            continue
        if entry.key in {a.key for a in accepted}:
            continue  # the same ID twice counts once
        per_dpid[entry.dpid] = per_dpid.get(entry.dpid, 0) + 1
        accepted.append(entry)
    if entries and not accepted:
        errors.append(error(104))
    return DeclaredIdsResult(accepted, errors, len(entries))
